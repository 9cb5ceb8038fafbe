#!/usr/bin/env bash
# Run Alertmanager (Debian package `prometheus-alertmanager`, 0.25) as a local background process,
# the one Prometheus (scripts/prometheus.sh) sends the KPI alerts to. No Docker here: the real thing.
#
#   scripts/alertmanager.sh start|stop|status
#
# collector/alertmanager/alertmanager.yml is a template (Alertmanager does not expand env vars): the
# receiver URL ${SERVICE_ALERT_WEBHOOK} is filled in into a copy in the run dir, which
# `amtool check-config` validates before start. Clustering (HA gossip) is off: no port 9094 needed.
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   config copy, silences/notification log, pid and log: $RUN_DIR/alertmanager/
#   ALERTMANAGER_PORT [9093]
#   SERVICE_ALERT_WEBHOOK [http://127.0.0.1:8000/internal/monitoring/alerts/webhook]  where alerts go
#   START_TIMEOUT [30] seconds
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/alertmanager
pidfile=$run_dir/alertmanager.pid
logfile=$run_dir/alertmanager.log
config=$run_dir/alertmanager.yml
port=${ALERTMANAGER_PORT:-9093}
webhook=${SERVICE_ALERT_WEBHOOK:-http://127.0.0.1:8000/internal/monitoring/alerts/webhook}
ready_url=http://127.0.0.1:$port/-/ready

# Debian names the binary prometheus-alertmanager; upstream tarballs name it alertmanager.
binary() { command -v prometheus-alertmanager || command -v alertmanager; }

# True if the pidfile names a live Alertmanager (not some process that reused the pid).
running() {
  [[ -f $pidfile ]] || return 1
  local pid exe
  pid=$(<"$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ ${exe##*/} == prometheus-alertmanager || ${exe##*/} == alertmanager ]]
}

ensure_installed() {
  if ! binary >/dev/null || ! command -v amtool >/dev/null; then
    echo "alertmanager: installing the Debian package prometheus-alertmanager" >&2
    apt-get install -y prometheus-alertmanager >&2 ||
      { apt-get update >&2 && apt-get install -y prometheus-alertmanager >&2; }
  fi
}

render_config() {
  local src=$repo_root/collector/alertmanager/alertmanager.yml
  # Escape what sed treats specially in a replacement: \ & and the | delimiter.
  local escaped=${webhook//\\/\\\\}
  escaped=${escaped//&/\\&}
  escaped=${escaped//|/\\|}
  # Comment lines keep the placeholder (they document it); the check below ignores them too.
  sed -e "/^[[:space:]]*#/!s|\${SERVICE_ALERT_WEBHOOK}|$escaped|g" "$src" >"$config"
  if grep -v '^[[:space:]]*#' "$config" | grep -q '\${'; then
    echo "alertmanager: unexpanded \${...} left in $config" >&2
    return 1
  fi
  # Fail here, with amtool's message, rather than with an Alertmanager that exits on start.
  amtool check-config "$config" >/dev/null
}

start() {
  if running; then
    echo "alertmanager: already running (pid $(<"$pidfile")), log: $logfile"
    return 0
  fi
  ensure_installed
  mkdir -p "$run_dir/data"
  render_config

  # --cluster.listen-address= (empty) disables HA clustering: one instance, no gossip port.
  setsid "$(binary)" \
    --config.file="$config" \
    --storage.path="$run_dir/data" \
    --web.listen-address="127.0.0.1:$port" \
    --web.external-url="http://127.0.0.1:$port/" \
    --cluster.listen-address= \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"

  local deadline=$((SECONDS + ${START_TIMEOUT:-30}))
  until curl -fsS -o /dev/null "$ready_url" 2>/dev/null; do
    if ! running || ((SECONDS >= deadline)); then
      echo "alertmanager: not ready at $ready_url; last log lines ($logfile):" >&2
      tail -n 20 "$logfile" >&2
      stop >/dev/null
      return 1
    fi
    sleep 0.2
  done
  echo "alertmanager: ready (pid $(<"$pidfile")) at http://127.0.0.1:$port/, alerts go to $webhook"
  echo "alertmanager: log $logfile, config $config"
}

stop() {
  if running; then
    local pid
    pid=$(<"$pidfile")
    kill -TERM "$pid"
    # Alertmanager snapshots silences and the notification log on SIGTERM; bounded wait, then force.
    for _ in $(seq 50); do
      running || break
      sleep 0.2
    done
    if running; then kill -KILL "$pid"; fi
    echo "alertmanager: stopped (pid $pid)"
  else
    echo "alertmanager: not running"
  fi
  rm -f "$pidfile"
}

status() {
  if running; then
    local ready="not ready"
    curl -fsS -o /dev/null "$ready_url" 2>/dev/null && ready=ready
    echo "alertmanager: running (pid $(<"$pidfile")), $ready at $ready_url, log: $logfile"
  else
    echo "alertmanager: not running"
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
