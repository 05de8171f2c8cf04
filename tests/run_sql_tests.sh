#!/usr/bin/env bash
# Runs the SQL regression files (tests/sql/*.sql against tests/expected/*.out), then the
# live-service checks (health with Redis stopped) and the FDW-vs-heap differential tests
# (Delta: differential.py; Redis, objects, data files, graph: differential_sources.py).
# ODP_ACCEPT=1 rewrites the expected files from the current output (review the diff!).
set -uo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$ODP_ROOT/tests"
mkdir -p results
failed=0
for sql in sql/*.sql; do
  name=$(basename "$sql" .sql)
  psql -X -a -q -v lake_root="$ODP_DATA/lake-${ODP_SEED_SCALE:-0.01}" \
    -v redis_url="redis://127.0.0.1:$ODP_REDIS_PORT" -v redis_port="$ODP_REDIS_PORT" \
    -v bolt_url="bolt://127.0.0.1:$ODP_BOLT_PORT" -v graph_password="$ODP_GRAPH_PASSWORD" \
    -v s3_endpoint="http://127.0.0.1:$ODP_S3_PORT" <"$sql" >"results/$name.out" 2>&1
  if [ "${ODP_ACCEPT:-0}" = 1 ]; then cp "results/$name.out" "expected/$name.out"; fi
  if diff -u "expected/$name.out" "results/$name.out" >"results/$name.diff"; then
    echo "ok   sql/$name"
  else
    echo "FAIL sql/$name (see tests/results/$name.diff)"; cat "results/$name.diff"; failed=1
  fi
done
for check in checks/*.sh; do
  if bash "$check"; then echo "ok   $check"; else echo "FAIL $check"; failed=1; fi
done
if "$ODP_VENV/bin/python" differential.py; then echo "ok   differential"; else echo "FAIL differential"; failed=1; fi
if "$ODP_VENV/bin/python" differential_sources.py; then echo "ok   differential_sources"; else echo "FAIL differential_sources"; failed=1; fi
exit $failed
