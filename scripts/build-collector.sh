#!/usr/bin/env bash
# Build the project's OpenTelemetry Collector (`otelcol-llm`) from collector/builder-config.yaml
# with the OpenTelemetry Collector Builder (OCB). There is no Docker here, so the Collector is
# compiled from the official Go modules.
#
# Idempotent: the binary lives OUTSIDE the repo at
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack/otelcol/<sha256 of the manifest>/otelcol-llm
# and is only rebuilt when the manifest changes (new hash, new directory).
# The binary path is the LAST line on stdout; progress goes to stderr.
#
# Build time measured on the 2-core dev machine (Collector v0.165.0): 5 min 41 s fully cold (empty Go
# module and build caches: OCB install ~50 s, sources + module download ~1 min, compile ~4 min);
# ~10 s for a manifest edit with warm Go caches and the same components; instant if the binary exists.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
manifest=${OTELCOL_MANIFEST:-$repo_root/collector/builder-config.yaml}
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack

log() { echo "build-collector: $*" >&2; }

hash=$(sha256sum "$manifest" | cut -d' ' -f1)
out_dir=$cache_root/otelcol/$hash
binary=$out_dir/otelcol-llm

if [[ -x $binary ]]; then
  log "up to date: $binary"
  echo "$binary"
  exit 0
fi

# Checked only now: a cached binary needs no Go.
if ! command -v go >/dev/null 2>&1; then
  # Debian's golang-go is too old for current Collector modules, so we do not try to install it.
  log "ERROR: 'go' not found on PATH; the Collector is built from Go modules (Go >= 1.24 needed)."
  exit 2
fi

# The builder version must be the release the manifest pins; take it from dist.version so the
# two can never drift apart.
ocb_version=v$(awk '/^dist:/ {d=1; next} /^[^[:space:]#]/ {d=0} d && $1 == "version:" {print $2; exit}' "$manifest")
[[ $ocb_version != v ]] || { log "ERROR: no dist.version in $manifest"; exit 2; }

mkdir -p "$out_dir"
# Two test sessions starting at once must not build into the same directory.
exec 9>"$out_dir/.lock"
flock 9
if [[ -x $binary ]]; then   # someone else finished the build while we waited for the lock
  echo "$binary"
  exit 0
fi

ocb=$cache_root/ocb/$ocb_version/builder
if [[ ! -x $ocb ]]; then
  log "installing OCB $ocb_version"
  GOBIN=$(dirname "$ocb") go install "go.opentelemetry.io/collector/cmd/builder@$ocb_version" >&2
fi

log "building otelcol-llm into $out_dir (several minutes on a cold cache)"
start=$SECONDS
cp "$manifest" "$out_dir/builder-config.yaml"
rm -rf "$out_dir/_build"
# output_path in the manifest is relative (./_build), so run the builder inside the cache dir.
# GOFLAGS=-e: the builder's `go mod tidy` also resolves the *tests* of every component, and
# fileexporter's tests import contrib's otlpencodingextension, which the Go module proxy reachable
# here does not serve (403). -e lets tidy carry on; the binary never imports that module.
(cd "$out_dir" && GOFLAGS="${GOFLAGS:+$GOFLAGS }-e" "$ocb" --config builder-config.yaml) >&2
# Rename last: an existing binary always means a finished build.
mv "$out_dir/_build/otelcol-llm" "$binary"
log "built in $((SECONDS - start)) s"
echo "$binary"
