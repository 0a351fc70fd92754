#!/usr/bin/env bash
# Prints the --build-arg flags that pin the Dockerfile's base images (its ARG
# BUILD_IMAGE and RUNTIME_IMAGE defaults) by digest: hack/pin-bases.sh Dockerfile.
# Needs crane (github.com/google/go-containerregistry/cmd/crane) and the registry.
set -euo pipefail

dockerfile=${1:-Dockerfile}
command -v crane >/dev/null || {
  echo "pin-bases: crane not found: go install github.com/google/go-containerregistry/cmd/crane@latest" >&2
  exit 1
}
for arg in BUILD_IMAGE RUNTIME_IMAGE; do
  ref=$(sed -n "s/^ARG $arg=//p" "$dockerfile")
  [[ -n $ref ]] || { echo "pin-bases: no ARG $arg= in $dockerfile" >&2; exit 1; }
  # A multi-platform index digest, so that every TARGETPLATFORM resolves.
  digest=$(crane digest "$ref")
  printf -- '--build-arg %s=%s@%s ' "$arg" "${ref%@*}" "$digest"
done
echo
