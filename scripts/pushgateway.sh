#!/usr/bin/env bash
# Run the Prometheus Pushgateway (Debian package `prometheus-pushgateway`, 1.5) as a local background
# process: the service pushes its exposition there when ENABLE_EXTERNAL_MONITORING=true and
# PROMETHEUS_GATEWAY_URL is set. No Docker here: the real thing.
#
#   scripts/pushgateway.sh start|stop|status
#
# Prometheus finds it through file service discovery: on start this writes
# $RUN_DIR/prometheus/targets/pushgateway.json (the `pushgateway` job of
# collector/prometheus/prometheus.yml reads it, relative to the rendered config), and removes it on stop.
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   pid, log and persistence file go to $RUN_DIR/pushgateway/
#   PUSHGATEWAY_PORT [9091]  START_TIMEOUT [30] seconds
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

run_root=${RUN_DIR:-/tmp/llm-obs-run}
run_dir=$run_root/pushgateway
pidfile=$run_dir/pushgateway.pid
logfile=$run_dir/pushgateway.log
port=${PUSHGATEWAY_PORT:-9091}
ready_url=http://127.0.0.1:$port/-/ready
sd_file=$run_root/prometheus/targets/pushgateway.json

# Debian names the binary prometheus-pushgateway; upstream tarballs name it pushgateway.
binary() { proc_which prometheus-pushgateway pushgateway; }

running() { proc_is "$pidfile" prometheus-pushgateway pushgateway; }

start() {
  if proc_if_running pushgateway "$pidfile" running ", log: $logfile"; then return 0; fi
  proc_port_free pushgateway "$port"
  binary >/dev/null || proc_apt_install pushgateway prometheus-pushgateway
  mkdir -p "$run_dir"

  # Persistence in the run dir (Debian's default is /var/lib/prometheus): pushed groups survive a
  # restart of the gateway, like in production.
  proc_launch "$pidfile" "$logfile" "$(binary)" \
    --web.listen-address="127.0.0.1:$port" \
    --persistence.file="$run_dir/pushgateway.data" \
    --persistence.interval=1m

  proc_await "pushgateway: not ready at $ready_url" "$logfile" running stop \
    "${START_TIMEOUT:-30}" proc_http_ok "$ready_url"
  # Written atomically (rename): Prometheus watches the directory and must never read half a file.
  mkdir -p "${sd_file%/*}"
  printf '[{"targets": ["127.0.0.1:%s"], "labels": {}}]\n' "$port" >"$sd_file.tmp"
  mv "$sd_file.tmp" "$sd_file"
  echo "pushgateway: ready (pid $(<"$pidfile")) at http://127.0.0.1:$port/"
  echo "pushgateway: log $logfile, Prometheus target file $sd_file"
}

# The target file goes first, so Prometheus stops scraping. The gateway writes its persistence file
# on SIGTERM; proc_stop waits a bounded time, then forces.
stop() {
  rm -f "$sd_file"
  proc_stop pushgateway "$pidfile" running
}

status() { proc_status pushgateway "$pidfile" running "$logfile" "$ready_url" "$ready_url" ready "not ready"; }

proc_main "$@"
