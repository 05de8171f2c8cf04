#!/usr/bin/env bash
# Load soak (issue 25, Reliability): a bounded-time pgbench run on loopback with custom
# scripts through ODP's foreign tables (tests/soak/*.pgbench): Redis feature lookups,
# Delta point and range reads, graph lookups over Bolt, object lookups on the S3
# stand-in, and inserts into a Delta table and a Redis table.
#
# Measures throughput, p99 latency (exact: from pgbench's per-transaction log, --log),
# errors (failed transactions and aborted clients), every insert there exactly once,
# and the growth of each pgbench backend's private memory (RssAnon in /proc: shared
# buffers and mapped files left out, since touching shared pages is not a leak) from
# the end of a warm-up (a quarter of the run: ODP's per-backend caches, connection pools
# and runtimes fill there) to the end. Prints
#   LOAD clients=16 tps=... p99_ms=... errors=0 rss_growth_mb=...
# and fails if errors > 0, an insert is missing or doubled, or rss_growth_mb is above
# ODP_SOAK_RSS_LIMIT_MB (default 64). Why 64: ODP's per-backend caches are bounded
# (Parquet footers and decoded files, 64 MB each) and the seed's lake is a few MB at
# scale 0.01; all scripts but the Delta insert, 60 s at 16 clients, grow a backend by
# 6.6 MB at most (caches filling, allocator). So 64 MB past the warm-up is a leak, not
# a cache: about 38 KB per transaction for the ~1,700 transactions a backend runs in the
# full 120 s. (A backend writing a Delta table grows by about 9 KB per commit today, so
# the full run is near the limit: reported with the growth in each half of the run.)
# pgbench's whole report is kept in tests/results/soak_load.out.
#
# usage: load.sh [--fast]   (--fast: 20 s, for make test; default 120 s)
#   ODP_SOAK_SECONDS and ODP_SOAK_CLIENTS override the duration and the clients.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
here="$ODP_ROOT/tests/soak"
seconds=120
if [ "${1:-}" = --fast ]; then seconds=20; fi
seconds=${ODP_SOAK_SECONDS:-$seconds}
clients=${ODP_SOAK_CLIENTS:-16}
limit_mb=${ODP_SOAK_RSS_LIMIT_MB:-64}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

# The seed's feature store and graph (a restarted Redis or graph server is empty)
if [ "$(q "SELECT count(*) FROM features.user_features WHERE user_id = 'u0000001'")" = 0 ]; then
  q "SELECT odp.refresh_features()" >/dev/null 2>&1
fi
if [ "$(q "SELECT count(*) FROM graph.users WHERE user_id = 'u0000001'")" = 0 ]; then
  q "SET client_min_messages = warning; SELECT * FROM odp.graph_sync(since => (SELECT max(transaction_time) - interval '7 days' FROM lake.transactions))" >/dev/null
fi

# The tables the inserts go to, new at every run
lake=$(q "SELECT option_value FROM pg_options_to_table((SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'lake')) WHERE option_name = 'root'")
# (an earlier run's leftovers go; this run's rows are under names of its own)
run=$$
q "SET client_min_messages = warning; DROP SCHEMA IF EXISTS soak_load CASCADE; DROP SERVER IF EXISTS soak_load_redis CASCADE"
rm -rf "$lake"/soak/load_d*
mkdir -p "$lake/soak" && chown postgres:postgres "$lake/soak"
redis-cli -p "$ODP_REDIS_PORT" --scan --pattern 'soak:load:*' | xargs -r -n 1000 redis-cli -p "$ODP_REDIS_PORT" DEL >/dev/null
q "CREATE SCHEMA soak_load;
   CREATE FOREIGN TABLE soak_load.d (id bigint, client int, at timestamptz) SERVER lake
     OPTIONS (path 'soak/load_d_$run', create_if_missing 'true');
   CREATE SERVER soak_load_redis FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:$ODP_REDIS_PORT');
   CREATE FOREIGN TABLE soak_load.r (id bigint, client int, note text) SERVER soak_load_redis
     OPTIONS (key_template 'soak:load:$run:{id}')"
q "INSERT INTO soak_load.d VALUES (0, 0, now())" && q "DELETE FROM soak_load.d"

read -r nusers nproducts ntx day0 ndays <<<"$(q "SELECT (SELECT count(*) FROM heap.users), (SELECT count(*) FROM heap.products),
  (SELECT count(*) FROM heap.transactions), min(txn_date) - date '2000-01-01', max(txn_date) - min(txn_date) + 1 FROM heap.transactions" | tr '|' ' ')"
