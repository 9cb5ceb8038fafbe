#!/usr/bin/env bash
# Run the project's OpenTelemetry Collector (otelcol-llm) as a local background process.
# There is no Docker here, so this is the real Collector, built by scripts/build-collector.sh.
#
#   scripts/collector.sh start|stop|status
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   pid and log go to $RUN_DIR/collector/
#   OTLP_GRPC_PORT [4317] OTLP_HTTP_PORT [4318] OTELCOL_HEALTH_PORT [13133]
#   OTELCOL_METRICS_PORT [8888] (Collector's own metrics) PROM_EXPORTER_PORT [8889] (app metrics)
#   JAEGER_OTLP_GRPC_PORT [14317] (traces go to Jaeger, scripts/jaeger.sh)
#   VICTORIALOGS_PORT [9428]     (logs go to VictoriaLogs, scripts/victorialogs.sh)
#   OTELCOL_QUEUE_DIR [$RUN_DIR/collector/queue]  the exporters' persistent queues (local overlay)
#   OTELCOL_OVERLAY [local]      which collector/otelcol/<overlay>.yaml is merged over base.yaml
#   TRACES_FILE [unset]          opt-in debug aid: every span also goes to this file as OTLP JSON lines
#   START_TIMEOUT [30] seconds
# The Collector starts without the stores: its exporters queue and retry until they are up.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/collector
pidfile=$run_dir/otelcol.pid
logfile=$run_dir/otelcol.log
health_port=${OTELCOL_HEALTH_PORT:-13133}
health_url=http://127.0.0.1:$health_port/

# True if the pidfile names a live otelcol-llm (not some process that reused the pid).
running() { proc_is "$pidfile" otelcol-llm; }

start() {
  if proc_if_running collector "$pidfile" running ", log: $logfile"; then return 0; fi
  proc_port_free collector "${OTLP_GRPC_PORT:-4317}" "${OTLP_HTTP_PORT:-4318}" "$health_port" \
    "${OTELCOL_METRICS_PORT:-8888}" "${PROM_EXPORTER_PORT:-8889}"
  local binary
  binary=$("$repo_root/scripts/build-collector.sh" | tail -n 1)

  # The configs read these (see collector/otelcol/base.yaml); ports become loopback addresses.
  export OTLP_GRPC_ENDPOINT=127.0.0.1:${OTLP_GRPC_PORT:-4317}
  export OTLP_HTTP_ENDPOINT=127.0.0.1:${OTLP_HTTP_PORT:-4318}
  export HEALTH_CHECK_ENDPOINT=127.0.0.1:$health_port
  export PROM_EXPORTER_ENDPOINT=127.0.0.1:${PROM_EXPORTER_PORT:-8889}
  export OTELCOL_METRICS_HOST=127.0.0.1
  export OTELCOL_METRICS_PORT=${OTELCOL_METRICS_PORT:-8888}
  export JAEGER_OTLP_ENDPOINT=127.0.0.1:${JAEGER_OTLP_GRPC_PORT:-14317}
  export VICTORIALOGS_OTLP_LOGS_ENDPOINT=http://127.0.0.1:${VICTORIALOGS_PORT:-9428}/insert/opentelemetry/v1/logs
  export OTELCOL_QUEUE_DIR=${OTELCOL_QUEUE_DIR:-$run_dir/queue}
  local configs=(--config "$repo_root/collector/otelcol/base.yaml"
    --config "$repo_root/collector/otelcol/${OTELCOL_OVERLAY:-local}.yaml")
  if [[ -n ${TRACES_FILE:-} ]]; then
    configs+=(--config "$repo_root/collector/otelcol/traces-file.yaml")
  fi

  proc_start collector "$pidfile" "$logfile" "$health_url" "$binary" "${configs[@]}"
  echo "collector: log $logfile, traces to Jaeger at $JAEGER_OTLP_ENDPOINT, logs to $VICTORIALOGS_OTLP_LOGS_ENDPOINT"
  if [[ -n ${TRACES_FILE:-} ]]; then echo "collector: every span also in $TRACES_FILE"; fi
}

# The Collector drains its pipelines on SIGTERM; proc_stop gives it a bounded time, then forces.
stop() { proc_stop collector "$pidfile" running; }

status() { proc_status collector "$pidfile" running "$logfile" "$health_url" "$health_url" healthy unhealthy; }

proc_main "$@"
