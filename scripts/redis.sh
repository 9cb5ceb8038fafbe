#!/usr/bin/env bash
# Start/stop a real Redis server for the tests and the local stack, as a background process.
# Installs Debian's redis-server when missing (we are root on dev and CI machines).
# Usage: scripts/redis.sh start|stop|status   (REDIS_PORT, RUN_DIR override the defaults)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

PORT="${REDIS_PORT:-6379}"
RUN_DIR="${RUN_DIR:-/tmp/llm-obs-run}"
DIR="$RUN_DIR/redis-$PORT"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/redis.log"

# redis-server daemonizes and writes its own pidfile, so it is not started with proc_launch, and its
# stdout lines differ from the other scripts' (scripts/stack.sh status prints the status line as is).
case "${1:-}" in
  start)
    command -v redis-server >/dev/null 2>&1 || proc_apt_install redis redis-server
    if proc_alive "$PIDFILE"; then echo "redis already running on 127.0.0.1:$PORT (pid $(<"$PIDFILE"))"; exit 0; fi
    mkdir -p "$DIR"
    # No persistence: the tests want a clean server, and nothing here is worth keeping.
    redis-server --port "$PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$PIDFILE" \
      --logfile "$LOG" --dir "$DIR" --save "" --appendonly no
    if proc_poll true 5 redis-cli -p "$PORT" ping; then echo "redis running on 127.0.0.1:$PORT (log: $LOG)"; exit 0; fi
    echo "redis did not answer within 5s; see $LOG" >&2; exit 1
    ;;
  stop)
    if proc_alive "$PIDFILE"; then kill "$(<"$PIDFILE")"; echo "redis on port $PORT stopped"; else echo "redis on port $PORT not running"; fi
    rm -f "$PIDFILE"
    ;;
  status)
    if proc_alive "$PIDFILE"; then echo "running (pid $(<"$PIDFILE"), port $PORT)"; else echo "stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
