#!/usr/bin/env bash
# Runs the showcase, sql/demo.sql, on the running services with the seed loaded (make
# demo prints it; make test runs it too, so the demo cannot rot). Fails on the first SQL
# error, or when the tour takes 30 s or more.
# usage: demo.sh [psql options...]
set -euo pipefail
. "$(dirname "$0")/env.sh"
scale=${ODP_SEED_SCALE:-0.01}
# the demo's scratch Delta table starts empty at every run
rm -rf "$ODP_DATA/lake-$scale/demo"
start=$(date +%s%N)
psql -X -v ON_ERROR_STOP=1 -v demo_user=u0000042 -f "$ODP_ROOT/sql/demo.sql" "$@"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
log "demo ran in $elapsed_ms ms"
[ "$elapsed_ms" -lt 30000 ] || { echo "the demo took ${elapsed_ms} ms (limit 30 s)" >&2; exit 1; }
