#!/usr/bin/env bash
# Build one of the stack's Go programs from the Go module proxy, at the version pinned here (no
# Docker here, and no release tarballs: only the module proxy is reachable). Like the Collector
# (scripts/build-collector.sh), the binary is cached outside the repo (scripts/lib/cached_build.sh):
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack/<name>/<version>/<name>
# and rebuilt only when the pin changes. The binary path is the LAST line on stdout.
#
#   scripts/build-go-tool.sh jaeger|victoria-logs
#
# How: a throwaway module in the cache dir, `go get -tool <package>@<version>` (so the program's own
# go.mod decides every dependency version), then `go build`.
# Cold build times on the 2-core dev machine (empty Go module and build caches): see README.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/cached_build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cached_build.sh"

name=${1:-}
case $name in
  # Jaeger v2 (Apache-2.0): the trace store, itself an OpenTelemetry Collector distribution.
  jaeger) pin=github.com/jaegertracing/jaeger/cmd/jaeger@v1.75.0 ;;
  # VictoriaLogs (Apache-2.0): the log store.
  victoria-logs) pin=github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.2 ;;
  *)
    echo "usage: $0 jaeger|victoria-logs" >&2
    exit 2
    ;;
esac
package=${pin%@*}
version=${pin##*@}

# build TMP: runs in the (empty) cache dir.
build() {
  rm -f go.mod go.sum
  go mod init "llm-obs-stack/build/$name"
  go get -tool "$pin"
  go build -trimpath -o "$1" "$package"
}

cached_build "build-go-tool $name" "$cache_root/$name/$version/$name" build
