#!/usr/bin/env python3
"""Benchmarks: the Delta FDW against heap tables holding the same rows (and DuckDB over
the same Parquet files), all measured in this run. Prints `BENCH <name> key=value ...`.

Each timing is the best of several runs after one warm-up, so caches are warm on both
sides; ratios > 1 mean the FDW is slower than the baseline.
"""
import argparse
import os
import re
import time
import uuid

import duckdb
import psycopg

RUNS = 5


def best_ms(fn, runs=RUNS):
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def pg_query(cur, sql):
    return lambda: (cur.execute(sql), cur.fetchall())


def explain_counter(cur, sql, label):
    cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
    total = 0
    for (line,) in cur.fetchall():
        m = re.search(re.escape(label) + r": (\d+)", line)
        if m:
            total += int(m.group(1))
    return total


def total_files(cur, table):
    cur.execute(f"EXPLAIN (COSTS OFF) SELECT * FROM {table}")
    for (line,) in cur.fetchall():
        m = re.search(r"Delta Files: \d+ of (\d+)", line)
        if m:
            return int(m.group(1))
    return -1


def line(name, **kv):
    print("BENCH " + name + " " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in kv.items()),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    args = ap.parse_args()
    conn = psycopg.connect(host="127.0.0.1", port=os.environ["ODP_PG_PORT"], user="postgres", dbname="odp",
                           autocommit=True)
    # plain statements, planned each time: a plan psycopg prepared after a few runs would
    # outlive the SETs below
    conn.prepare_threshold = None
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")

    full = "SELECT count(*), sum(total_amount) FROM {}.transactions"
    duck = duckdb.connect()
    duck.execute("SET threads = 1")
    parquet = os.path.join(args.lake, "transactions", "*", "*.parquet")

    def duck_ms(sql):
        return best_ms(lambda: duck.execute(sql.format(f"read_parquet('{parquet}')")).fetchall())

    # every row through Postgres (aggregate pushdown off): the scan's throughput
    cur.execute("SET odp.aggregate_pushdown = off")
    fdw = best_ms(pg_query(cur, full.format("lake")))
    cur.execute("RESET odp.aggregate_pushdown")
    heap = best_ms(pg_query(cur, full.format("heap")))
    duck_full = duck_ms(full.replace("{}.transactions", "{}"))
    line("delta_full_scan", fdw_ms=fdw, heap_ms=heap, duckdb_ms=duck_full, ratio_vs_heap=fdw / heap,
         ratio_vs_duckdb=fdw / duck_full)

    # the same aggregates computed below Postgres, ungrouped and grouped
    grouped = "SELECT product_id, count(*), sum(total_amount) FROM {}.transactions GROUP BY product_id"
    for shape, sql in (("full", full), ("by_product", grouped)):
        fdw = best_ms(pg_query(cur, sql.format("lake")))
        heap = best_ms(pg_query(cur, sql.format("heap")), runs=3)
        duck_time = duck_ms(sql.replace("{}.transactions", "{}"))
        line("agg_pushdown", shape=shape, fdw_ms=fdw, heap_ms=heap, duckdb_ms=duck_time, ratio_vs_heap=fdw / heap,
             ratio_vs_duckdb=fdw / duck_time)

    # a scan split among 2 parallel workers (rows through Postgres) against the serial scan
    cur.execute("SET odp.aggregate_pushdown = off")
    serial = best_ms(pg_query(cur, full.format("lake")))
    cur.execute("SET max_parallel_workers_per_gather = 2")
    parallel = best_ms(pg_query(cur, full.format("lake")))
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("RESET odp.aggregate_pushdown")
    line("delta_parallel_scan", workers=2, serial_ms=serial, parallel_ms=parallel, speedup=serial / parallel)

    day = ("SELECT count(*), sum(total_amount) FROM {}.transactions "
           "WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02'")
    fdw = best_ms(pg_query(cur, day.format("lake")))
    heap = best_ms(pg_query(cur, day.format("heap")))
    files = explain_counter(cur, day.format("lake"), "Delta Files Read")
    line("delta_day_range", fdw_ms=fdw, heap_btree_ms=heap, ratio_vs_heap_btree=fdw / heap, files_read=files,
         files_total=total_files(cur, "lake.transactions"))

    # repeated lookups into one file: from the third on, its decoded columns are cached
    # (odp.decoded_file_cache_mb); uncached_ms reads Parquet every time
    point = "SELECT * FROM {}.transactions WHERE transaction_id = 't0000004242'"
    fdw = best_ms(pg_query(cur, point.format("lake")))
    heap = best_ms(pg_query(cur, point.format("heap")))
    cur.execute("SET odp.decoded_file_cache_mb = 0")
    uncached = best_ms(pg_query(cur, point.format("lake")))
    cur.execute("RESET odp.decoded_file_cache_mb")
    line("delta_point_lookup", ms=fdw, heap_btree_ms=heap, ratio_vs_heap_btree=fdw / heap,
         uncached_ms=uncached, uncached_ratio_vs_heap_btree=uncached / heap,
         files_read=explain_counter(cur, point.format("lake"), "Delta Files Read"))

    join = ("SELECT count(*), sum(t.total_amount) FROM {0}.transactions t JOIN {0}.products p USING (product_id) "
            "WHERE p.category = 'books'")
    fdw = best_ms(pg_query(cur, join.format("lake")), runs=2)
    heap = best_ms(pg_query(cur, join.format("heap")), runs=2)
    line("delta_join_pruning", fdw_ms=fdw, heap_ms=heap, ratio_vs_heap=fdw / heap,
         files_read=explain_counter(cur, join.format("lake"), "Delta Files Read"),
         files_total=total_files(cur, "lake.transactions") + total_files(cur, "lake.products"))

    writes(cur)
    partitioned_insert(cur)
    features(cur)
    graph(cur)
    objects(cur, args.lake + "-bench-objects")


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def latencies_ms(fn, keys):
    fn(keys[0])
    samples = []
    for key in keys:
        start = time.perf_counter()
        fn(key)
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 0.5), percentile(samples, 0.99)


