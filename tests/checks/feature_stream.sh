#!/usr/bin/env bash
# The streaming feature pipeline against the live services: a transaction inserted
# through ODP updates its user's features within one second; entries appended while the
# worker is down, and entries delivered to it but never acknowledged, are all applied
# once it is back (none lost, none applied twice).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
rcli() { redis-cli -p "$ODP_REDIS_PORT" "$@"; }
tag="stream_$$_$RANDOM"
cleanup() {
  { q "ALTER SYSTEM RESET odp.feature_stream" && q "SELECT pg_reload_conf()"; } >/dev/null 2>&1 || true
  q "DROP FOREIGN TABLE IF EXISTS $tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT
count_of() { q "SELECT coalesce((SELECT purchase_count FROM features.user_features WHERE user_id = '$1'), 0)"; }
worker_pid() { q "SELECT worker_pid FROM odp.pipeline_status()"; }
wait_until() { # seconds, condition...
  local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt "$deadline" ]; do "$@" && return 0; sleep 0.02; done
  return 1
}

[ -n "$(worker_pid)" ] || { echo "the feature stream worker is not running"; exit 1; }
q "SELECT odp.refresh_features()" >/dev/null 2>&1
q "CREATE FOREIGN TABLE $tag (transaction_id text, user_id text, product_id text, quantity int4,
     total_amount float8, transaction_time timestamptz)
   SERVER lake OPTIONS (path 'writes/$tag', create_if_missing 'true')"
q "CREATE TRIGGER publish AFTER INSERT ON $tag FOR EACH ROW EXECUTE FUNCTION odp.publish_transaction()"
read -r product category <<<"$(q "SELECT product_id, category FROM heap.products ORDER BY product_id LIMIT 1" | tr '|' ' ')"

# 1. one transaction, visible within a second, category first
user=$(q "SELECT min(user_id) FROM heap.users")
before=$(count_of "$user")
start=$(date +%s%N)
q "INSERT INTO $tag VALUES ('${tag}_1', '$user', '$product', 1, 42.5, now())"
has_one_more() { [ "$(count_of "$user")" = $((before + 1)) ]; }
wait_until 1 has_one_more || { echo "feature not updated within 1 s ($(count_of "$user") vs $before)"; exit 1; }
latency_ms=$(( ($(date +%s%N) - start) / 1000000 ))
first=$(q "SELECT last_categories[1] FROM features.user_features WHERE user_id = '$user'")
[ "$first" = "$category" ] || { echo "last_categories starts with '$first', not '$category'"; exit 1; }

# 2. the worker is killed; 40 transactions (4 commits) arrive while it is down
user2=$(q "SELECT max(user_id) FROM heap.users")
before2=$(count_of "$user2")
old=$(worker_pid)
q "ALTER SYSTEM SET odp.feature_stream = off" && q "SELECT pg_reload_conf()" >/dev/null
# the worker now idles (switched off); a SIGTERM during that wait must still stop it
sleep 1
q "SELECT pg_terminate_backend($old)" >/dev/null
old_gone() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE pid = $old")" = 0 ]; }
wait_until 5 old_gone || { echo "the worker did not stop"; exit 1; }
for batch in 1 2 3 4; do
  q "INSERT INTO $tag SELECT '${tag}_b${batch}_' || g, '$user2', '$product', 1, 10, now() FROM generate_series(1, 10) g"
done
# 3. two entries are delivered to the worker's consumer and never acknowledged (as if it
#    died right after reading them)
rcli XREADGROUP GROUP odp-features "odp feature stream" COUNT 2 STREAMS odp:stream:transactions '>' >/dev/null
sleep 0.5
[ "$(count_of "$user2")" = "$before2" ] || { echo "features changed while the worker was off"; exit 1; }
q "ALTER SYSTEM RESET odp.feature_stream" && q "SELECT pg_reload_conf()" >/dev/null
has_all() { [ "$(count_of "$user2")" = $((before2 + 40)) ]; }
wait_until 15 has_all || { echo "after restart: $(count_of "$user2"), expected $((before2 + 40))"; exit 1; }
new=$(worker_pid)
[ -n "$new" ] && [ "$new" != "$old" ] || { echo "the worker was not restarted ($old -> $new)"; exit 1; }
sleep 0.3
[ "$(count_of "$user2")" = $((before2 + 40)) ] || { echo "an entry was applied twice"; exit 1; }
pending=$(q "SELECT pending FROM odp.pipeline_status()")
[ "$pending" = 0 ] || { echo "$pending entries left pending"; exit 1; }
echo "stream: visible in ${latency_ms} ms; 40 entries across a worker restart applied exactly once"
