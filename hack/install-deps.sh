#!/usr/bin/env bash
# Installs what slotsync's tests and `make dev` need and a fresh machine may lack.
# Idempotent: it installs nothing that is already there.
set -euo pipefail

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

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need[*]}; run as root or install them: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]} from Debian"
  apt-get update -qq
  # kubectl is not in every Debian release; Postgres is what the tests cannot do without.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql openssl
  }
fi
have_initdb || { echo "initdb still not found after installing postgresql" >&2; exit 1; }
