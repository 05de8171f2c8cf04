#!/usr/bin/env bash
# Long adapter work stops within a second of a cancel: statement_timeout on a scan of
# the SF1 transactions that reads every file and returns nothing (the Arrow filter drops
# every row, so Postgres's own per-row checks never run), ANALYZE of the same table,
# pg_cancel_backend, and pg_terminate_backend.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
lake=$(bash "$ODP_ROOT/tests/seed/generate.sh" 1)
table="CREATE FOREIGN TABLE pg_temp.t (transaction_id text, user_id text, product_id text,
  quantity int4, total_amount float8, transaction_time timestamptz, txn_date date)
  SERVER lake OPTIONS (path '$lake/transactions');"
# every file's user_id range holds this value, and no row has it; only user_id is
# decoded (late materialization), so the table is scanned eight times to last seconds
one="SELECT * FROM pg_temp.t WHERE user_id = 'u0000500x'"
scan="$one$(for _ in 1 2 3 4 5 6 7; do printf ' UNION ALL %s' "$one"; done)"

# statement_timeout: prints the SQLSTATE and how long the statement ran
timed() { # statement
  psql -X -qAt -v ON_ERROR_STOP=0 2>&1 <<SQL
$table
EXPLAIN (COSTS OFF) SELECT * FROM pg_temp.t;
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '100ms';
\set VERBOSITY sqlstate
$1;
RESET statement_timeout;
SELECT 'elapsed_ms=' || round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
SQL
}
check_timeout() { # label statement
  local out elapsed
  out=$(timed "$2")
  elapsed=$(echo "$out" | sed -n 's/^elapsed_ms=//p')
  echo "$out" | grep -q "57014" || { echo "$1: expected SQLSTATE 57014, got: $out"; exit 1; }
  [ -n "$elapsed" ] && [ "$elapsed" -lt 1000 ] || { echo "$1: stopped after ${elapsed:-?} ms"; exit 1; }
  echo "$1: statement_timeout 100ms stopped it after $elapsed ms"
}
check_timeout "scan returning nothing" "$scan"
check_timeout "ANALYZE" "ANALYZE pg_temp.t"

# pg_cancel_backend / pg_terminate_backend from another session, 300 ms into the scan
check_signal() { # label function expected-text
  local out start stop
  psql -X -qAt -v ON_ERROR_STOP=0 >"$ODP_RUN/cancel.out" 2>&1 <<SQL &
SET application_name = 'odp_cancel_check';
$table
$scan;
SELECT 'survived';
SQL
  local client=$!
  for _ in $(seq 1 50); do
    [ "$(psql -X -qAt -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'odp_cancel_check' AND query LIKE '%u0000500x%'")" = 1 ] && break
    sleep 0.1
  done
  sleep 0.3
  start=$(date +%s%N)
  psql -X -qAt -c "SELECT $2(pid) FROM pg_stat_activity WHERE application_name = 'odp_cancel_check'" >/dev/null
  wait "$client" || true
  stop=$(date +%s%N)
  out=$(cat "$ODP_RUN/cancel.out")
  echo "$out" | grep -q "$3" || { echo "$1: expected '$3', got: $out"; exit 1; }
  local ms=$(( (stop - start) / 1000000 ))
  [ "$ms" -lt 1000 ] || { echo "$1: took $ms ms"; exit 1; }
  echo "$1: ended $ms ms after the signal"
}
check_signal "pg_cancel_backend" pg_cancel_backend "canceling statement due to user request"
check_signal "pg_terminate_backend" pg_terminate_backend "terminating connection"
