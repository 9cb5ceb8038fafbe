#!/usr/bin/env bash
# Run Jaeger v2 (the trace store) as a local background process: built from the Go module proxy by
# scripts/build-go-tool.sh, configured by collector/jaeger/jaeger.yaml (in-memory storage, bounded by
# JAEGER_MAX_TRACES). Our Collector exports every span to it over OTLP.
#
#   scripts/jaeger.sh start|stop|status
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   pid and log go to $RUN_DIR/jaeger/
#   JAEGER_QUERY_PORT [16686] (query API: /api/traces/{id}, /api/services)  JAEGER_QUERY_GRPC_PORT [16685]
#   JAEGER_OTLP_GRPC_PORT [14317] JAEGER_OTLP_HTTP_PORT [14318] (not 4317/4318: our Collector has those)
#   JAEGER_HEALTH_PORT [13134] JAEGER_METRICS_PORT [14269] (its own metrics; 8888 is the Collector's)
#   JAEGER_MAX_TRACES [10000]    START_TIMEOUT [30] seconds
#   PROMETHEUS_PORT [9090] (the Monitor API reads the span metrics there)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/jaeger
pidfile=$run_dir/jaeger.pid
logfile=$run_dir/jaeger.log
export JAEGER_QUERY_PORT=${JAEGER_QUERY_PORT:-16686} JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}
export JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-14317} JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-14318}
export JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-13134} JAEGER_METRICS_PORT=${JAEGER_METRICS_PORT:-14269}
export JAEGER_PROMETHEUS_URL=http://127.0.0.1:${PROMETHEUS_PORT:-9090}
query_url=http://127.0.0.1:$JAEGER_QUERY_PORT
# healthcheckv2: 200 once every component is up (503 while starting).
health_url=http://127.0.0.1:$JAEGER_HEALTH_PORT/status

running() { proc_is "$pidfile" jaeger; }

start() {
  if proc_if_running jaeger "$pidfile" running ", query API $query_url"; then return 0; fi
  proc_port_wait_free jaeger 10 "$JAEGER_QUERY_PORT" "$JAEGER_QUERY_GRPC_PORT" "$JAEGER_OTLP_GRPC_PORT" \
    "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_HEALTH_PORT" "$JAEGER_METRICS_PORT"
  local binary
  binary=$("$repo_root/scripts/build-go-tool.sh" jaeger | tail -n 1)
  proc_start jaeger "$pidfile" "$logfile" "$health_url" "$binary" --config "$repo_root/collector/jaeger/jaeger.yaml"
  echo "jaeger: query API $query_url, OTLP grpc 127.0.0.1:$JAEGER_OTLP_GRPC_PORT http 127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
  echo "jaeger: log $logfile"
}

stop() { proc_stop jaeger "$pidfile" running; }

status() { proc_status jaeger "$pidfile" running "$logfile" "$query_url" "$health_url" healthy unhealthy; }

proc_main "$@"
