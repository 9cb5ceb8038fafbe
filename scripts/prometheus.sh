#!/usr/bin/env bash
# Run Prometheus (Debian package `prometheus`) as a local background process that scrapes the
# Collector started by scripts/collector.sh. No Docker here, so this is the real Prometheus.
#
#   scripts/prometheus.sh start|stop|status
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   config copy, TSDB, pid and log go to $RUN_DIR/prometheus/
#   PROMETHEUS_PORT [9090]
#   PROM_EXPORTER_PORT [8889] OTELCOL_METRICS_PORT [8888] ALERTMANAGER_PORT [9093]  (targets)
#   START_TIMEOUT [30] seconds
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/prometheus
pidfile=$run_dir/prometheus.pid
logfile=$run_dir/prometheus.log
config=$run_dir/prometheus.yml
port=${PROMETHEUS_PORT:-9090}
ready_url=http://127.0.0.1:$port/-/ready

running() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(<"$pidfile")
  [[ $(ps -p "$pid" -o comm= 2>/dev/null) == prometheus ]]
}

ensure_installed() {
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "prometheus: installing the Debian package" >&2
    apt-get install -y prometheus >&2 || { apt-get update >&2 && apt-get install -y prometheus >&2; }
  fi
}

# Prometheus does not expand env vars in its config, so render a copy with this run's ports, and
# with rule_files made absolute (relative ones would resolve against the run dir).
render_config() {
  local src=$repo_root/collector/prometheus
  sed -e "s|localhost:8889|127.0.0.1:${PROM_EXPORTER_PORT:-8889}|" \
    -e "s|localhost:8888|127.0.0.1:${OTELCOL_METRICS_PORT:-8888}|" \
    -e "s|localhost:9093|127.0.0.1:${ALERTMANAGER_PORT:-9093}|" \
    -e "s|localhost:9090|127.0.0.1:$port|" \
    -e "s|- rules/|- $src/rules/|" \
    "$src/prometheus.yml" >"$config"
  # Fail here, with promtool's message, rather than with a Prometheus that exits on start.
  promtool check config "$config" >/dev/null
}

start() {
  if running; then
    echo "prometheus: already running (pid $(<"$pidfile")), log: $logfile"
    return 0
  fi
  ensure_installed
  mkdir -p "$run_dir/data"
  render_config

  # exemplar-storage: keep the trace ids the Collector exposes in OpenMetrics (off by default in
  # Debian's 2.42). web.enable-lifecycle: allow POST /-/reload after rules are regenerated.
  setsid prometheus \
    --config.file="$config" \
    --storage.tsdb.path="$run_dir/data" \
    --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-2d}" \
    --web.listen-address="127.0.0.1:$port" \
    --web.enable-lifecycle \
    --enable-feature=exemplar-storage \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"

  local deadline=$((SECONDS + ${START_TIMEOUT:-30}))
  until curl -fsS -o /dev/null "$ready_url" 2>/dev/null; do
    if ! running || ((SECONDS >= deadline)); then
      echo "prometheus: not ready at $ready_url; last log lines ($logfile):" >&2
      tail -n 20 "$logfile" >&2
      stop >/dev/null
      return 1
    fi
    sleep 0.2
  done
  echo "prometheus: ready (pid $(<"$pidfile")) at http://127.0.0.1:$port/"
  echo "prometheus: log $logfile, config $config"
}

stop() {
  if running; then
    local pid
    pid=$(<"$pidfile")
    kill -TERM "$pid"
    # Prometheus flushes its head block on SIGTERM; bounded wait, then force.
    for _ in $(seq 50); do
      running || break
      sleep 0.2
    done
    if running; then kill -KILL "$pid"; fi
    echo "prometheus: stopped (pid $pid)"
  else
    echo "prometheus: not running"
  fi
  rm -f "$pidfile"
}

status() {
  if running; then
    local ready="not ready"
    curl -fsS -o /dev/null "$ready_url" 2>/dev/null && ready=ready
    echo "prometheus: running (pid $(<"$pidfile")), $ready at $ready_url, log: $logfile"
  else
    echo "prometheus: not running"
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
