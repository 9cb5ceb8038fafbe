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
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

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
running() { proc_cmdline_has "$pidfile" 'streamlit run'; }

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

# Ready when the page and Streamlit's health endpoint both answer.
answers() { running && proc_http_ok "$url" && proc_http_ok "${url}_stcore/health"; }

start() {
  if proc_if_running frontend "$pidfile" running " at $url, log: $logfile"; then return 0; fi
  if proc_http_ok "$url" 2; then
    echo "frontend: something else already answers at $url (port $port in use)" >&2
    return 1
  fi
  ensure_venv
  mkdir -p "$run_dir"
  # cwd frontend/: the app imports its package (llm_frontend) from there.
  (
    cd "$repo_root/frontend"
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false proc_launch "$pidfile" "$logfile" "$venv/bin/streamlit" run app.py \
      --server.port "$port" --server.address "$host" --server.headless true \
      --browser.gatherUsageStats false --server.fileWatcherType none --server.runOnSave false \
      --client.toolbarMode viewer
  )

  # Bounded wait for the page; gives up early if the process died (port in use, import error).
  proc_await "frontend: did not answer at $url" "$logfile" running stop "${START_TIMEOUT:-60}" answers
  echo "frontend: serving (pid $(<"$pidfile")) at $url, backend ${BACKEND_URL:-http://localhost:8000}"
  echo "frontend: log $logfile"
}

# SIGTERM, a bounded wait of 5 s (50 x 0.1 s), then SIGKILL.
stop() { proc_stop frontend "$pidfile" running 0.1; }

status() { proc_status frontend "$pidfile" running "$logfile" "$url" "${url}_stcore/health" healthy "not answering"; }

proc_main "$@"
