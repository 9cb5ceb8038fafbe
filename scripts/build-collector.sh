#!/usr/bin/env bash
# Build the project's OpenTelemetry Collector (`otelcol-llm`) from collector/builder-config.yaml
# with the OpenTelemetry Collector Builder (OCB). There is no Docker here, so the Collector is
# compiled from the official Go modules.
#
# Idempotent (scripts/lib/cached_build.sh): the binary lives OUTSIDE the repo at
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack/otelcol/<sha256 of the manifest>/otelcol-llm
# and is only rebuilt when the manifest changes (new hash, new directory).
# The binary path is the LAST line on stdout; progress goes to stderr.
#
# Build time measured on the 2-core dev machine (Collector v0.165.0): 5 min 41 s fully cold (empty Go
# module and build caches: OCB install ~50 s, sources + module download ~1 min, compile ~4 min);
# ~10 s for a manifest edit with warm Go caches and the same components; instant if the binary exists.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/cached_build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cached_build.sh"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
manifest=${OTELCOL_MANIFEST:-$repo_root/collector/builder-config.yaml}

hash=$(sha256sum "$manifest" | cut -d' ' -f1)

# The builder version must be the release the manifest pins; take it from dist.version so the
# two can never drift apart.
ocb_version=v$(awk '/^dist:/ {d=1; next} /^[^[:space:]#]/ {d=0} d && $1 == "version:" {print $2; exit}' "$manifest")
[[ $ocb_version != v ]] || { echo "build-collector: ERROR: no dist.version in $manifest" >&2; exit 2; }

# build TMP: runs in the cache dir, next to where the binary goes.
build() {
  local ocb=$cache_root/ocb/$ocb_version/builder
  if [[ ! -x $ocb ]]; then
    echo "build-collector: installing OCB $ocb_version"
    GOBIN=$(dirname "$ocb") go install "go.opentelemetry.io/collector/cmd/builder@$ocb_version"
  fi
  cp "$manifest" builder-config.yaml
  rm -rf _build
  # output_path in the manifest is relative (./_build), so the builder runs inside the cache dir.
  # GOFLAGS=-e: the builder's `go mod tidy` also resolves the *tests* of every component, and
  # fileexporter's tests import contrib's otlpencodingextension, which the Go module proxy reachable
  # here does not serve (403). -e lets tidy carry on; the binary never imports that module.
  GOFLAGS="${GOFLAGS:+$GOFLAGS }-e" "$ocb" --config builder-config.yaml
  mv _build/otelcol-llm "$1"
}

cached_build build-collector "$cache_root/otelcol/$hash/otelcol-llm" build
