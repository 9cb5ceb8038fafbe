#!/usr/bin/env bash
# Run the project's OpenTelemetry Collector (otelcol-llm) as a local background process.
# There is no Docker here, so this is the real Collector, built by scripts/build-collector.sh.
#
#   scripts/collector.sh start|stop|status
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   pid, log and traces file go to $RUN_DIR/collector/
#   OTLP_GRPC_PORT [4317] OTLP_HTTP_PORT [4318] OTELCOL_HEALTH_PORT [13133]
#   OTELCOL_METRICS_PORT [8888] (Collector's own metrics) PROM_EXPORTER_PORT [8889] (app metrics)
#   OTELCOL_OVERLAY [local]      which collector/otelcol/<overlay>.yaml is merged over base.yaml
#   TRACES_FILE [$RUN_DIR/collector/traces.json]  START_TIMEOUT [30] seconds
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/collector
pidfile=$run_dir/otelcol.pid
logfile=$run_dir/otelcol.log
health_port=${OTELCOL_HEALTH_PORT:-13133}
health_url=http://127.0.0.1:$health_port/

# True if the pidfile names a live otelcol-llm (not some process that reused the pid).
running() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(<"$pidfile")
  [[ $(ps -p "$pid" -o comm= 2>/dev/null) == otelcol-llm ]]
}

start() {
  if running; then
    echo "collector: already running (pid $(<"$pidfile")), log: $logfile"
    return 0
  fi
  local binary
  binary=$("$repo_root/scripts/build-collector.sh" | tail -n 1)
  mkdir -p "$run_dir"

  # The configs read these (see collector/otelcol/base.yaml); ports become loopback addresses.
  export OTLP_GRPC_ENDPOINT=127.0.0.1:${OTLP_GRPC_PORT:-4317}
  export OTLP_HTTP_ENDPOINT=127.0.0.1:${OTLP_HTTP_PORT:-4318}
  export HEALTH_CHECK_ENDPOINT=127.0.0.1:$health_port
  export PROM_EXPORTER_ENDPOINT=127.0.0.1:${PROM_EXPORTER_PORT:-8889}
  export OTELCOL_METRICS_HOST=127.0.0.1
  export OTELCOL_METRICS_PORT=${OTELCOL_METRICS_PORT:-8888}
  export TRACES_FILE=${TRACES_FILE:-$run_dir/traces.json}

  # setsid: detach from the caller's terminal/process group, so only `stop` ends it.
  setsid "$binary" \
    --config "$repo_root/collector/otelcol/base.yaml" \
    --config "$repo_root/collector/otelcol/${OTELCOL_OVERLAY:-local}.yaml" \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"

  # Bounded wait for the health_check extension; give up early if the process died (bad config,
  # port in use) and show why.
  local deadline=$((SECONDS + ${START_TIMEOUT:-30}))
  until curl -fsS -o /dev/null "$health_url" 2>/dev/null; do
    if ! running || ((SECONDS >= deadline)); then
      echo "collector: failed to become healthy at $health_url; last log lines ($logfile):" >&2
      tail -n 20 "$logfile" >&2
      stop >/dev/null
      return 1
    fi
    sleep 0.2
  done
  echo "collector: healthy (pid $(<"$pidfile")) at $health_url"
  echo "collector: log $logfile, traces file $TRACES_FILE"
}

stop() {
  if running; then
    local pid
    pid=$(<"$pidfile")
    kill -TERM "$pid"
    # The Collector drains its pipelines on SIGTERM; give it a bounded time, then force.
    for _ in $(seq 50); do
      running || break
      sleep 0.2
    done
    if running; then kill -KILL "$pid"; fi
    echo "collector: stopped (pid $pid)"
  else
    echo "collector: not running"
  fi
  rm -f "$pidfile"
}

status() {
  if running; then
    local health=unhealthy
    curl -fsS -o /dev/null "$health_url" 2>/dev/null && health=healthy
    echo "collector: running (pid $(<"$pidfile")), $health at $health_url, log: $logfile"
  else
    echo "collector: not running"
    return 3 # LSB: program is not running
  fi
}

case ${1:-} in
  start | stop | status) "$1" ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