defines=(-D nusers="$nusers" -D nproducts="$nproducts" -D ntx="$ntx" -D day0="$day0" -D ndays="$ndays")
# weights: mostly reads, as an API in front of the platform would see
# (ODP_SOAK_SCRIPTS="features@1 graph@1" runs a subset, to tell which script does what)
read -r -a scripts <<<"${ODP_SOAK_SCRIPTS:-features@30 delta_point@20 delta_range@10 graph@15 objects@10 insert_delta@5 insert_redis@10}"
files=()
for s in "${scripts[@]}"; do files+=(-f "$here/${s%@*}.pgbench@${s#*@}"); done

work=$(mktemp -d)
trap '[ -n "${ODP_SOAK_KEEP:-}" ] || rm -rf "$work"' EXIT
chmod 777 "$work"
# every script once, alone: a broken script fails here, not as 16 aborted clients
for s in "${scripts[@]}"; do
  "$PGBENCH" -n -t 1 -c 1 "${defines[@]}" -f "$here/${s%@*}.pgbench" >"$work/check.out" 2>&1 \
    || { echo "pgbench script ${s%@*} fails alone:"; cat "$work/check.out"; exit 1; }
done
q "DELETE FROM soak_load.d"
redis-cli -p "$ODP_REDIS_PORT" --scan --pattern "soak:load:$run:*" | xargs -r -n 1000 redis-cli -p "$ODP_REDIS_PORT" DEL >/dev/null

