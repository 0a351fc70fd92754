#!/usr/bin/env bash
# Checks the PrometheusRule of config/prometheus with promtool: its syntax
# (check rules) and that the alerts fire on the series of alerts_test.yaml and
# only there (test rules). promtool reads plain rule files, so the Rule's spec,
# the last key of alerts.yaml, is written out unindented first.
#
#   hack/check-rules.sh PROMTOOL
set -euo pipefail

promtool=${1:?usage: check-rules.sh PROMTOOL}
dir=$(cd "$(dirname "$0")/../config/prometheus" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awk 'found { sub(/^  /, ""); print } /^spec:/ { found = 1 }' "$dir/alerts.yaml" > "$tmp/slotsync.rules.yaml"
[ -s "$tmp/slotsync.rules.yaml" ] || { echo "no spec: in $dir/alerts.yaml" >&2; exit 1; }
cp "$dir/alerts_test.yaml" "$tmp/"
"$promtool" check rules "$tmp/slotsync.rules.yaml"
"$promtool" test rules "$tmp/alerts_test.yaml"
