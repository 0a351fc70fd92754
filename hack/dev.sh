#!/usr/bin/env bash
# `make dev` until the local cluster lands: a throwaway Postgres, the partner simulator
# and a sync loop for products 14 and 15, all on loopback. Ctrl-C stops everything.
# Data lives in .dev/ and is wiped at each start.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)/.dev
rm -rf "$root"; mkdir -p "$root"
pgbin=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PGPORT=${PGPORT:-55432}
SIM_ADDR=${SIM_ADDR:-127.0.0.1:8081}
INTERVAL=${INTERVAL:-60}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$root"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$root/pg" -m fast stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

as_pg "$pgbin/initdb" -D "$root/pg" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$pgbin/pg_ctl" -D "$root/pg" -l "$root/pg.log" -w \
  -o "-p $PGPORT -k $root -c listen_addresses=127.0.0.1" start >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"
export PARTNER_API_KEY=dev-key
bin/slotsync migrate

bin/slotsync partner-sim --listen "$SIM_ADDR" >"$root/partner-sim.log" 2>&1 &
pids+=($!)

cat <<MSG

slotsync dev is up (Postgres on 127.0.0.1:$PGPORT, partner simulator on $SIM_ADDR).
Look at the data:
  psql '$DATABASE_URL' -c 'select * from inventory_syncs order by product_id, date'
  curl -H 'x-api-key: dev-key' 'http://$SIM_ADDR/api/v1/inventory/14?date=$(date +%F)'
Syncing products 14 and 15 for the next 30 days every ${INTERVAL}s. Ctrl-C stops everything.

MSG
while true; do
  bin/slotsync sync --products 14,15 --from-day 0 --to-day 29 --partner-url "http://$SIM_ADDR" \
    --termination-log "$root/last-summary.json" || true
  sleep "$INTERVAL" & pids+=($!); wait $! || true
done
