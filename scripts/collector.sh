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
#   OTELCOL_TIER [single]        single: one Collector does everything (what the tests start);
#                                agent: the same, but traces go on to the gateway (agent.yaml) at
#                                GATEWAY_OTLP_GRPC_PORT [4327]; gateway: tail sampling, then Jaeger
#                                (gateway.yaml + gateway-policies.yaml), pid and log in $RUN_DIR/gateway/.
#                                Start the gateway with scripts/gateway.sh, which gives it its own ports.
#   TRACES_FILE [unset]          opt-in debug aid: every span also goes to this file as OTLP JSON lines
#                                (single tier only: its overlay restates the single Collector's exporters)
#   START_TIMEOUT [30] seconds
# The Collector starts without the stores (or the gateway): its exporters queue and retry until they
# are up.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
configs_dir=$repo_root/collector/otelcol
tier=${OTELCOL_TIER:-single}
case $tier in
  single | agent) name=collector ;;
  gateway) name=gateway ;;
  *)
    echo "collector: OTELCOL_TIER must be single, agent or gateway, not '$tier'" >&2
    exit 2
    ;;
esac
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/$name
pidfile=$run_dir/otelcol.pid
logfile=$run_dir/otelcol.log
health_port=${OTELCOL_HEALTH_PORT:-13133}
health_url=http://127.0.0.1:$health_port/

# True if the pidfile names a live otelcol-llm (not some process that reused the pid).
running() { proc_is "$pidfile" otelcol-llm; }

# Fills `configs` with the tier's --config arguments, in the order they merge (base.yaml says how).
tier_configs() {
  local files=(base.yaml "${OTELCOL_OVERLAY:-local}.yaml") file
  case $tier in
    agent) files+=(agent.yaml) ;;
    gateway) files+=(gateway.yaml gateway-policies.yaml) ;;
  esac
  if [[ -n ${TRACES_FILE:-} ]]; then
    if [[ $tier != single ]]; then
      echo "$name: TRACES_FILE works with OTELCOL_TIER=single only (its overlay restates that tier's exporters)" >&2
      return 2
    fi
    files+=(traces-file.yaml)
  fi
  configs=()
  for file in "${files[@]}"; do configs+=(--config "$configs_dir/$file"); done
}

start() {
  if proc_if_running "$name" "$pidfile" running ", log: $logfile"; then return 0; fi
  local ports=("${OTLP_GRPC_PORT:-4317}" "${OTLP_HTTP_PORT:-4318}" "$health_port" "${OTELCOL_METRICS_PORT:-8888}")
  # The gateway has no pipeline into the Prometheus exporter, so it never opens that port.
  [[ $tier == gateway ]] || ports+=("${PROM_EXPORTER_PORT:-8889}")
  proc_port_free "$name" "${ports[@]}"
  local configs
  tier_configs || return
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
  export GATEWAY_OTLP_ENDPOINT=127.0.0.1:${GATEWAY_OTLP_GRPC_PORT:-4327}

  proc_start "$name" "$pidfile" "$logfile" "$health_url" "$binary" "${configs[@]}"
  case $tier in
    single) echo "collector: log $logfile, traces to Jaeger at $JAEGER_OTLP_ENDPOINT, logs to $VICTORIALOGS_OTLP_LOGS_ENDPOINT" ;;
    agent) echo "collector (agent): log $logfile, traces to the gateway at $GATEWAY_OTLP_ENDPOINT, logs to $VICTORIALOGS_OTLP_LOGS_ENDPOINT" ;;
    gateway) echo "gateway: log $logfile, keeps errors, traces over the P95 KPI and ${TAIL_SAMPLING_PERCENTAGE:-10} % of the rest, to Jaeger at $JAEGER_OTLP_ENDPOINT" ;;
  esac
  if [[ -n ${TRACES_FILE:-} ]]; then echo "collector: every span also in $TRACES_FILE"; fi
}

# The Collector drains its pipelines on SIGTERM (the gateway decides the traces it holds first);
# proc_stop gives it a bounded time, then forces.
stop() { proc_stop "$name" "$pidfile" running; }

status() { proc_status "$name" "$pidfile" running "$logfile" "$health_url" "$health_url" healthy unhealthy; }

proc_main "$@"
