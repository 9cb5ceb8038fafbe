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
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/prometheus
pidfile=$run_dir/prometheus.pid
logfile=$run_dir/prometheus.log
config=$run_dir/prometheus.yml
port=${PROMETHEUS_PORT:-9090}
ready_url=http://127.0.0.1:$port/-/ready

running() { proc_is "$pidfile" prometheus; }

ensure_installed() {
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    proc_apt_install prometheus prometheus
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
  if proc_if_running prometheus "$pidfile" running ", log: $logfile"; then return 0; fi
  proc_port_free prometheus "$port"
  ensure_installed
  mkdir -p "$run_dir/data"
  render_config

  # exemplar-storage: keep the trace ids the Collector exposes in OpenMetrics (off by default in
  # Debian's 2.42). web.enable-lifecycle: allow POST /-/reload after rules are regenerated.
  proc_launch "$pidfile" "$logfile" prometheus \
    --config.file="$config" \
    --storage.tsdb.path="$run_dir/data" \
    --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-2d}" \
    --web.listen-address="127.0.0.1:$port" \
    --web.enable-lifecycle \
    --enable-feature=exemplar-storage

  proc_await "prometheus: not ready at $ready_url" "$logfile" running stop \
    "${START_TIMEOUT:-30}" proc_http_ok "$ready_url"
  echo "prometheus: ready (pid $(<"$pidfile")) at http://127.0.0.1:$port/"
  echo "prometheus: log $logfile, config $config"
}

# Prometheus flushes its head block on SIGTERM; proc_stop waits a bounded time, then forces.
stop() { proc_stop prometheus "$pidfile" running; }

status() { proc_status prometheus "$pidfile" running "$logfile" "$ready_url" "$ready_url" ready "not ready"; }

proc_main "$@"
