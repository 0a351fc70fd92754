#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries that envtest and `make dev` need from the
# Go module proxy (no release binaries can be downloaded on our machines), once per
# version. Results are cached per user, outside any clone, and linked into bin/.
#
#   hack/build-k8s.sh OUT_DIR [binary ...]    binaries: etcd kube-apiserver
#                                             kube-controller-manager kube-scheduler
#                                             kubelet kube-proxy (the real node)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
out=${1:?usage: build-k8s.sh OUT_DIR [binary ...]}
shift
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(etcd kube-apiserver)

cache=${SLOTSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slotsync}/k8s-$K8S_VERSION-etcd-$ETCD_VERSION
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)

log() { printf '[k8s-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=hack/lib/tools-module.sh
. "$(dirname "$0")/lib/tools-module.sh"

# Every command the k8s module can build; a cache made before one was added gets it
# added to its tools file (go mod tidy extends go.sum) instead of a fresh module, so
# the binaries already built stay valid.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

write_k8s_tools() {
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${K8S_CMDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } > "$1/tools.go"
}

k8s_module() {
  local dir=$cache/src-kubernetes
  if [ ! -f "$dir/go.sum" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    (
      cd "$dir"
      go mod init slotsync.local/k8sbuild >/dev/null 2>&1
      log "downloading k8s.io/kubernetes@$K8S_VERSION"
      local gomod
      gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
      local minor=${K8S_VERSION#v1.}
      # Every staging module is replaced by its published v0.Y.Z twin.
      grep -oE '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u |
        while read -r m; do go mod edit -replace "$m=$m@v0.$minor"; done
      go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
      write_k8s_tools "$dir"
      log "resolving module graph"
      go mod tidy >/dev/null
    )
  elif ! grep -q '"k8s.io/kubernetes/cmd/kube-proxy"' "$dir/tools.go"; then
    log "adding kubelet and kube-proxy to $dir"
    write_k8s_tools "$dir"
    (cd "$dir" && go mod tidy >/dev/null)
  fi
  echo "$dir"
}

etcd_module() {
  local dir=$cache/src-etcd
  tools_module "$dir" slotsync.local/etcdbuild "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3
  echo "$dir"
}

for b in "${bins[@]}"; do
  if [ ! -x "$cache/$b" ]; then
    start=$(date +%s)
    case $b in
      etcd)
        dir=$(etcd_module)
        log "building etcd $ETCD_VERSION (about 30 s)"
        (cd "$dir" && CGO_ENABLED=0 go build -o "$cache/$b.tmp" go.etcd.io/etcd/server/v3) ;;
      kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy)
        dir=$(k8s_module)
        log "building $b $K8S_VERSION (2-5 min on 2 cores, once; cached in $cache)"
        (cd "$dir" && CGO_ENABLED=0 go build -o "$cache/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
      *) echo "unknown binary $b" >&2; exit 2 ;;
    esac
    mv "$cache/$b.tmp" "$cache/$b"
    log "built $b in $(( $(date +%s) - start ))s"
  fi
  # OUT_DIR may be the cache itself (a symlink to it); linking there would replace the binary.
  [ "$out/$b" -ef "$cache/$b" ] || ln -sf "$cache/$b" "$out/$b"
done