def features(cur):
    """Feature store: the batch pipeline's throughput over the whole seed, then point
    lookups through the FDW vs a heap table with a primary key vs a raw HGETALL."""
    import random
    import redis

    r = redis.Redis(host="127.0.0.1", port=int(os.environ["ODP_REDIS_PORT"]))
    for key in r.scan_iter(match="users:*:features", count=10000):
        r.delete(key)
    start = time.perf_counter()
    cur.execute("SELECT odp.refresh_features()")
    users = cur.fetchone()[0]
    seconds = time.perf_counter() - start
    line("feature_refresh", users=users, seconds=seconds, users_per_s=users / seconds)

    cur.execute("DROP TABLE IF EXISTS heap.user_features")
    cur.execute("CREATE TABLE heap.user_features AS SELECT * FROM features.user_features")
    cur.execute("ALTER TABLE heap.user_features ADD PRIMARY KEY (user_id)")
    cur.execute("SELECT user_id FROM heap.user_features")
    ids = [row[0] for row in cur.fetchall()]
    keys = random.Random(7).choices(ids, k=2000)

    def lookup(table):
        sql = f"SELECT * FROM {table} WHERE user_id = %s"
        return lambda uid: (cur.execute(sql, (uid,), prepare=True), cur.fetchall())

    fdw_p50, fdw_p99 = latencies_ms(lookup("features.user_features"), keys)
    heap_p50, heap_p99 = latencies_ms(lookup("heap.user_features"), keys)
    raw_p50, raw_p99 = latencies_ms(lambda uid: r.hgetall(f"users:{uid}:features"), keys)
    line("feature_lookup", p50_ms=fdw_p50, p99_ms=fdw_p99, heap_p50_ms=heap_p50, heap_p99_ms=heap_p99,
         redis_p50_ms=raw_p50, ratio_p50_vs_heap=fdw_p50 / heap_p50, ratio_p50_vs_redis=fdw_p50 / raw_p50)
    cur.execute("DROP TABLE heap.user_features")
    stream_latency(cur, r, ids[0])


def stream_latency(cur, r, user):
    """Milliseconds from the COMMIT of an INSERT through ODP to the updated feature in
    Redis (the streaming pipeline), over 100 single-row transactions."""
    table = f"bench_stream_{uuid.uuid4().hex[:8]}"
    cur.execute(f"CREATE FOREIGN TABLE {table} (transaction_id text, user_id text, product_id text, "
                f"quantity int4, total_amount float8, transaction_time timestamptz) "
                f"SERVER lake OPTIONS (path 'writes/{table}', create_if_missing 'true')")
    cur.execute(f"CREATE TRIGGER publish AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION odp.publish_transaction()")
    key = f"users:{user}:features"
    cur.execute("SELECT min(product_id) FROM heap.products")
    product = cur.fetchone()[0]
    samples = []
    for i in range(100):
        before = int(r.hget(key, "purchase_count") or 0)
        cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, 1, 1.0, now())", (f"{table}_{i}", user, product))
        start = time.perf_counter()
        while int(r.hget(key, "purchase_count") or 0) <= before:
            if time.perf_counter() - start > 5:
                break
            time.sleep(0.0005)
        samples.append((time.perf_counter() - start) * 1000)
    cur.execute(f"DROP FOREIGN TABLE {table}")
    line("stream_latency", p50_ms=percentile(samples, 0.5), p99_ms=percentile(samples, 0.99), events=len(samples))


