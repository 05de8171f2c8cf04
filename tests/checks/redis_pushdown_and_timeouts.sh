#!/usr/bin/env bash
# Redis, checked from the server's side: a key qual issues no SCAN (command statistics),
# a join through the parameterized path reads each key directly, and a server that
# accepts connections but never answers fails within command_timeout_ms.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
rcli() { redis-cli -p "$ODP_REDIS_PORT" "$@"; }
calls() { rcli INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0; }
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

q "SELECT odp.refresh_features()" >/dev/null 2>&1
user=$(q "SELECT min(user_id) FROM heap.users")
rcli CONFIG RESETSTAT >/dev/null
q "SELECT purchase_count FROM features.user_features WHERE user_id = '$user'" >/dev/null
q "SELECT count(*) FROM features.user_features WHERE user_id IN ('$user', 'nobody')" >/dev/null
[ "$(calls scan)" = 0 ] || { echo "a key lookup issued SCAN"; exit 1; }
# one TYPE and one HMGET per key looked up, in one round trip per query
[ "$(calls hmget)" = 3 ] || { echo "expected 3 HMGET calls, saw $(calls hmget)"; exit 1; }
[ "$(calls type)" = 3 ] || { echo "expected 3 TYPE calls, saw $(calls type)"; exit 1; }

rcli CONFIG RESETSTAT >/dev/null
joined=$(q "SELECT count(f.purchase_count) FROM lake.users u JOIN features.user_features f USING (user_id) WHERE u.created_date < '2025-03-01'")
[ "$(calls scan)" = 0 ] || { echo "the join scanned the feature store"; exit 1; }
[ "$(calls hmget)" = "$joined" ] || { echo "join: $joined rows but $(calls hmget) HMGETs"; exit 1; }

rcli CONFIG RESETSTAT >/dev/null
q "SELECT count(*) FROM features.user_features" >/dev/null
[ "$(calls scan)" -gt 0 ] || { echo "a full read issued no SCAN"; exit 1; }

# A listener that accepts and never answers: the query must fail within the timeout.
port=$((ODP_REDIS_PORT + 7))
"$ODP_VENV/bin/python" -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(8)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
" &
listener=$!
trap 'kill $listener 2>/dev/null || true' EXIT
sleep 0.5
start=$(date +%s%N)
out=$(psql -X -qAt 2>&1 <<SQL || true
CREATE SERVER silent FOREIGN DATA WRAPPER redis_fdw
    OPTIONS (url 'redis://127.0.0.1:$port', connect_timeout_ms '400', command_timeout_ms '400');
CREATE FOREIGN TABLE silent_t (id int, v text) SERVER silent OPTIONS (key_template 'k:{id}');
SELECT * FROM silent_t WHERE id = 1;
DROP SERVER silent CASCADE;
SQL
)
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
q "DROP SERVER IF EXISTS silent CASCADE" >/dev/null 2>&1
echo "$out" | grep -qE "(did not answer within 400 ms|no connection within 400 ms)" || { echo "silent server gave: $out"; exit 1; }
[ "$elapsed_ms" -lt 3000 ] || { echo "silent server took ${elapsed_ms} ms"; exit 1; }
echo "key lookups: no SCAN; join: $joined direct lookups; silent server failed in ${elapsed_ms} ms"
