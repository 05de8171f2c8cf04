#!/usr/bin/env bash
# The streaming feature pipeline against the live services: a transaction inserted
# through ODP updates its user's features within one second; purchases committed while
# the worker is down, purchases it claimed and never applied, and a purchase it applied
# and never deleted from the outbox are all applied exactly once when it is back; a
# purchase without an amount counts as a purchase and leaves the average alone, as the
# batch pipeline does.
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
# 3. two purchases are claimed and never applied (as if the worker died right after
#    claiming them)
q "UPDATE odp.feature_outbox SET applied_as = nextval('odp.feature_apply_seq')
    WHERE id IN (SELECT id FROM odp.feature_outbox WHERE user_id = '$user2' AND applied_as IS NULL ORDER BY id LIMIT 2)" >/dev/null
sleep 0.5
[ "$(count_of "$user2")" = "$before2" ] || { echo "features changed while the worker was off"; exit 1; }
q "ALTER SYSTEM RESET odp.feature_stream" && q "SELECT pg_reload_conf()" >/dev/null
has_all() { [ "$(count_of "$user2")" = $((before2 + 40)) ]; }
wait_until 15 has_all || { echo "after restart: $(count_of "$user2"), expected $((before2 + 40))"; exit 1; }
new=$(worker_pid)
[ -n "$new" ] && [ "$new" != "$old" ] || { echo "the worker was not restarted ($old -> $new)"; exit 1; }
sleep 0.3
[ "$(count_of "$user2")" = $((before2 + 40)) ] || { echo "a purchase was applied twice"; exit 1; }
# 4. a purchase applied and never deleted (the worker died before forgetting it) comes
#    back with its apply number: the hash took it already, so it changes nothing
last=$(redis-cli -p "$ODP_REDIS_PORT" HGET "users:$user2:features" stream_id)
q "INSERT INTO odp.feature_outbox (applied_as, user_id, product_id, total_amount) VALUES ($last, '$user2', '$product', 99)"
drained() { [ "$(q "SELECT count(*) FROM odp.feature_outbox WHERE user_id = '$user2'")" = 0 ]; }
wait_until 5 drained || { echo "the re-applied purchase stayed in the outbox"; exit 1; }
[ "$(count_of "$user2")" = $((before2 + 40)) ] || { echo "a purchase applied before was applied again"; exit 1; }
pending=$(q "SELECT pending FROM odp.pipeline_status()")
[ "$pending" = 0 ] || { echo "$pending purchases left pending"; exit 1; }
# 5. NULL amounts: counted, not averaged; the batch pipeline computes the same
user3="${tag}_user3"
q "INSERT INTO $tag VALUES ('${tag}_n1', '$user3', '$product', 1, 10, now()), ('${tag}_n2', '$user3', '$product', 1, NULL, now()), ('${tag}_n3', '$user3', '$product', 1, 20, now())"
drained3() { [ "$(q "SELECT count(*) FROM odp.feature_outbox WHERE user_id = '$user3'")" = 0 ]; }
wait_until 5 drained3 || { echo "the NULL-amount purchases were not applied"; exit 1; }
streamed=$(q "SELECT purchase_count || ' ' || round(avg_order_value::numeric, 6) FROM features.user_features WHERE user_id = '$user3'")
q "SELECT odp.refresh_features(transactions => 'public.$tag')" >/dev/null 2>&1
batch=$(q "SELECT purchase_count || ' ' || round(avg_order_value::numeric, 6) FROM features.user_features WHERE user_id = '$user3'")
[ "$streamed" = "$batch" ] && [ "$batch" = "3 15.000000" ] || { echo "NULL amount: stream gave '$streamed', batch '$batch'"; exit 1; }
echo "stream: visible in ${latency_ms} ms; 40 purchases across a worker restart, 2 claimed and 1 applied before, applied exactly once; NULL amounts as the batch"