def graph(cur, days=4):
    """Graph: the last `days` of purchases synced from the lake into the graph server,
    then `purchased WHERE user_id = $1` with Cypher pushdown vs without (every edge sent,
    Postgres filters), and the p50 of a recommendation traversal."""
    cur.execute("SELECT odp.create_graph_index('User', 'user_id', is_unique => true)")
    cur.execute("SELECT odp.create_graph_index('Product', 'product_id', is_unique => true)")
    cur.execute(f"SELECT max(transaction_time) - interval '{days} days' FROM heap.transactions")
    since = cur.fetchone()[0]
    start = time.perf_counter()
    cur.execute("SELECT purchases_merged FROM odp.graph_sync(since => %s)", (since,))
    edges = cur.fetchone()[0]
    sync_s = time.perf_counter() - start
    cur.execute("SELECT DISTINCT user_id FROM heap.transactions WHERE transaction_time >= %s ORDER BY 1 LIMIT 200",
                (since,))
    users = [row[0] for row in cur.fetchall()]
    sql = "SELECT product_id, date FROM graph.purchased WHERE user_id = %s"
    lookup = lambda uid: (cur.execute(sql, (uid,), prepare=True), cur.fetchall())
    on_p50, _ = latencies_ms(lookup, users[:100])
    cur.execute("SET odp.graph_pushdown = off")
    off_p50, _ = latencies_ms(lookup, users[:10])
    cur.execute("RESET odp.graph_pushdown")
    line("graph_pushdown", edges=edges, sync_s=sync_s, pushdown_p50_ms=on_p50, no_pushdown_p50_ms=off_p50,
         speedup=off_p50 / on_p50)
    recommend = lambda uid: (cur.execute("SELECT * FROM odp.graph_recommend(%s, 10)", (uid,)), cur.fetchall())
    rec_p50, rec_p99 = latencies_ms(recommend, users[:50])
    line("graph_recommend_ms", p50=rec_p50, p99=rec_p99, users=len(users[:50]))


def objects(cur, root, prefixes=10, per_prefix=10000):
    """Object listing: `prefixes` x `per_prefix` small objects in a local-directory object
    server; counting the keys under one prefix with the prefix pushed down (the listing
    reads that directory) vs the same filter hidden from the FDW (`key || ''`: every key
    is listed and Postgres filters)."""
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    cur.execute("DROP SERVER IF EXISTS bench_objects CASCADE")
    cur.execute(f"CREATE SERVER bench_objects FOREIGN DATA WRAPPER object_fdw OPTIONS (root '{root}')")
    cur.execute("CREATE FOREIGN TABLE bench_objects (key text, size bigint, content bytea) SERVER bench_objects")
    cur.execute(f"INSERT INTO bench_objects (key, content) SELECT format('p%s/%s.bin', i % {prefixes}, i), '\\x00' "
                f"FROM generate_series(1, {prefixes * per_prefix}) i")
    pushed = "SELECT count(*) FROM bench_objects WHERE key LIKE 'p3/%'"
    hidden = "SELECT count(*) FROM bench_objects WHERE key || '' LIKE 'p3/%'"
    cur.execute(pushed)
    listed = cur.fetchone()[0]
    on = best_ms(pg_query(cur, pushed))
    off = best_ms(pg_query(cur, hidden))
    line("object_list", keys=listed, total_keys=prefixes * per_prefix, pushdown_ms=on, no_pushdown_ms=off,
         listed_with_pushdown=explain_counter(cur, pushed, "Objects Listed"),
         listed_without=explain_counter(cur, hidden, "Objects Listed"), speedup=off / on)
    cur.execute("DROP SERVER bench_objects CASCADE")
    shutil.rmtree(root, ignore_errors=True)


