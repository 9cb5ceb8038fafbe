#!/usr/bin/env bash
# Run the Streamlit frontend (frontend/) as a local background process on :8501.
# Streamlit is heavy and the backend must not depend on it, so the frontend has its own venv
# (frontend/.venv, from frontend/requirements.txt), made here when missing or when the requirements change.
#
#   scripts/frontend.sh start|stop|status
#
# Env overrides (defaults in brackets):
#   FRONTEND_PORT [8501] FRONTEND_HOST [127.0.0.1]   where Streamlit listens
#   BACKEND_URL [http://localhost:8000] API_KEY [] GRAFANA_URL []   read by the app (frontend/README.md)
#   OTEL_EXPORTER_OTLP_ENDPOINT []                   export the frontend's spans (OTLP/HTTP, e.g. :4318)
#   RUN_DIR [/tmp/llm-obs-run]                       pid and log go to $RUN_DIR/frontend/
#   FRONTEND_VENV [frontend/.venv] PYTHON [python3] START_TIMEOUT [60] seconds
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/frontend
pidfile=$run_dir/streamlit.pid
logfile=$run_dir/streamlit.log
port=${FRONTEND_PORT:-8501}
host=${FRONTEND_HOST:-127.0.0.1}
venv=${FRONTEND_VENV:-$repo_root/frontend/.venv}
requirements=$repo_root/frontend/requirements.txt
url=http://127.0.0.1:$port/

# True if the pidfile names a live Streamlit (not some process that reused the pid).
running() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(<"$pidfile")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'streamlit run'
}

# The venv, (re)installed when missing or when requirements.txt changed (its hash is the stamp).
# Locked: two test sessions starting at once must not install into the same venv.
ensure_venv() {
  local want stamp=$venv/.requirements.sha256
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [[ -x $venv/bin/streamlit && -f $stamp && $(<"$stamp") == "$want" ]]; then return 0; fi
  mkdir -p "$venv"
  exec 9>"$venv/.install.lock"
  flock 9
  if [[ -x $venv/bin/streamlit && -f $stamp && $(<"$stamp") == "$want" ]]; then return 0; fi
  echo "frontend: installing $requirements into $venv (about a minute)" >&2
  [[ -x $venv/bin/python ]] || "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$want" >"$stamp"
}

start() {
  if running; then
    echo "frontend: already running (pid $(<"$pidfile")) at $url, log: $logfile"
    return 0
  fi
  if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
    echo "frontend: something else already answers at $url (port $port in use)" >&2
    return 1
  fi
  ensure_venv
  mkdir -p "$run_dir"
  # setsid: detach from the caller's process group, so only `stop` ends it. cwd frontend/: the app
  # imports its package (llm_frontend) from there.
  (
    cd "$repo_root/frontend"
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false setsid "$venv/bin/streamlit" run app.py \
      --server.port "$port" --server.address "$host" --server.headless true \
      --browser.gatherUsageStats false --server.fileWatcherType none --server.runOnSave false \
      --client.toolbarMode viewer \
      >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
  )

  # Bounded wait for the page; give up early if the process died (port in use, import error).
  local deadline=$((SECONDS + ${START_TIMEOUT:-60}))
  until running && curl -fsS -o /dev/null "$url" 2>/dev/null && curl -fsS -o /dev/null "${url}_stcore/health" 2>/dev/null; do
    if ! running || ((SECONDS >= deadline)); then
      echo "frontend: did not answer at $url; last log lines ($logfile):" >&2
      tail -n 20 "$logfile" >&2
      stop >/dev/null
      return 1
    fi
    sleep 0.2
  done
  echo "frontend: serving (pid $(<"$pidfile")) at $url, backend ${BACKEND_URL:-http://localhost:8000}"
  echo "frontend: log $logfile"
}

stop() {
  if running; then
    local pid
    pid=$(<"$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 50); do
      running || break
      sleep 0.1
    done
    if running; then kill -KILL "$pid"; fi
    echo "frontend: stopped (pid $pid)"
  else
    echo "frontend: not running"
  fi
  rm -f "$pidfile"
}

status() {
  if running; then
    local health="not answering"
    curl -fsS -o /dev/null "${url}_stcore/health" 2>/dev/null && health=healthy
    echo "frontend: running (pid $(<"$pidfile")), $health at $url, log: $logfile"
  else
    echo "frontend: not running"
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
