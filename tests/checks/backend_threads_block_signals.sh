#!/usr/bin/env bash
# Threads that libraries start inside a backend (the Delta kernel's executor, Tokio's
# blocking pool for file I/O and DNS) must block Postgres's signals, so its handlers
# (statement timeout, cancel, termination, latches) run on the backend thread only; the
# backend thread itself must have them unblocked again after each call.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
out=$(psql -X -qAt -v ON_ERROR_STOP=1 <<'SQL'
SELECT pg_backend_pid() AS pid \gset
SELECT count(*) > 0 FROM lake.transactions WHERE txn_date = '2026-02-02';
SELECT count(*) > 0 FROM s3lake.products WHERE category = 'books';
\setenv ODP_BACKEND_PID :pid
\! for t in /proc/$ODP_BACKEND_PID/task/*; do printf '%s %s\n' "${t##*/}" "$(awk '/^SigBlk/ {print $2}' "$t/status")"; done
\echo pid :pid
SQL
)
pid=$(echo "$out" | sed -n 's/^pid //p')
threads=0
for signal in 1 2 3 10 12 14 15; do  # HUP INT QUIT USR1 USR2 ALRM TERM
  while read -r tid mask; do
    blocked=$(( (16#$mask >> (signal - 1)) & 1 ))
    if [ "$tid" = "$pid" ]; then
      [ "$blocked" = 0 ] || { echo "backend thread still blocks signal $signal (mask $mask)"; exit 1; }
    else
      [ "$blocked" = 1 ] || { echo "thread $tid does not block signal $signal (mask $mask)"; exit 1; }
    fi
  done < <(echo "$out" | grep -E '^[0-9]+ [0-9a-f]+$')
done
threads=$(echo "$out" | grep -cE '^[0-9]+ [0-9a-f]+$')
[ "$threads" -gt 1 ] || { echo "no helper threads were started: the check proves nothing"; exit 1; }
echo "backend $pid: $((threads - 1)) helper threads, all blocking Postgres's signals"