def timed_ms(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def writes(cur):
    """Write benchmarks: 1M-row INSERT ... SELECT into Delta vs heap, bytes on disk of
    the transactions, and a full scan of a table written as 1,000 small appends before
    and after compaction."""
    tag = uuid.uuid4().hex[:12]
    source = "SELECT transaction_id, user_id, product_id, quantity, total_amount, transaction_time FROM heap.transactions LIMIT 1000000"
    cols = ("transaction_id text, user_id text, product_id text, quantity int4, total_amount float8, "
            "transaction_time timestamptz")
    cur.execute(f"CREATE FOREIGN TABLE bench_ins_{tag} ({cols}) SERVER lake "
                f"OPTIONS (path 'writes/bench_ins_{tag}', create_if_missing 'true')")
    cur.execute(f"SELECT count(*) FROM bench_ins_{tag}")
    cur.execute(f"CREATE TABLE bench_heap_{tag} ({cols})")
    fdw = timed_ms(lambda: cur.execute(f"INSERT INTO bench_ins_{tag} {source}"))
    heap = timed_ms(lambda: cur.execute(f"INSERT INTO bench_heap_{tag} {source}"))
    line("delta_insert", rows=1000000, fdw_ms=fdw, heap_ms=heap, ratio_vs_heap=fdw / heap)
    cur.execute(f"DROP FOREIGN TABLE bench_ins_{tag}; DROP TABLE bench_heap_{tag}")

    cur.execute("SELECT sum(bytes) FROM odp.delta_partitions('lake.transactions')")
    delta_bytes = int(cur.fetchone()[0])
    cur.execute("SELECT pg_total_relation_size('heap.transactions')")
    heap_bytes = int(cur.fetchone()[0])
    line("delta_storage", delta_bytes=delta_bytes, heap_bytes=heap_bytes, ratio_vs_heap=delta_bytes / heap_bytes)

    cur.execute(f"CREATE FOREIGN TABLE bench_small_{tag} ({cols}) SERVER lake "
                f"OPTIONS (path 'writes/bench_small_{tag}', create_if_missing 'true')")
    cur.execute(f"SELECT count(*) FROM bench_small_{tag}")
    for i in range(1000):
        cur.execute(f"INSERT INTO bench_small_{tag} {source.replace('LIMIT 1000000', f'OFFSET {i * 1000} LIMIT 1000')}")
    scan = f"SELECT count(*), sum(total_amount) FROM bench_small_{tag}"
    before = best_ms(pg_query(cur, scan), runs=3)
    compact = timed_ms(lambda: cur.execute(f"SELECT * FROM odp.delta_optimize('bench_small_{tag}')"))
    after = best_ms(pg_query(cur, scan), runs=3)
    line("delta_compaction", files_before=1000, scan_before_ms=before, scan_after_ms=after,
         optimize_ms=compact, speedup=before / after)
    cur.execute(f"DROP FOREIGN TABLE bench_small_{tag}")


def peak_rss_mb(pid):
    """The peak resident memory of process `pid` (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for row in status:
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def partitioned_insert(cur, rows=10_000_000, partitions=400):
    """Write memory: `rows` rows into a Delta table with `partitions` partitions in one
    INSERT, from a new backend: its peak resident memory (VmHWM, shared pages it touched
    included) before and after, and the time against the same INSERT into a heap table."""
    tag = uuid.uuid4().hex[:12]
    cols = "id bigint, part int4, amount float8"
    source = (f"SELECT g, (g % {partitions})::int4, g * 0.25 FROM generate_series(1, {rows}) g")
    cur.execute(f"CREATE FOREIGN TABLE bench_part_{tag} ({cols}) SERVER lake "
                f"OPTIONS (path 'writes/bench_part_{tag}', create_if_missing 'true', partition_by 'part')")
    cur.execute(f"CREATE TABLE bench_part_heap_{tag} ({cols})")
    with psycopg.connect(host="127.0.0.1", port=os.environ["ODP_PG_PORT"], user="postgres", dbname="odp",
                         autocommit=True) as backend:
        pid = backend.info.backend_pid
        backend.execute(f"SELECT count(*) FROM bench_part_{tag}")
        before = peak_rss_mb(pid)
        fdw = timed_ms(lambda: backend.execute(f"INSERT INTO bench_part_{tag} {source}"))
        peak = peak_rss_mb(pid)
    heap = timed_ms(lambda: cur.execute(f"INSERT INTO bench_part_heap_{tag} {source}"))
    cur.execute(f"SELECT count(*), count(DISTINCT part) FROM bench_part_{tag}")
    written, parts = cur.fetchone()
    assert (written, parts) == (rows, partitions), (written, parts)
    line("delta_insert_partitioned", rows=rows, partitions=partitions, peak_rss_mb=peak,
         rss_before_mb=before, fdw_ms=fdw, heap_ms=heap, ratio_vs_heap=fdw / heap)
    cur.execute(f"DROP FOREIGN TABLE bench_part_{tag}; DROP TABLE bench_part_heap_{tag}")


if __name__ == "__main__":
    main()
