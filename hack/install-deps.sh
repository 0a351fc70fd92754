#!/usr/bin/env bash
# Installs what slotsync's tests and `make dev` need and a fresh machine may lack.
# Idempotent: it installs nothing that is already there.
#
#   hack/install-deps.sh               what `make test` and the process node need
#   hack/install-deps.sh --real-node   also containerd, runc, the CNI plugins and
#                                      iptables, for the real node (make e2e-real)
set -euo pipefail

real_node=false
case ${1:-} in
  --real-node) real_node=true ;;
  "") ;;
  *) echo "usage: $0 [--real-node]" >&2; exit 2 ;;
esac

have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

need=()
have_initdb || need+=(postgresql)
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# make openapi-lint runs the OpenAPI linter from the npm registry.
command -v npm >/dev/null 2>&1 || need+=(npm)
if $real_node; then
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  # Debian puts the CNI plugins in /usr/lib/cni, off PATH.
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need[*]}; run as root or install them: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]} from Debian"
  apt-get update -qq
  # kubectl is not in every Debian release; Postgres is what the tests cannot do without.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" || {
    fallback=(postgresql openssl)
    $real_node && fallback+=(containerd runc containernetworking-plugins iptables)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${fallback[@]}"
  }
fi
have_initdb || { echo "initdb still not found after installing postgresql" >&2; exit 1; }
if $real_node; then
  for b in containerd runc iptables /usr/lib/cni/bridge; do
    command -v "$b" >/dev/null 2>&1 || { echo "$b still not found after installing the real node's packages" >&2; exit 1; }
  done
fi
