#!/usr/bin/env bash
# Concurrent writers lose nothing (2 and 8 sessions on local disk, 2 on the S3 server):
# every acknowledged row is in the table, one commit per transaction; 1M rows go in
# through INSERT ... SELECT and COPY FROM with bounded backend memory; and the Python
# deltalake package reads every version ODP wrote.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
lake="$ODP_DATA/lake-${ODP_SEED_SCALE:-0.01}"
tables=()
cleanup() { for t in "${tables[@]}"; do psql -X -qAt -c "DROP FOREIGN TABLE IF EXISTS $t" >/dev/null; done; }
trap cleanup EXIT
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

create() { # name server path
  tables+=("$1")
  q "CREATE FOREIGN TABLE $1 (session int, n bigint, payload text) SERVER $2
     OPTIONS (path '$3', create_if_missing 'true')"
}

concurrent() { # table sessions transactions-per-session rows-per-transaction
  local table=$1 sessions=$2 txns=$3 rows=$4 pids=()
  for s in $(seq 1 "$sessions"); do
    (for t in $(seq 1 "$txns"); do
       q "INSERT INTO $table SELECT $s, g, md5(g::text) FROM generate_series(1, $rows) g" >/dev/null
     done) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local expected=$((sessions * txns * rows)) got per
  got=$(q "SELECT count(*) FROM $table")
  [ "$got" = "$expected" ] || { echo "$table: $got rows, expected $expected"; exit 1; }
  per=$(q "SELECT count(DISTINCT session) || ' ' || min(c) || ' ' || max(c) FROM (SELECT session, count(*) c FROM $table GROUP BY 1) s")
  [ "$per" = "$sessions $((txns * rows)) $((txns * rows))" ] || { echo "$table: per-session counts $per"; exit 1; }
  echo "$table: $sessions sessions x $txns transactions x $rows rows, all $got rows present"
}

tag="$$_$RANDOM"
create cw2_$tag lake "writes/cw2_$tag"
concurrent cw2_$tag 2 5 2000
create cw8_$tag lake "writes/cw8_$tag"
concurrent cw8_$tag 8 5 1000
commits=$(find "$lake/writes/cw8_$tag/_delta_log" -name '*.json' | wc -l)
[ "$commits" = 41 ] || { echo "cw8: $commits log entries, expected 41 (create + 40 transactions)"; exit 1; }

# the S3-compatible server: conditional put decides each commit
create cs2_$tag s3lake "writes/cs2_$tag"
concurrent cs2_$tag 2 3 500

# 1M rows through INSERT ... SELECT and COPY FROM in one session, bounded memory
create big_$tag lake "writes/big_$tag"
out=$(psql -X -qAt -v ON_ERROR_STOP=1 <<SQL
SELECT pg_backend_pid() AS pid \gset
INSERT INTO big_$tag SELECT 1, g, md5(g::text) FROM generate_series(1, 1000000) g;
COPY big_$tag (n) FROM PROGRAM 'seq 1 1000000';
SELECT 'rows=' || count(*) FROM big_$tag;
\setenv ODP_BACKEND_PID :pid
\! awk '/^VmHWM/ {print "hwm_kb=" \$2}' /proc/\$ODP_BACKEND_PID/status
SQL
)
echo "$out" | grep -q '^rows=2000000$' || { echo "big: $out"; exit 1; }
hwm=$(echo "$out" | sed -n 's/^hwm_kb=//p')
[ "$hwm" -lt 524288 ] || { echo "big: backend peak memory ${hwm} kB"; exit 1; }
echo "big: 2M rows written, backend peak memory $((hwm / 1024)) MB"

# an independent reader: every version of every table ODP wrote
"$ODP_VENV/bin/python" - "$lake" "cw2_$tag" "cw8_$tag" "big_$tag" <<'PY'
import os, sys
from deltalake import DeltaTable
root, names = sys.argv[1], sys.argv[2:]
for name in names:
    path = os.path.join(root, "writes", name)
    latest = DeltaTable(path).version()
    rows = [DeltaTable(path, version=v).to_pyarrow_table().num_rows for v in range(latest + 1)]
    assert rows == sorted(rows) and rows[0] == 0, (name, rows)
    print(f"{name}: python deltalake read versions 0..{latest}, {rows[-1]} rows at the latest")
sys.stdout.flush()
os._exit(0)
PY
