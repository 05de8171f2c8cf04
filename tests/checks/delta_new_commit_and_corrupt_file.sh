#!/usr/bin/env bash
# A commit by another writer is seen by the next query (same session, cached snapshot);
# a corrupt data file gives a clear error (SQLSTATE XX001) and the session survives.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
work=$(mktemp -d "$ODP_DATA/check.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$ODP_DATA/lake-${ODP_SEED_SCALE:-0.01}/products" "$work/products"
chown -R postgres:postgres "$work"

run_session() { # one psql session: count, wait for a commit by another writer, count again
  psql -X -qAt -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE counts (n bigint);
CREATE FOREIGN TABLE pg_temp.p (product_id text) SERVER lake OPTIONS (path '$work/products');
INSERT INTO counts SELECT count(*) FROM pg_temp.p;
\! "$ODP_VENV/bin/python" -c "import pyarrow as pa, sys; from deltalake import write_deltalake; from deltalake import DeltaTable; t = DeltaTable('$work/products'); write_deltalake('$work/products', pa.table({'product_id': ['p_new'], 'name': ['New'], 'category': ['books'], 'price': [1.0], 'created_at': pa.array([0], pa.timestamp('us', tz='UTC'))}), mode='append')"
INSERT INTO counts SELECT count(*) FROM pg_temp.p;
SELECT string_agg(n::text, ' ' ORDER BY n) FROM counts;
SQL
}
counts=$(run_session)
first=${counts%% *}; second=${counts##* }
[ "$second" -eq $((first + 1)) ] || { echo "new commit not seen: counts $counts"; exit 1; }

# Corrupt one data file: the query must fail cleanly, the backend must stay up.
victim=$(find "$work/products" -name '*.parquet' | sort | head -n 1)
printf 'not parquet at all' >"$victim"
out=$(psql -X -qAt 2>&1 <<SQL
CREATE FOREIGN TABLE pg_temp.p (product_id text, price float8) SERVER lake OPTIONS (path '$work/products');
\set VERBOSITY verbose
SELECT sum(price) FROM pg_temp.p;
\set VERBOSITY default
SELECT 'alive';
SQL
)
echo "$out" | grep -q "XX001" || { echo "expected SQLSTATE XX001, got: $out"; exit 1; }
echo "$out" | grep -q "^alive$" || { echo "session did not survive: $out"; exit 1; }
