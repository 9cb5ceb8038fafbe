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

run_root=${RUN_DIR:-/tmp/llm-obs-run}
run_dir=$run_root/pushgateway
pidfile=$run_dir/pushgateway.pid
logfile=$run_dir/pushgateway.log
port=${PUSHGATEWAY_PORT:-9091}
ready_url=http://127.0.0.1:$port/-/ready
sd_file=$run_root/prometheus/targets/pushgateway.json

# Debian names the binary prometheus-pushgateway; upstream tarballs name it pushgateway.
binary() { command -v prometheus-pushgateway || command -v pushgateway; }

running() {
  [[ -f $pidfile ]] || return 1
  local pid exe
  pid=$(<"$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ ${exe##*/} == prometheus-pushgateway || ${exe##*/} == pushgateway ]]
}

ensure_installed() {
  if ! binary >/dev/null; then
    echo "pushgateway: installing the Debian package prometheus-pushgateway" >&2
    apt-get install -y prometheus-pushgateway >&2 ||
      { apt-get update >&2 && apt-get install -y prometheus-pushgateway >&2; }
  fi
}

start() {
  if running; then
    echo "pushgateway: already running (pid $(<"$pidfile")), log: $logfile"
    return 0
  fi
  ensure_installed
  mkdir -p "$run_dir"

  # Persistence in the run dir (Debian's default is /var/lib/prometheus): pushed groups survive a
  # restart of the gateway, like in production.
  setsid "$(binary)" \
    --web.listen-address="127.0.0.1:$port" \
    --persistence.file="$run_dir/pushgateway.data" \
    --persistence.interval=1m \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"

  local deadline=$((SECONDS + ${START_TIMEOUT:-30}))
  until curl -fsS -o /dev/null "$ready_url" 2>/dev/null; do
    if ! running || ((SECONDS >= deadline)); then
      echo "pushgateway: not ready at $ready_url; last log lines ($logfile):" >&2
      tail -n 20 "$logfile" >&2
      stop >/dev/null
      return 1
    fi
    sleep 0.2
  done
  # Written atomically (rename): Prometheus watches the directory and must never read half a file.
  mkdir -p "${sd_file%/*}"
  printf '[{"targets": ["127.0.0.1:%s"], "labels": {}}]\n' "$port" >"$sd_file.tmp"
  mv "$sd_file.tmp" "$sd_file"
  echo "pushgateway: ready (pid $(<"$pidfile")) at http://127.0.0.1:$port/"
  echo "pushgateway: log $logfile, Prometheus target file $sd_file"
}

stop() {
  rm -f "$sd_file"
  if running; then
    local pid
    pid=$(<"$pidfile")
    kill -TERM "$pid"
    # The gateway writes its persistence file on SIGTERM; bounded wait, then force.
    for _ in $(seq 50); do
      running || break
      sleep 0.2
    done
    if running; then kill -KILL "$pid"; fi
    echo "pushgateway: stopped (pid $pid)"
  else
    echo "pushgateway: not running"
  fi
  rm -f "$pidfile"
}

status() {
  if running; then
    local ready="not ready"
    curl -fsS -o /dev/null "$ready_url" 2>/dev/null && ready=ready
    echo "pushgateway: running (pid $(<"$pidfile")), $ready at $ready_url, log: $logfile"
  else
    echo "pushgateway: not running"
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
