#!/usr/bin/env bash
# Builds promtool from the Go module proxy (no release binaries can be downloaded on
# our machines), once per version, in a throwaway module outside the clone so that
# Prometheus' dependencies never enter our go.mod. Cached per user, linked into bin/.
#
#   hack/build-promtool.sh OUT_DIR
#
# Prometheus' Go module is versioned v0.3MM.P for release v3.MM.P (v0.316.0 is
# Prometheus 3.16.0): its v3 tags have no /v3 module path, so Go cannot use them.
set -euo pipefail

PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}
out=${1:?usage: build-promtool.sh OUT_DIR}
cache=${SLOTSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slotsync}/promtool-$PROMTOOL_VERSION
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)

log() { printf '[promtool-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=hack/lib/tools-module.sh
. "$(dirname "$0")/lib/tools-module.sh"

if [ ! -x "$cache/promtool" ]; then
  start=$(date +%s)
  dir=$cache/src
  tools_module "$dir" slotsync.local/promtoolbuild "github.com/prometheus/prometheus@$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool
  # It links every service discovery (cloud SDKs, client-go).
  log "building promtool $PROMTOOL_VERSION (9 min of CPU, once; cached in $cache)"
  (cd "$dir" && CGO_ENABLED=0 go build -o "$cache/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool)
  mv "$cache/promtool.tmp" "$cache/promtool"
  log "built promtool in $(( $(date +%s) - start ))s"
fi
ln -sf "$cache/promtool" "$out/promtool"
