# shellcheck shell=bash
# Process management shared by the scripts that run the stack as local background processes
# (collector.sh, prometheus.sh, alertmanager.sh, pushgateway.sh, frontend.sh, redis.sh, stack.sh).
# There is no Docker here: each component is a real process with a pidfile and a log in a run dir.
#
# Sourced, never executed:
#   # shellcheck source-path=SCRIPTDIR source=lib/proc.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"
#
# Works under the callers' `set -euo pipefail` and sets no shell options of its own. A CHECK or STOP
# argument is the name of a function of the caller, run with no arguments (typically `running`: true
# while the pidfile names the caller's live process, built from proc_alive/proc_is/proc_cmdline_has).
# Output follows the scripts' conventions: "<name>: ..." lines on stdout, problems on stderr.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "${BASH_SOURCE[0]}: a library; source it, do not run it" >&2
  exit 2
fi

# proc_alive PIDFILE: true if PIDFILE exists and the pid in it is a live process (any process).
proc_alive() {
  [[ -f $1 ]] && kill -0 "$(<"$1")" 2>/dev/null
}

# proc_is PIDFILE NAME...: true if the pid in PIDFILE runs an executable whose file name is one of
# NAMEs, i.e. it is still our process and not one that reused the pid. Reads /proc/PID/exe, not
# `ps -o comm=` (cut to 15 characters: prometheus-alertmanager and prometheus-pushgateway would not
# match); " (deleted)" is ignored so a process keeps counting after its binary is upgraded or rebuilt.
proc_is() {
  local pidfile=$1 pid exe name
  shift
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  for name; do
    [[ ${exe##*/} == "$name" ]] && return 0
  done
  return 1
}

# proc_cmdline_has PIDFILE TEXT: true if the command line of the pid in PIDFILE (arguments joined by
# spaces) contains TEXT, for interpreters (python -m app, streamlit run) whose executable says nothing.
proc_cmdline_has() {
  local pid cmdline
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ -r /proc/$pid/cmdline ]] || return 1
  # Read into a variable rather than piping into grep -q: with pipefail, an early grep exit could
  # fail the pipeline with SIGPIPE.
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2"* ]]
}

# proc_which NAME...: print the path of the first NAME found on PATH; false if none is.
# (Debian names binaries prometheus-<x> where upstream tarballs name them <x>.)
proc_which() {
  local name
  for name; do
    command -v "$name" && return 0
  done
  return 1
}

# proc_apt_install LABEL PACKAGE: install Debian's PACKAGE (we are root on dev and CI machines).
# 'apt-get update' only when the install fails without it (package lists absent or stale), so a
# machine with fresh lists does not fetch them again. Progress goes to stderr: stdout stays for the
# scripts' own lines.
proc_apt_install() {
  local label=$1 package=$2
  echo "$label: installing the Debian package $package" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "$label: need root to apt-get install $package" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >&2; }
}

# proc_http_ok URL [MAX_SECONDS]: true if URL answers 2xx (curl -f), silently. MAX_SECONDS bounds
# the request; without it curl waits for a connection that is accepted but never answered.
proc_http_ok() {
  curl -fsS -o /dev/null ${2:+--max-time "$2"} "$1" 2>/dev/null
}

# proc_port_free NAME PORT...: true if nothing listens on 127.0.0.1:PORT for every PORT; else say which
# port is taken on stderr and return 1. Checked before a launch: a process that cannot bind exits, but
# the readiness probe could meet the other listener first and report the start as a success.
proc_port_free() {
  local name=$1 port
  shift
  for port; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$name: port $port is already in use by another process; stop it or choose another port" >&2
      return 1
    fi
  done
}

# proc_port_wait_free NAME SECONDS PORT...: proc_port_free, allowing SECONDS for the ports to be let go
# of (a process stopped a moment ago may still hold them: Jaeger takes a second or two).
proc_port_wait_free() {
  local name=$1 timeout=$2
  shift 2
  proc_poll true "$timeout" proc_port_free "$name" "$@" || proc_port_free "$name" "$@"
}

# proc_if_running NAME PIDFILE CHECK DETAIL: when CHECK is true print
# "NAME: already running (pid PID)DETAIL" and return 0 (a start that has nothing to do); else false.
proc_if_running() {
  "$3" || return 1
  echo "$1: already running (pid $(<"$2"))$4"
}

