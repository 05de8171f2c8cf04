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
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")

    full = "SELECT count(*), sum(total_amount) FROM {}.transactions"
    fdw = best_ms(pg_query(cur, full.format("lake")))
    heap = best_ms(pg_query(cur, full.format("heap")))
    duck = duckdb.connect()
    duck.execute("SET threads = 1")
    parquet = os.path.join(args.lake, "transactions", "*", "*.parquet")
    duck_ms = best_ms(lambda: duck.execute(f"SELECT count(*), sum(total_amount) FROM read_parquet('{parquet}')").fetchall())
    line("delta_full_scan", fdw_ms=fdw, heap_ms=heap, duckdb_ms=duck_ms, ratio_vs_heap=fdw / heap,
         ratio_vs_duckdb=fdw / duck_ms)

    day = ("SELECT count(*), sum(total_amount) FROM {}.transactions "
           "WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02'")
    fdw = best_ms(pg_query(cur, day.format("lake")))
    heap = best_ms(pg_query(cur, day.format("heap")))
    files = explain_counter(cur, day.format("lake"), "Delta Files Read")
    line("delta_day_range", fdw_ms=fdw, heap_btree_ms=heap, ratio_vs_heap_btree=fdw / heap, files_read=files,
         files_total=total_files(cur, "lake.transactions"))

    point = "SELECT * FROM {}.transactions WHERE transaction_id = 't0000004242'"
    fdw = best_ms(pg_query(cur, point.format("lake")))
    heap = best_ms(pg_query(cur, point.format("heap")))
    line("delta_point_lookup", ms=fdw, heap_btree_ms=heap, files_read=explain_counter(cur, point.format("lake"), "Delta Files Read"))

    join = ("SELECT count(*), sum(t.total_amount) FROM {0}.transactions t JOIN {0}.products p USING (product_id) "
            "WHERE p.category = 'books'")
    fdw = best_ms(pg_query(cur, join.format("lake")), runs=2)
    heap = best_ms(pg_query(cur, join.format("heap")), runs=2)
    line("delta_join_pruning", fdw_ms=fdw, heap_ms=heap, ratio_vs_heap=fdw / heap,
         files_read=explain_counter(cur, join.format("lake"), "Delta Files Read"),
         files_total=total_files(cur, "lake.transactions") + total_files(cur, "lake.products"))


if __name__ == "__main__":
    main()
