#!/usr/bin/env bash
# Run VictoriaLogs (the log store) as a local background process, built from the Go module proxy by
# scripts/build-go-tool.sh. Our Collector's logs pipeline exports to its OTLP/HTTP endpoint
# (/insert/opentelemetry/v1/logs); LogsQL queries go to /select/logsql/query.
#
#   scripts/victorialogs.sh start|stop|status
#
# Listens on loopback only. Env overrides (defaults in brackets):
#   RUN_DIR [/tmp/llm-obs-run]   pid, log and data go to $RUN_DIR/victorialogs/
#   VICTORIALOGS_PORT [9428]     HTTP: ingestion, LogsQL queries, /health, its own /metrics
#   VICTORIALOGS_RETENTION [7d]  logs older than this are deleted (whole days)
#   VICTORIALOGS_MAX_DISK [1GiB] and the oldest days are deleted when the data dir grows past this
#   START_TIMEOUT [30] seconds
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${RUN_DIR:-/tmp/llm-obs-run}/victorialogs
pidfile=$run_dir/victoria-logs.pid
logfile=$run_dir/victoria-logs.log
port=${VICTORIALOGS_PORT:-9428}
url=http://127.0.0.1:$port

running() { proc_is "$pidfile" victoria-logs; }

start() {
  if proc_if_running victorialogs "$pidfile" running ", at $url"; then return 0; fi
  proc_port_wait_free victorialogs 10 "$port"
  local binary
  binary=$("$repo_root/scripts/build-go-tool.sh" victoria-logs | tail -n 1)
  proc_start victorialogs "$pidfile" "$logfile" "$url/health" "$binary" \
    -httpListenAddr="127.0.0.1:$port" \
    -storageDataPath="$run_dir/data" \
    -retentionPeriod="${VICTORIALOGS_RETENTION:-7d}" \
    -retention.maxDiskSpaceUsageBytes="${VICTORIALOGS_MAX_DISK:-1GiB}"
  echo "victorialogs: LogsQL queries at $url/select/logsql/query"
  echo "victorialogs: log $logfile, data $run_dir/data"
}

stop() { proc_stop victorialogs "$pidfile" running; }

status() { proc_status victorialogs "$pidfile" running "$logfile" "$url" "$url/health" healthy unhealthy; }

proc_main "$@"