# proc_launch PIDFILE LOGFILE COMMAND [ARG...]: start COMMAND in the background with stdout and
# stderr in LOGFILE (truncated) and no stdin, and write its pid to PIDFILE. setsid: detached from the
# caller's terminal and process group, so only a `stop` ends it. Assignments before the call
# (VAR=value proc_launch ...) reach COMMAND's environment; the cwd is the caller's.
# The pid is written by the process itself just before it execs COMMAND, not taken from $!: setsid
# forks when the background child happens to lead its process group (a script run in a pipeline or
# under `time` from a job-control shell), and then $! is a setsid that has already exited.
proc_launch() {
  local pidfile=$1 logfile=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$, $0 and $@ are the inner shell's
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    >"$logfile" 2>&1 </dev/null &
  for _ in $(seq 100); do
    [[ -f $pidfile ]] && return 0
    sleep 0.05
  done
  echo $! >"$pidfile" # the inner shell never ran (it would have written the file); CHECK will fail
}

# proc_poll CHECK TIMEOUT PROBE [ARG...]: run PROBE (output discarded) every 0.2 s until it
# succeeds (return 0). Return 1 as soon as CHECK fails (the process died: bad config, port in use)
# or after TIMEOUT seconds. CHECK may be `true` for a process that is not ours to watch.
proc_poll() {
  local check=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! "$check" || ((SECONDS >= deadline)); then return 1; fi
    sleep 0.2
  done
}

# proc_await MESSAGE LOGFILE CHECK STOP TIMEOUT PROBE [ARG...]: proc_poll, and on failure show why:
# "MESSAGE; last log lines (LOGFILE):" and the last 20 lines of LOGFILE on stderr, then run STOP
# (its output discarded) so no half-started process stays behind, and return 1.
proc_await() {
  local message=$1 logfile=$2 check=$3 stop=$4 timeout=$5
  shift 5
  proc_poll "$check" "$timeout" "$@" && return 0
  echo "$message; last log lines ($logfile):" >&2
  tail -n 20 "$logfile" >&2
  "$stop" >/dev/null
  return 1
}

# proc_start NAME PIDFILE LOGFILE URL COMMAND [ARG...]: the usual start of a server: proc_launch, then
# proc_await until URL answers 2xx (START_TIMEOUT seconds, default 30), with the caller's `running`
# as CHECK and its `stop` as STOP; then print "NAME: healthy (pid PID) at URL".
proc_start() {
  local name=$1 pidfile=$2 logfile=$3 url=$4
  shift 4
  mkdir -p "$(dirname "$pidfile")"
  proc_launch "$pidfile" "$logfile" "$@"
  proc_await "$name: failed to become healthy at $url" "$logfile" running stop "${START_TIMEOUT:-30}" \
    proc_http_ok "$url"
  echo "$name: healthy (pid $(<"$pidfile")) at $url"
}

# proc_stop NAME PIDFILE CHECK [INTERVAL]: if CHECK is true, SIGTERM the pid in PIDFILE, wait while
# CHECK stays true (50 times INTERVAL seconds, default 0.2: 10 s) so it can flush or drain, then
# SIGKILL it if it is still there; print "NAME: stopped (pid PID)" or "NAME: not running". Removes
# PIDFILE either way. Succeeds when the process is already gone.
proc_stop() {
  local name=$1 pidfile=$2 check=$3 interval=${4:-0.2} pid
  if "$check"; then
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      "$check" || break
      sleep "$interval"
    done
    if "$check"; then kill -KILL "$pid" 2>/dev/null || true; fi
    echo "$name: stopped (pid $pid)"
  else
    echo "$name: not running"
  fi
  rm -f "$pidfile"
}

# proc_status NAME PIDFILE CHECK LOGFILE URL PROBE_URL GOOD BAD: when CHECK is true print
# "NAME: running (pid PID), GOOD|BAD at URL, log: LOGFILE" (GOOD when PROBE_URL answers 2xx);
# else print "NAME: not running" and return 3 (LSB: program is not running).
proc_status() {
  local name=$1 pidfile=$2 check=$3 logfile=$4 url=$5 probe_url=$6 state=$8
  if "$check"; then
    proc_http_ok "$probe_url" && state=$7
    echo "$name: running (pid $(<"$pidfile")), $state at $url, log: $logfile"
  else
    echo "$name: not running"
    return 3
  fi
}

# proc_main ARG: the command line of a start|stop|status script: run the caller's function of that
# name (its status is the script's exit status), or print the usage and exit 2.
proc_main() {
  case ${1:-} in
    start | stop | status) "$1" ;;
    *)
      echo "usage: $0 start|stop|status" >&2
      exit 2
      ;;
  esac
}
