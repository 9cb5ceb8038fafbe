#!/usr/bin/env bash
# Start/stop a real Redis server for the tests and the local stack, as a background process.
# Installs Debian's redis-server when missing (we are root on dev and CI machines).
# Usage: scripts/redis.sh start|stop|status   (REDIS_PORT, RUN_DIR override the defaults)
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
RUN_DIR="${RUN_DIR:-/tmp/llm-obs-run}"
DIR="$RUN_DIR/redis-$PORT"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/redis.log"

ensure_installed() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server missing: installing Debian's package" >&2
    if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install redis-server" >&2; exit 1; fi
    # 'apt-get update' once, only when the package lists are absent or the install fails without it
    apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
  fi
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    ensure_installed
    if running; then echo "redis already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; exit 0; fi
    mkdir -p "$DIR"
    # No persistence: the tests want a clean server, and nothing here is worth keeping.
    redis-server --port "$PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$PIDFILE" \
      --logfile "$LOG" --dir "$DIR" --save "" --appendonly no
    for _ in $(seq 1 50); do
      if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
        echo "redis running on 127.0.0.1:$PORT (log: $LOG)"; exit 0
      fi
      sleep 0.1
    done
    echo "redis did not answer within 5s; see $LOG" >&2; exit 1
    ;;
  stop)
    if running; then kill "$(cat "$PIDFILE")"; echo "redis on port $PORT stopped"; else echo "redis on port $PORT not running"; fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE"), port $PORT)"; else echo "stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
