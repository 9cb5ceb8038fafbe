#!/usr/bin/env bash
# The whole local stack as real processes (no Docker here): Redis, the project's OpenTelemetry
# Collectors (an agent and a tail-sampling gateway, see below), Jaeger (traces), VictoriaLogs (logs), Prometheus (KPI rules, Alertmanager as its target),
# Alertmanager, Pushgateway and the service, wired as docker-compose.yml wires the containers (with
# Jaeger and VictoriaLogs where compose has Tempo). `make stack` / `make stack-down`.
#
#   scripts/stack.sh up [--demo] | down | status
#
# up      starts what is not running yet (idempotent), then prints the URLs and where each log is.
#         The Streamlit frontend (:8501) starts too unless FRONTEND=0.
#         --demo (or DEMO_TRAFFIC=1): a bounded background loop of curl requests (all operations,
#         repeated texts for cache hits, a few 4xx) so the dashboards and rules have data.
# down    stops everything `up` started (using the ports `up` recorded), in reverse order.
# status  one line per component; exit 3 when something is not running.
#
# Collectors: COLLECTOR_TIERS [2]. 2: the service talks to an agent Collector (scripts/collector.sh,
# OTELCOL_TIER=agent: span metrics from every span, metrics to Prometheus, logs to VictoriaLogs), which
# sends traces to a gateway Collector (scripts/gateway.sh) that keeps every error trace, every trace
# slower than the P95 KPI and TAIL_SAMPLING_PERCENTAGE [10] percent of the rest, for Jaeger.
# 1: one Collector sends every trace to Jaeger (what most pipeline tests start). docs/SCALING.md.
#
# Env overrides (defaults in brackets): RUN_DIR [/tmp/llm-obs-run]; ports REDIS_PORT [6379],
# OTLP_GRPC_PORT [4317], OTLP_HTTP_PORT [4318], OTELCOL_HEALTH_PORT [13133], OTELCOL_METRICS_PORT [8888],
# PROM_EXPORTER_PORT [8889], PROMETHEUS_PORT [9090], ALERTMANAGER_PORT [9093], PUSHGATEWAY_PORT [9091],
# JAEGER_QUERY_PORT [16686], JAEGER_QUERY_GRPC_PORT [16685], JAEGER_OTLP_GRPC_PORT [14317],
# JAEGER_OTLP_HTTP_PORT [14318], JAEGER_HEALTH_PORT [13134], JAEGER_METRICS_PORT [14269],
# VICTORIALOGS_PORT [9428], SERVICE_PORT [8000], GATEWAY_OTLP_GRPC_PORT [4327], GATEWAY_OTLP_HTTP_PORT [4328],
# GATEWAY_HEALTH_PORT [13143], GATEWAY_METRICS_PORT [8898]; TAIL_SAMPLING_DECISION_WAIT [10s] (the
# other TAIL_SAMPLING_* in scripts/gateway.sh); DEMO_REQUESTS [600], DEMO_INTERVAL [0.5] seconds;
# START_TIMEOUT [30] seconds; JAEGER_MAX_TRACES [10000], VICTORIALOGS_RETENTION [7d].
# Anything else in the environment (LLM_PROVIDER, API_KEY, RESILIENCE_PRESET, ...) reaches the service.
#
# Grafana cannot run here (no packages, no Docker): every panel query runs as-is in the Prometheus UI,
# traces are read from Jaeger's query API, logs with LogsQL; for Tempo + Grafana use
# `docker compose up -d` (docker-compose.yml) on a machine with Docker.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scripts=$repo_root/scripts
export RUN_DIR=${RUN_DIR:-/tmp/llm-obs-run}
state=$RUN_DIR/stack.env # the ports `up` used, so `down`/`status` act on the same processes
service_dir=$RUN_DIR/service
service_pid=$service_dir/service.pid
service_log=$service_dir/service.log
demo_pid=$service_dir/demo.pid
demo_log=$service_dir/demo.log
venv_python=$repo_root/.venv/bin/python

log() { echo "stack: $*"; }

