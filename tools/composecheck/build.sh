#!/usr/bin/env bash
# Build tools/composecheck (the official Compose loader, compose-spec/compose-go, as a tiny CLI) into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack/composecheck/<sha256 of go.mod, go.sum, *.go>/composecheck
# like scripts/build-collector.sh does for the Collector: rebuilt only when the module (dependencies
# pinned by go.mod/go.sum) or its source changes. The binary path is the LAST line on stdout.
# ~30 s cold (module download + compile), instant when cached. Needs Go >= 1.24 (exit 2 without Go).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/llm-obs-stack

log() { echo "composecheck build: $*" >&2; }

hash=$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)
out_dir=$cache_root/composecheck/$hash
binary=$out_dir/composecheck

if [[ -x $binary ]]; then
  log "up to date: $binary"
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "ERROR: 'go' not found on PATH (Go >= 1.24 needed to build compose-go)"
  exit 2
fi

mkdir -p "$out_dir"
exec 9>"$out_dir/.lock" # two sessions building at once: one builds, the other waits and reuses
flock 9
if [[ -x $binary ]]; then
  echo "$binary"
  exit 0
fi
log "building into $out_dir"
start=$SECONDS
# -mod=readonly: go.mod/go.sum are the pinned truth, a build never edits them.
(cd "$src" && go build -mod=readonly -trimpath -o "$binary.tmp" .) >&2
mv "$binary.tmp" "$binary" # rename last: an existing binary always means a finished build
log "built in $((SECONDS - start)) s"
echo "$binary"
