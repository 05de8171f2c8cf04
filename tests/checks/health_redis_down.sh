#!/usr/bin/env bash
# odp.health() must report a stopped Redis as unreachable, quickly, then as reachable
# again once it is back.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
q() { psql -X -qAt -c "$1"; }
[ "$(q "SELECT reachable FROM odp.health() WHERE name = 'redis'")" = t ] || { echo "redis should be up"; exit 1; }
bash "$ODP_ROOT/scripts/services.sh" stop redis
trap 'bash "$ODP_ROOT/scripts/services.sh" start redis' EXIT
start=$(date +%s%N)
row=$(q "SELECT reachable, error IS NOT NULL FROM odp.health() WHERE name = 'redis'")
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$row" = "f|t" ] || { echo "stopped redis reported as: $row"; exit 1; }
[ "$elapsed_ms" -lt 5000 ] || { echo "health took ${elapsed_ms} ms with redis down"; exit 1; }
bash "$ODP_ROOT/scripts/services.sh" start redis
trap - EXIT
[ "$(q "SELECT reachable FROM odp.health() WHERE name = 'redis'")" = t ] || { echo "redis not seen back"; exit 1; }