load_ports() {
  # Recorded ports win over defaults, explicit env wins over both (only on `up`).
  if [[ ${1:-} == recorded && -f $state ]]; then
    # shellcheck source=/dev/null
    source "$state"
  fi
  export REDIS_PORT=${REDIS_PORT:-6379}
  export OTLP_GRPC_PORT=${OTLP_GRPC_PORT:-4317} OTLP_HTTP_PORT=${OTLP_HTTP_PORT:-4318}
  export OTELCOL_HEALTH_PORT=${OTELCOL_HEALTH_PORT:-13133} OTELCOL_METRICS_PORT=${OTELCOL_METRICS_PORT:-8888}
  export PROM_EXPORTER_PORT=${PROM_EXPORTER_PORT:-8889} PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
  export ALERTMANAGER_PORT=${ALERTMANAGER_PORT:-9093} PUSHGATEWAY_PORT=${PUSHGATEWAY_PORT:-9091}
  export JAEGER_QUERY_PORT=${JAEGER_QUERY_PORT:-16686} JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}
  export JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-14317} JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-14318}
  export JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-13134} JAEGER_METRICS_PORT=${JAEGER_METRICS_PORT:-14269}
  export VICTORIALOGS_PORT=${VICTORIALOGS_PORT:-9428}
  export SERVICE_PORT=${SERVICE_PORT:-8000} FRONTEND_PORT=${FRONTEND_PORT:-8501}
  export GATEWAY_OTLP_GRPC_PORT=${GATEWAY_OTLP_GRPC_PORT:-4327} GATEWAY_OTLP_HTTP_PORT=${GATEWAY_OTLP_HTTP_PORT:-4328}
  export GATEWAY_HEALTH_PORT=${GATEWAY_HEALTH_PORT:-13143} GATEWAY_METRICS_PORT=${GATEWAY_METRICS_PORT:-8898}
  export COLLECTOR_TIERS=${COLLECTOR_TIERS:-2}
  case $COLLECTOR_TIERS in
    1) export OTELCOL_TIER=single ;;
    2) export OTELCOL_TIER=agent ;;
    *) echo "stack: COLLECTOR_TIERS must be 1 or 2, not '$COLLECTOR_TIERS'" >&2 && exit 2 ;;
  esac
  service_url=http://127.0.0.1:$SERVICE_PORT
}

save_ports() {
  mkdir -p "$RUN_DIR"
  local name
  for name in REDIS_PORT OTLP_GRPC_PORT OTLP_HTTP_PORT OTELCOL_HEALTH_PORT OTELCOL_METRICS_PORT \
    PROM_EXPORTER_PORT PROMETHEUS_PORT ALERTMANAGER_PORT PUSHGATEWAY_PORT SERVICE_PORT FRONTEND_PORT \
    JAEGER_QUERY_PORT JAEGER_QUERY_GRPC_PORT JAEGER_OTLP_GRPC_PORT JAEGER_OTLP_HTTP_PORT JAEGER_HEALTH_PORT \
    JAEGER_METRICS_PORT VICTORIALOGS_PORT GATEWAY_OTLP_GRPC_PORT GATEWAY_OTLP_HTTP_PORT GATEWAY_HEALTH_PORT \
    GATEWAY_METRICS_PORT COLLECTOR_TIERS; do
    echo "$name=${!name}"
  done >"$state"
}

# The venv as the Makefile builds it (`make install`: python3 -m venv .venv + pip install -e '.[dev]').
# A venv that already imports the service's dependencies is used as it is, stamp or not, so `up`
# never reinstalls packages under other sessions' feet.
ensure_venv() {
  if [[ -x $venv_python ]] && "$venv_python" -c 'import fastapi, uvicorn, redis, opentelemetry.sdk' 2>/dev/null; then
    return 0
  fi
  log "creating the venv (make install)"
  make -C "$repo_root" --no-print-directory install
}

# True if the pidfile names our `python -m app` (not a process that reused the pid).
service_running() { proc_cmdline_has "$service_pid" '-m app'; }

demo_running() { proc_alive "$demo_pid"; }

start_service() {
  if service_running; then
    log "service already running (pid $(<"$service_pid")) at $service_url"
    return 0
  fi
  mkdir -p "$service_dir"
  # What docker-compose.yml gives the backend container, with loopback addresses. The caller's
  # environment comes first so LLM_PROVIDER, API_KEY, ... pass through; these always win.
  HOST=127.0.0.1 PORT=$SERVICE_PORT \
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_HTTP_PORT \
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
    METRICS_EXPORT_INTERVAL=${METRICS_EXPORT_INTERVAL:-15} \
    ENABLE_EXTERNAL_MONITORING=true \
    PROMETHEUS_GATEWAY_URL=http://127.0.0.1:$PUSHGATEWAY_PORT \
    PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT \
    proc_launch "$service_pid" "$service_log" "$venv_python" -m app
  proc_await "stack: the service did not answer $service_url/health" "$service_log" service_running \
    stop_service "${START_TIMEOUT:-30}" proc_http_ok "$service_url/health"
  log "service: healthy (pid $(<"$service_pid")) at $service_url, log $service_log"
}

