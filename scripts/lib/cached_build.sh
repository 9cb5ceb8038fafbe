# shellcheck shell=bash
# A Go build cached OUTSIDE the repo, shared by scripts/build-collector.sh (the Collector, via OCB) and
# scripts/build-go-tool.sh (Jaeger, VictoriaLogs: `go get -tool` + `go build`). There is no Docker
# here, so these binaries are compiled from Go modules, once per pin:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack/<what>/<key>/<binary>
# A new pin is a new key (a new directory), so nothing is ever rebuilt in place.
#
# Sourced, never executed:
#   # shellcheck source-path=SCRIPTDIR source=lib/cached_build.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/cached_build.sh"
#
# Contract of the callers: the binary path is the LAST line on stdout; progress goes to stderr.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "${BASH_SOURCE[0]}: a library; source it, do not run it" >&2
  exit 2
fi

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack

# cached_build LABEL BINARY BUILD [ARG...]: print BINARY if it exists. Else, under a lock (two test
# sessions starting at once must not build into the same directory), run `BUILD TMP ARG...` with its
# stdout on stderr and the working directory BINARY's directory; BUILD must leave the finished
# binary at TMP, which is renamed to BINARY last (an existing binary always means a finished build).
# Exit status 2 without Go; the build's own status if it fails.
cached_build() {
  local label=$1 binary=$2 build=$3 dir start
  shift 3
  dir=$(dirname "$binary")
  if [[ -x $binary ]]; then
    echo "$label: up to date: $binary" >&2
    echo "$binary"
    return 0
  fi
  # Checked only now: a cached binary needs no Go. Debian's golang-go is too old for these modules,
  # so it is not installed for you.
  if ! command -v go >/dev/null 2>&1; then
    echo "$label: ERROR: 'go' not found on PATH; $binary is built from Go modules (Go >= 1.24 needed)." >&2
    return 2
  fi
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [[ ! -x $binary ]]; then # else someone else finished the build while we waited for the lock
    echo "$label: building $binary (minutes on a cold Go cache)" >&2
    start=$SECONDS
    (cd "$dir" && "$build" "$binary.tmp" "$@") >&2
    mv "$binary.tmp" "$binary"
    echo "$label: built in $((SECONDS - start)) s" >&2
  fi
  exec 9>&-
  echo "$binary"
}