# the run's own backends, by their application name
app="soak_load_$run"
backends() { q "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'"; }
sample() { # file: "pid RssAnon_kB VmRSS_kB" of every backend of the run (one awk for all)
  local files=()
  for pid in $(backends); do [ -r "/proc/$pid/status" ] && files+=("/proc/$pid/status"); done
  [ ${#files[@]} -gt 0 ] || { : >"$1"; return; }
  awk 'FNR == 1 && pid != "" {print pid, a, r} FNR == 1 {split(FILENAME, p, "/"); pid = p[3]; a = ""; r = ""}
       /^RssAnon:/ {a = $2} /^VmRSS:/ {r = $2} END {if (pid != "") print pid, a, r}' "${files[@]}" 2>/dev/null >"$1" || true
}

log "pgbench: $clients clients, $seconds s (${scripts[*]})"
# A Delta append that lost the race for the next version 100 times in a row fails with
# 40001 (docs/transactions.md), which a client retries, as pgbench does here
# (--max-tries); such transactions count as retried, not failed.
(cd "$work" && PGAPPNAME="$app" exec "$PGBENCH" -n -c "$clients" -j 2 -T "$seconds" -r --failures-detailed --max-tries=10 \
  --log --log-prefix="$work/tx" "${defines[@]}" "${files[@]}" >"$work/pgbench.out" 2>"$work/pgbench.err") &
bench=$!
warm=$(( seconds / 4 > 3 ? seconds / 4 : 3 ))
# samples: after the warm-up, halfway through the rest, and 3 s before the end
rest=$(( seconds - warm - 3 > 2 ? seconds - warm - 3 : 2 ))
sleep "$warm"; sample "$work/rss.warm"
sleep $(( rest / 2 )); sample "$work/rss.mid"
sleep $(( rest - rest / 2 )); sample "$work/rss.end"
status=0; wait "$bench" || status=$?
mkdir -p "$ODP_ROOT/tests/results" && cp "$work/pgbench.out" "$ODP_ROOT/tests/results/soak_load.out"
sed -n '/^pgbench (/,/^SQL script 1:/p' "$work/pgbench.out" | grep -v "^SQL script"
grep -v "^pgbench: client [0-9]* .*\(aborted\|error\)" "$work/pgbench.err" | head -20 || true

inserted_delta=$(q "SELECT count(*) FROM soak_load.d")
distinct_delta=$(q "SELECT count(DISTINCT (id, client)) FROM soak_load.d")
inserted_redis=$(redis-cli -p "$ODP_REDIS_PORT" --scan --pattern "soak:load:$run:*" | wc -l)
through_odp_redis=$(q "SELECT count(*) FROM soak_load.r")

rc=0
"$ODP_VENV/bin/python" - "$work" "$clients" "$status" "$limit_mb" "$inserted_delta" "$distinct_delta" \
  "$inserted_redis" "$through_odp_redis" "${scripts[@]}" <<'PY' || rc=$?
import glob, os, re, sys

work, clients, status, limit_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
inserted_delta, distinct_delta, inserted_redis, through_odp_redis = map(int, sys.argv[5:9])
scripts = [s.split("@")[0] for s in sys.argv[9:]]
out = open(os.path.join(work, "pgbench.out")).read()
err = open(os.path.join(work, "pgbench.err")).read()
problems = []

# latencies of every transaction: client tx_no time_us script_no epoch epoch_us [lag] [retries];
# a failed transaction's time is "failed" (or "skipped")
latencies, per_script, failed_in_log = [], {}, 0
for path in glob.glob(os.path.join(work, "tx.*")):
    for line in open(path):
        fields = line.split()
        if len(fields) < 6:
            continue
        if not fields[2].isdigit():
            failed_in_log += 1
            continue
        us = int(fields[2])
        latencies.append(us)
        per_script.setdefault(int(fields[3]), []).append(us)


def p99(values):
    values = sorted(values)
    return values[max(0, -(-99 * len(values) // 100) - 1)] / 1000 if values else float("nan")


def number(pattern, default=0):
    m = re.search(pattern, out)
    return float(m.group(1)) if m else default


tps = number(r"tps = ([0-9.]+) \(without initial connection time\)")
failed = int(number(r"number of failed transactions: (\d+)"))
retried = int(number(r"number of transactions retried: (\d+)"))
aborted = len(re.findall(r"client \d+ script \d+ aborted", err)) + len(re.findall(r"client \d+ aborted", err))
errors = max(failed, failed_in_log) + aborted
if status != 0:
    problems.append(f"pgbench exited with {status}")
    errors = max(errors, 1)
for line in err.splitlines():
    if "aborted" in line or "ERROR" in line:
        print(f"pgbench error: {line}")
        break

# transactions per script, from the summary: "SQL script N: path" then " - NNN transactions"
count_of = {}
for m in re.finditer(r"SQL script (\d+): \S*/(\w+)\.pgbench\n(?: - .*\n)*? - (\d+) transactions", out):
    count_of[m.group(2)] = int(m.group(3))
for s in scripts:
    lat = per_script.get(scripts.index(s), [])
    print(f"  {s:13s} {count_of.get(s, len(lat)):7d} transactions  p99 {p99(lat):8.1f} ms")
if len(scripts) > 1 and len(count_of) != len(scripts):
    problems.append("no per-script transaction counts in the pgbench output")
if len(scripts) == 1:
    count_of[scripts[0]] = len(latencies)
if inserted_delta != count_of.get("insert_delta", 0) or distinct_delta != inserted_delta:
    problems.append(f"Delta inserts: {count_of.get('insert_delta', 0)} transactions, {inserted_delta} rows "
                    f"({distinct_delta} distinct)")
if inserted_redis != count_of.get("insert_redis", 0) or through_odp_redis != inserted_redis:
    problems.append(f"Redis inserts: {count_of.get('insert_redis', 0)} transactions, {inserted_redis} keys "
                    f"({through_odp_redis} through ODP)")


def rss(name):
    rows = {}
    for line in open(os.path.join(work, name)):
        pid, anon, total = map(int, line.split())
        rows[pid] = (anon, total)
    return rows


warm, mid, end = rss("rss.warm"), rss("rss.mid"), rss("rss.end")
common = sorted(set(warm) & set(mid) & set(end))
growth = max(((end[p][0] - warm[p][0]) / 1024 for p in common), default=float("nan"))
# (a cache filling grows in the first half and stops; a leak grows in both)
halves = (max(((mid[p][0] - warm[p][0]) / 1024 for p in common), default=float("nan")),
          max(((end[p][0] - mid[p][0]) / 1024 for p in common), default=float("nan")))
if len(common) < clients:
    problems.append(f"memory sampled for {len(common)} of {clients} backends")
if common:
    print(f"  backend private memory (RssAnon): {min(warm[p][0] for p in common) / 1024:.0f}-"
          f"{max(warm[p][0] for p in common) / 1024:.0f} MB after warm-up, "
          f"{min(end[p][0] for p in common) / 1024:.0f}-{max(end[p][0] for p in common) / 1024:.0f} MB at the end; "
          f"VmRSS at the end up to {max(end[p][1] for p in common) / 1024:.0f} MB; "
          f"largest growth {halves[0]:.1f} MB in the first half after warm-up, {halves[1]:.1f} MB in the second")
if growth > limit_mb:
    problems.append(f"a backend's private memory grew {growth:.1f} MB (limit {limit_mb:.0f} MB)")
if errors:
    problems.append(f"{errors} errors")
print(f"  inserts: Delta {inserted_delta} rows, Redis {inserted_redis} keys")
print(f"LOAD clients={clients} tps={tps:.1f} p99_ms={p99(latencies):.1f} errors={errors} rss_growth_mb={growth:.1f} "
      f"retried={retried}")
for p in problems:
    print(f"FAIL load: {p}")
sys.exit(1 if problems else 0)
PY
q "SET client_min_messages = warning; DROP SCHEMA IF EXISTS soak_load CASCADE; DROP SERVER IF EXISTS soak_load_redis CASCADE" || true
rm -rf "$lake/soak/load_d_$run"
redis-cli -p "$ODP_REDIS_PORT" --scan --pattern "soak:load:$run:*" | xargs -r -n 1000 redis-cli -p "$ODP_REDIS_PORT" DEL >/dev/null || true
exit $rc