stop_service() { proc_stop "stack: service" "$service_pid" service_running; }

# Bounded demo traffic: DEMO_REQUESTS requests, DEMO_INTERVAL apart, then the loop ends by itself.
# Four texts x five operations, cycled, so the first round misses the cache and later rounds hit;
# every 11th is a batch of two, every 25th is invalid (422), every 40th an unknown route (404).
demo_loop() {
  local url=$1 n=$2 interval=$3 i op text body
  local ops=(summarize sentiment key_points questions qa)
  local texts=(
    "OpenTelemetry gives every request a trace. Grafana shows it next to the metrics."
    "The cache keeps answers in Redis and in memory. Repeated questions are served fast."
    "Circuit breakers open when the provider fails too often, and close again after recovery."
    "Prometheus evaluates the KPI rules and Alertmanager routes what fires to the service."
  )
  for ((i = 0; i < n; i++)); do
    op=${ops[i % 5]}
    text=${texts[(i / 5) % 4]}
    if ((i % 25 == 24)); then
      body='{"text": "too short", "operation": "summarize"}'
    elif [[ $op == qa ]]; then
      body="{\"text\": \"$text\", \"operation\": \"qa\", \"question\": \"What does it do?\"}"
    else
      body="{\"text\": \"$text\", \"operation\": \"$op\"}"
    fi
    if ((i % 40 == 39)); then
      curl -s -o /dev/null -w '%{http_code} GET /v1/text_processing/unknown\n' "$url/v1/text_processing/unknown" || true
    elif ((i % 11 == 10)); then
      curl -s -o /dev/null -w "%{http_code} POST batch_process\n" -X POST "$url/v1/text_processing/batch_process" \
        -H 'Content-Type: application/json' -d "{\"requests\": [$body, $body]}" || true
    else
      curl -s -o /dev/null -w "%{http_code} POST process $op\n" -X POST "$url/v1/text_processing/process" \
        -H 'Content-Type: application/json' -d "$body" || true
    fi
    sleep "$interval"
  done
  echo "demo traffic: done ($n requests)"
}

start_demo() {
  if demo_running; then
    log "demo traffic already running (pid $(<"$demo_pid")), log $demo_log"
    return 0
  fi
  local n=${DEMO_REQUESTS:-600} interval=${DEMO_INTERVAL:-0.5}
  mkdir -p "$service_dir"
  demo_loop "$service_url" "$n" "$interval" >"$demo_log" 2>&1 </dev/null &
  echo $! >"$demo_pid"
  log "demo traffic: $n requests, one every ${interval}s (pid $(<"$demo_pid")), log $demo_log"
}

