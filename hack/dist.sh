#!/usr/bin/env bash
# Renders config/default into one file with the image pinned: hack/dist.sh IMAGE OUT.
# IMAGE is name:tag or name@sha256:digest. The manager's and the API's containers
# and the Jobs' default image (SLOTSYNC_WORKER_IMAGE) all get it.
set -euo pipefail

image=${1:?usage: hack/dist.sh IMAGE OUT}
out=${2:?usage: hack/dist.sh IMAGE OUT}
root=$(cd "$(dirname "$0")/.." && pwd)

# kustomize images: a digest, else a tag after the last colon of the last path part.
name=$image field=newTag value=
if [[ $image == *@* ]]; then
  name=${image%%@*} field=digest value=${image#*@}
elif [[ ${image##*/} == *:* ]]; then
  name=${image%:*} value=${image##*:}
else
  echo "hack/dist.sh: $image has neither tag nor digest; a release pins one" >&2
  exit 2
fi

# kustomize refuses absolute resource paths: build an overlay beside a copy of config/.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R "$root/config" "$tmp/config"
mkdir "$tmp/dist"
cat >"$tmp/dist/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../config/default
images:
- name: slotsync
  newName: $name
  $field: "$value"
# config/default copied the manager's image into SLOTSYNC_WORKER_IMAGE before
# this overlay changed it: copy it again.
replacements:
- source:
    kind: Deployment
    name: slotsync-manager
    fieldPath: spec.template.spec.containers.[name=manager].image
  targets:
  - select:
      kind: Deployment
      name: slotsync-manager
    fieldPaths:
    - spec.template.spec.containers.[name=manager].env.[name=SLOTSYNC_WORKER_IMAGE].value
YAML
mkdir -p "$(dirname "$out")"
{
  echo "# slotsync $image: kubectl apply --server-side -f install.yaml (docs/install.md)"
  kubectl kustomize "$tmp/dist"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out for $image"
