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
#   INTERNAL_API_KEY []   the service's operator key, sent as a bearer token (kept in a 0600 file)
#   START_TIMEOUT [30] seconds
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/alertmanager
pidfile=$run_dir/alertmanager.pid
logfile=$run_dir/alertmanager.log
config=$run_dir/alertmanager.yml
port=${ALERTMANAGER_PORT:-9093}
webhook=${SERVICE_ALERT_WEBHOOK:-http://127.0.0.1:8000/internal/monitoring/alerts/webhook}
ready_url=http://127.0.0.1:$port/-/ready

# Debian names the binary prometheus-alertmanager; upstream tarballs name it alertmanager.
binary() { proc_which prometheus-alertmanager alertmanager; }

# True if the pidfile names a live Alertmanager (not some process that reused the pid).
running() { proc_is "$pidfile" prometheus-alertmanager alertmanager; }

ensure_installed() {
  if ! binary >/dev/null || ! command -v amtool >/dev/null; then
    proc_apt_install alertmanager prometheus-alertmanager
  fi
}

render_config() {
  local src=$repo_root/collector/alertmanager/alertmanager.yml
  # Escape what sed treats specially in a replacement: \ & and the | delimiter.
  local escaped=${webhook//\\/\\\\}
  escaped=${escaped//&/\\&}
  escaped=${escaped//|/\\|}
  # Comment lines keep the placeholder (they document it); the check below ignores them too.
  local keyfile=$run_dir/operator.key drop_auth=()
  if [[ -n ${INTERNAL_API_KEY:-} ]]; then
    (umask 077 && printf '%s' "$INTERNAL_API_KEY" >"$keyfile")
  else
    rm -f "$keyfile"
    drop_auth=(-e '/^[[:space:]]*http_config:/,/credentials_file:/d')
  fi
  sed "${drop_auth[@]}" -e "/^[[:space:]]*#/!s|\${SERVICE_ALERT_WEBHOOK}|$escaped|g" \
    -e "/^[[:space:]]*#/!s|\${SERVICE_ALERT_KEY_FILE}|$keyfile|g" "$src" >"$config"
  # shellcheck disable=SC2016 # a literal "${": what an unexpanded placeholder starts with
  if grep -v '^[[:space:]]*#' "$config" | grep -q '\${'; then
    echo "alertmanager: unexpanded \${...} left in $config" >&2
    return 1
  fi
  # Fail here, with amtool's message, rather than with an Alertmanager that exits on start.
  amtool check-config "$config" >/dev/null
}

start() {
  if proc_if_running alertmanager "$pidfile" running ", log: $logfile"; then return 0; fi
  proc_port_free alertmanager "$port"
  ensure_installed
  mkdir -p "$run_dir/data"
  render_config

  # --cluster.listen-address= (empty) disables HA clustering: one instance, no gossip port.
  proc_launch "$pidfile" "$logfile" "$(binary)" \
    --config.file="$config" \
    --storage.path="$run_dir/data" \
    --web.listen-address="127.0.0.1:$port" \
    --web.external-url="http://127.0.0.1:$port/" \
    --cluster.listen-address=

  proc_await "alertmanager: not ready at $ready_url" "$logfile" running stop \
    "${START_TIMEOUT:-30}" proc_http_ok "$ready_url"
  echo "alertmanager: ready (pid $(<"$pidfile")) at http://127.0.0.1:$port/, alerts go to $webhook"
  echo "alertmanager: log $logfile, config $config"
}

# Alertmanager snapshots silences and the notification log on SIGTERM; proc_stop waits a bounded
# time, then forces.
stop() { proc_stop alertmanager "$pidfile" running; }

status() { proc_status alertmanager "$pidfile" running "$logfile" "$ready_url" "$ready_url" ready "not ready"; }

proc_main "$@"