gateway_summary() {
  if [[ $COLLECTOR_TIERS == 1 ]]; then
    echo "  (one Collector tier, COLLECTOR_TIERS=1: every trace goes to Jaeger)"
    return
  fi
  cat <<EOF
  gateway        the agent's traces at 127.0.0.1:$GATEWAY_OTLP_GRPC_PORT: keeps errors, traces over the P95 KPI and
                 ${TAIL_SAMPLING_PERCENTAGE:-10} % of the rest (decides ${TAIL_SAMPLING_DECISION_WAIT:-10s} after a trace's first span)
                 health http://127.0.0.1:$GATEWAY_HEALTH_PORT/, own metrics http://127.0.0.1:$GATEWAY_METRICS_PORT/metrics
                 log $RUN_DIR/gateway/otelcol.log
EOF
}

summary() {
  cat <<EOF

The stack is up (RUN_DIR=$RUN_DIR):
  service        $service_url  (docs $service_url/docs, runbook $service_url/internal/monitoring/overview)
                 log $service_log
  Collector      OTLP grpc 127.0.0.1:$OTLP_GRPC_PORT, http http://127.0.0.1:$OTLP_HTTP_PORT,
                 health http://127.0.0.1:$OTELCOL_HEALTH_PORT/, app metrics http://127.0.0.1:$PROM_EXPORTER_PORT/metrics,
                 own metrics http://127.0.0.1:$OTELCOL_METRICS_PORT/metrics
                 log $RUN_DIR/collector/otelcol.log
$(gateway_summary)
  Jaeger         query API http://127.0.0.1:$JAEGER_QUERY_PORT/api/services, /api/traces/<trace id>
                 (keeps the newest ${JAEGER_MAX_TRACES:-10000} traces, in memory)  log $RUN_DIR/jaeger/jaeger.log
  VictoriaLogs   http://127.0.0.1:$VICTORIALOGS_PORT/select/logsql/query?query=trace_id:<trace id>
                 (keeps ${VICTORIALOGS_RETENTION:-7d})  log $RUN_DIR/victorialogs/victoria-logs.log
  Prometheus     http://127.0.0.1:$PROMETHEUS_PORT/  (alerts: /alerts, rules: /rules)  log $RUN_DIR/prometheus/prometheus.log
  Alertmanager   http://127.0.0.1:$ALERTMANAGER_PORT/  log $RUN_DIR/alertmanager/alertmanager.log
  Pushgateway    http://127.0.0.1:$PUSHGATEWAY_PORT/  log $RUN_DIR/pushgateway/pushgateway.log
  Redis          redis://127.0.0.1:$REDIS_PORT/0  log $RUN_DIR/redis-$REDIS_PORT/redis.log
  frontend       $( [[ ${FRONTEND:-1} == 1 ]] && echo "http://127.0.0.1:$FRONTEND_PORT/  log $RUN_DIR/frontend/streamlit.log" || echo "not started (FRONTEND=0)")

Not here: Grafana cannot run on this machine (no packages, no Docker engine): every panel query runs
as-is in the Prometheus UI; Jaeger's UI in its Go module is a placeholder page, so read traces with the
API calls above. For Tempo + Grafana: \`docker compose up -d\` (docker-compose.yml).
Stop everything: make stack-down (scripts/stack.sh down)
EOF
}

up() {
  local demo=${DEMO_TRAFFIC:-0}
  [[ ${1:-} == --demo ]] && demo=1
  # A stack that is already up keeps the ports it was started with.
  if [[ -f $state ]] && service_running; then load_ports recorded; else load_ports; fi
  save_ports
  ensure_venv
  "$scripts/redis.sh" start
  # The stores before the Collector, so its first exports find them.
  "$scripts/jaeger.sh" start
  "$scripts/victorialogs.sh" start
  # The gateway before the agent, so the agent's first exports find it.
  if [[ $COLLECTOR_TIERS == 2 ]]; then "$scripts/gateway.sh" start; fi
  "$scripts/collector.sh" start
  # Alertmanager delivers to the service's alert receiver (on the port this stack gives the service).
  SERVICE_ALERT_WEBHOOK=${SERVICE_ALERT_WEBHOOK:-$service_url/internal/monitoring/alerts/webhook} \
    "$scripts/alertmanager.sh" start
  "$scripts/pushgateway.sh" start
  "$scripts/prometheus.sh" start
  start_service
  # The Streamlit frontend (its own venv, made on first start): FRONTEND=0 leaves it out.
  if [[ ${FRONTEND:-1} == 1 ]]; then
    BACKEND_URL=$service_url OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_HTTP_PORT \
      "$scripts/frontend.sh" start
  fi
  [[ $demo == 1 ]] && start_demo
  summary
}

down() {
  load_ports recorded
  # Reverse order: traffic, service (its last push and export reach a running pipeline), then the rest.
  proc_stop "stack: demo traffic" "$demo_pid" demo_running
  "$scripts/frontend.sh" stop
  stop_service
  "$scripts/prometheus.sh" stop
  "$scripts/pushgateway.sh" stop
  "$scripts/alertmanager.sh" stop
  "$scripts/collector.sh" stop # drains its queues into the gateway and the stores, so those stop after it
  "$scripts/gateway.sh" stop   # decides what it holds and sends it to Jaeger first ("not running" if 1 tier)
  "$scripts/jaeger.sh" stop
  "$scripts/victorialogs.sh" stop
  "$scripts/redis.sh" stop
  rm -f "$state"
}

status() {
  load_ports recorded
  local rc=0
  if service_running; then
    log "service: running (pid $(<"$service_pid")) at $service_url, log $service_log"
  else
    log "service: not running"
    rc=3
  fi
  if demo_running; then log "demo traffic: running (pid $(<"$demo_pid")), log $demo_log"; fi
  local s
  for s in collector jaeger victorialogs prometheus alertmanager pushgateway; do
    "$scripts/$s.sh" status || rc=3
  done
  if [[ $COLLECTOR_TIERS == 2 ]]; then "$scripts/gateway.sh" status || rc=3; fi
  echo -n "redis: " && { "$scripts/redis.sh" status || rc=3; }
  "$scripts/frontend.sh" status || [[ ${FRONTEND:-1} == 0 ]] || rc=3
  return $rc
}

case ${1:-} in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up [--demo] | down | status" >&2
    exit 2
    ;;
esac
