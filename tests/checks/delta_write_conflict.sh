#!/usr/bin/env bash
# Two transactions update the same rows: the second to commit fails with SQLSTATE 40001
# (serialization_failure) and changes nothing; the first one's update stays.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
table="wc_$$_$RANDOM"
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
trap 'q "DROP FOREIGN TABLE IF EXISTS $table" >/dev/null' EXIT
q "CREATE FOREIGN TABLE $table (id bigint, v text) SERVER lake OPTIONS (path 'writes/$table', create_if_missing 'true')"
q "INSERT INTO $table SELECT g, 'start' FROM generate_series(1, 100) g"
# the slow transaction reads and rewrites id 1's file, then waits before committing
psql -X -qAt -v ON_ERROR_STOP=0 >"$ODP_RUN/conflict.out" 2>&1 <<SQL &
\set VERBOSITY verbose
BEGIN;
UPDATE $table SET v = 'slow' WHERE id = 1;
SELECT pg_sleep(1.5);
COMMIT;
SQL
slow=$!
sleep 0.5
q "UPDATE $table SET v = 'fast' WHERE id = 2" >/dev/null
wait "$slow" || true
grep -q "40001" "$ODP_RUN/conflict.out" || { echo "expected 40001, got:"; cat "$ODP_RUN/conflict.out"; exit 1; }
got=$(q "SELECT string_agg(v, ',' ORDER BY id) FROM $table WHERE id <= 3")
[ "$got" = "start,fast,start" ] || { echo "after the conflict: $got"; exit 1; }
[ "$(q "SELECT count(*) FROM $table")" = 100 ] || { echo "rows lost or duplicated"; exit 1; }
echo "conflicting UPDATE failed with 40001; the committed one stays"
