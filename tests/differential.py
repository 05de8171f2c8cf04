#!/usr/bin/env python3
"""Differential test: generated queries must return the same rows through the Delta
FDW (schemas lake, s3lake) as from heap tables holding the same data (schema heap).

Each query is a template with `{s}` for the schema; rows are compared as multisets with
EXCEPT ALL in both directions, so ordering and duplicates are checked too.
"""
import os
import random
import sys
import uuid

import psycopg

N_QUERIES = int(os.environ.get("ODP_DIFF_QUERIES", "300"))


def connect():
    return psycopg.connect(host="127.0.0.1", port=os.environ["ODP_PG_PORT"], user="postgres", dbname="odp",
                           autocommit=True)


def sample(cur, sql, k, rng):
    cur.execute(sql)
    values = sorted(r[0] for r in cur.fetchall())
    return rng.sample(values, min(k, len(values)))


def quote(v):
    return "'" + str(v).replace("'", "''") + "'"


def templates(cur, rng):
    tids = sample(cur, "SELECT transaction_id FROM heap.transactions", 50, rng)
    uids = sample(cur, "SELECT user_id FROM heap.users", 50, rng)
    pids = sample(cur, "SELECT product_id FROM heap.products", 30, rng)
    cats = sample(cur, "SELECT DISTINCT category FROM heap.products", 20, rng)
    days = sample(cur, "SELECT DISTINCT txn_date::text FROM heap.transactions", 60, rng)
    udays = sample(cur, "SELECT DISTINCT created_date::text FROM heap.users", 40, rng)
    ops = ["=", "<", "<=", ">", ">=", "<>"]
    t = "{s}.transactions"
    gens = [
        lambda: f"SELECT * FROM {t} WHERE transaction_id {rng.choice(ops)} {quote(rng.choice(tids))}",
        lambda: f"SELECT * FROM {t} WHERE transaction_id IN ({', '.join(quote(x) for x in rng.sample(tids, 3))})",
        lambda: f"SELECT * FROM {t} WHERE transaction_id = ANY(ARRAY[{quote(rng.choice(tids))}, {quote(rng.choice(tids))}])",
        lambda: f"SELECT transaction_id, quantity FROM {t} WHERE transaction_id LIKE {quote(rng.choice(tids)[:9] + '%')}",
        lambda: f"SELECT * FROM {t} WHERE user_id = {quote(rng.choice(uids))}",
        lambda: f"SELECT product_id, total_amount FROM {t} WHERE product_id {rng.choice(ops)} {quote(rng.choice(pids))} AND quantity = {rng.randint(1, 5)}",
        lambda: f"SELECT count(*), round(sum(total_amount)::numeric, 2) FROM {t} WHERE quantity {rng.choice(ops)} {rng.randint(0, 6)}",
        lambda: f"SELECT transaction_id FROM {t} WHERE quantity IN ({rng.randint(1, 5)}, {rng.randint(1, 5)}) AND txn_date = {quote(rng.choice(days))}",
        lambda: f"SELECT transaction_id, total_amount FROM {t} WHERE total_amount {rng.choice(ops)} {round(rng.uniform(0, 2600), 2)} AND txn_date = {quote(rng.choice(days))}",
        lambda: f"SELECT count(*) FROM {t} WHERE total_amount BETWEEN {rng.randint(0, 500)} AND {rng.randint(500, 2600)}",
        lambda: (lambda d: f"SELECT * FROM {t} WHERE transaction_time >= {quote(d)} AND transaction_time < {quote(d)}::date + 1")(rng.choice(days)),
        lambda: (lambda d: f"SELECT transaction_id FROM {t} WHERE transaction_time {rng.choice(ops)} {quote(d + ' ' + str(rng.randint(0, 23)) + ':30:00+00')}")(rng.choice(days)),
        lambda: f"SELECT count(*) FROM {t} WHERE txn_date {rng.choice(ops)} {quote(rng.choice(days))}",
        lambda: f"SELECT transaction_id FROM {t} WHERE txn_date IN ({quote(rng.choice(days))}, {quote(rng.choice(days))}) AND user_id < {quote(rng.choice(uids))}",
        lambda: f"SELECT transaction_id FROM {t} WHERE txn_date IS NULL OR transaction_id IS NULL",
        lambda: f"SELECT transaction_id FROM {t} ORDER BY transaction_id LIMIT {rng.randint(1, 50)}",
        lambda: f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {rng.randint(0, 500)}) l",
        lambda: f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {rng.randint(1, 100)} OFFSET {rng.randint(0, 100)}) l",
        lambda: f"SELECT * FROM {{s}}.users WHERE user_id {rng.choice(ops)} {quote(rng.choice(uids))}",
        lambda: f"SELECT user_id, email FROM {{s}}.users WHERE last_login IS {rng.choice(['', 'NOT '])}NULL AND created_date >= {quote(rng.choice(udays))}",
        lambda: f"SELECT user_id FROM {{s}}.users WHERE created_at >= {quote(rng.choice(udays))} AND created_at < {quote(rng.choice(udays))}",
        lambda: f"SELECT user_id FROM {{s}}.users WHERE email LIKE {quote('user' + str(rng.randint(1, 99)) + '%')}",
        lambda: f"SELECT * FROM {{s}}.products WHERE category = {quote(rng.choice(cats))}",
        lambda: f"SELECT product_id FROM {{s}}.products WHERE category IN ({quote(rng.choice(cats))}, {quote(rng.choice(cats))}) AND price {rng.choice(ops)} {rng.randint(1, 500)}",
        lambda: f"SELECT p.category, count(*), round(sum(t.total_amount)::numeric, 2) FROM {t} t JOIN {{s}}.products p USING (product_id) WHERE p.category = {quote(rng.choice(cats))} GROUP BY 1",
        lambda: f"SELECT t.transaction_id, u.email FROM {t} t JOIN {{s}}.users u USING (user_id) WHERE u.user_id IN ({quote(rng.choice(uids))}, {quote(rng.choice(uids))})",
        lambda: f"SELECT u.user_id, p.name, t.quantity FROM {t} t JOIN {{s}}.users u USING (user_id) JOIN {{s}}.products p USING (product_id) WHERE t.txn_date = {quote(rng.choice(days))} AND p.price > {rng.randint(1, 400)}",
        lambda: f"SELECT count(*) FROM {t} t WHERE t.product_id IN (SELECT product_id FROM {{s}}.products WHERE category = {quote(rng.choice(cats))})",
    ]
    return gens


def exactness_templates(cur, rng):
    """Float specials, float4 columns, decimals at full precision, big integers read as
    numeric, a decimal partition, a nondeterministic collation, and a generated date
    partition written in UTC+09:00 (local tables only)."""
    ops = ["=", "<", "<=", ">", ">=", "<>"]
    floats = ["'NaN'", "'Infinity'", "'-Infinity'", "0", "'-0'", "1.5", "1e308", "5e-324", "0.1", "100", "-1"]
    reals = ["0.1", "0.1::real", "'NaN'::real", "'Infinity'::real", "16777217", "0.33333334::real", "0", "3.4e38"]
    decs = sample(cur, "SELECT dec::text FROM heap.numbers WHERE dec IS NOT NULL", 15, rng)
    decs += ["12345678901234567890.123456789012345678", "12345678901234567000", "-0.000000000000000001",
             "99999999999999999999.999999999999999999", "'NaN'", "'Infinity'", "'-Infinity'"]
    bigs = ["9007199254740993", "9007199254740992", "9223372036854775807", "9223372036854775806.5",
            "-9223372036854775808", "9223372036854775808", "0", "1e19"]
    parts = ["12.34", "12.35", "12.340", "0.01", "0", "100.1", "100.10", "12.345"]
    names = sample(cur, "SELECT name FROM heap.users", 20, rng)
    stamps = sample(cur, "SELECT ts::text FROM heap.events_tokyo", 30, rng)
    days = sample(cur, "SELECT DISTINCT day::text FROM heap.events_tokyo", 10, rng)
    ev = lambda: rng.choice(["events_tokyo", "events_unknown"])
    case = lambda s: rng.choice([s, s.upper(), s.lower()])
    return [
        lambda: f"SELECT id FROM {{s}}.numbers WHERE f8 {rng.choice(ops)} {rng.choice(floats)}",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE f8 IN ({rng.choice(floats)}, {rng.choice(floats)})",
        lambda: f"SELECT id, f8 FROM {{s}}.numbers WHERE f8 {rng.choice(ops)} {rng.choice(floats)} AND part = {rng.choice(parts)}",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE f4 {rng.choice(ops)} {rng.choice(reals)}",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE f4 IN ({rng.choice(reals)}, {rng.choice(reals)})",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE dec {rng.choice(ops)} {rng.choice(decs)}",
        lambda: f"SELECT id, dec FROM {{s}}.numbers WHERE dec IN ({rng.choice(decs)}, {rng.choice(decs)})",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE big {rng.choice(ops)} {rng.choice(bigs)}",
        lambda: f"SELECT id, big FROM {{s}}.numbers WHERE big IN ({rng.choice(bigs)}, {rng.choice(bigs)})",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE part {rng.choice(ops)} {rng.choice(parts)}",
        lambda: f"SELECT id FROM {{s}}.numbers WHERE part IN ({rng.choice(parts)}, {rng.choice(parts)}) OR f8 IS NULL",
        lambda: f"SELECT user_id FROM {{s}}.users_ci WHERE name {rng.choice(['=', '<>'])} {quote(case(rng.choice(names)))}",
        lambda: f"SELECT user_id FROM {{s}}.users_ci WHERE name IN ({quote(case(rng.choice(names)))}, {quote(case(rng.choice(names)))})",
        lambda: f"SELECT user_id FROM {{s}}.users_ci WHERE name {rng.choice(['<', '<=', '>', '>='])} {quote(case(rng.choice(names)))}",
        lambda: f"SELECT event_id FROM {{s}}.{ev()} WHERE ts {rng.choice(ops)} {quote(rng.choice(stamps))}",
        lambda: (lambda a, b: f"SELECT event_id FROM {{s}}.{ev()} WHERE ts >= {quote(min(a, b))} AND ts < {quote(max(a, b))}")(rng.choice(stamps), rng.choice(stamps)),
        lambda: f"SELECT event_id FROM {{s}}.{ev()} WHERE ts IN ({quote(rng.choice(stamps))}, {quote(rng.choice(stamps))})",
        lambda: f"SELECT count(*) FROM {{s}}.{ev()} WHERE ts >= {quote(rng.choice(days))}::timestamptz AND day {rng.choice(ops)} {quote(rng.choice(days))}",
    ]


def write_statements(cur, rng):
    """Generated INSERT/UPDATE/DELETE statements (and transactions around them) with `{s}`
    for the schema, applied alike to a Delta table and a heap table."""
    uids = sample(cur, "SELECT user_id FROM heap.transactions", 30, rng)
    days = sample(cur, "SELECT DISTINCT txn_date::text FROM heap.transactions", 30, rng)
    tids = sample(cur, "SELECT transaction_id FROM heap.transactions", 30, rng)
    t = "{s}.dw"
    gens = [
        lambda: f"UPDATE {t} SET quantity = quantity + 1 WHERE user_id = {quote(rng.choice(uids))}",
        lambda: f"UPDATE {t} SET total_amount = total_amount * 2, transaction_time = transaction_time + interval '{rng.randint(1, 40)} hours' WHERE transaction_id < {quote(rng.choice(tids))} AND quantity = {rng.randint(1, 5)}",
        lambda: f"DELETE FROM {t} WHERE txn_date = {quote(rng.choice(days))}",
        lambda: f"DELETE FROM {t} WHERE txn_date IN ({quote(rng.choice(days))}, {quote(rng.choice(days))})",
        lambda: f"DELETE FROM {t} WHERE txn_date > {quote(rng.choice(days))} AND txn_date <= {quote(rng.choice(days))}",
        lambda: f"DELETE FROM {t} WHERE quantity = {rng.randint(1, 6)} AND total_amount > {rng.randint(0, 2000)}",
        lambda: f"INSERT INTO {t} (transaction_id, user_id, quantity, total_amount, transaction_time) SELECT transaction_id || 'i', user_id, quantity, total_amount, transaction_time FROM heap.transactions WHERE txn_date = {quote(rng.choice(days))}",
        lambda: f"BEGIN; UPDATE {t} SET quantity = 0 WHERE txn_date = {quote(rng.choice(days))}; ROLLBACK",
        lambda: f"BEGIN; DELETE FROM {t} WHERE user_id = {quote(rng.choice(uids))}; SAVEPOINT s; INSERT INTO {t} (transaction_id, user_id, quantity, total_amount, transaction_time) VALUES ('x', 'u', 1, 1.5, now()); ROLLBACK TO s; COMMIT",
    ]
    return gens


def read_after_write_transactions(cur, rng, n):
    """Transactions that read the table after changing it (each read compared with the
    heap table's in the same transaction), under READ COMMITTED and REPEATABLE READ,
    committed or rolled back. `{s}` stands for the schema."""
    uids = sample(cur, "SELECT user_id FROM heap.transactions", 30, rng)
    days = sample(cur, "SELECT DISTINCT txn_date::text FROM heap.transactions", 30, rng)
    t = "{s}.dw"
    changes = [
        lambda: f"UPDATE {t} SET quantity = quantity + 1 WHERE user_id = {quote(rng.choice(uids))}",
        lambda: f"UPDATE {t} SET quantity = quantity * 2 WHERE transaction_id LIKE 'r%'",
        lambda: f"DELETE FROM {t} WHERE txn_date = {quote(rng.choice(days))}",
        lambda: f"DELETE FROM {t} WHERE quantity = {rng.randint(1, 6)} AND user_id = {quote(rng.choice(uids))}",
        lambda: f"DELETE FROM {t} WHERE transaction_id LIKE 'r%' AND quantity > {rng.randint(1, 8)}",
        lambda: f"INSERT INTO {t} (transaction_id, user_id, quantity, total_amount, transaction_time) SELECT 'r' || transaction_id, user_id, quantity, total_amount, transaction_time FROM heap.transactions WHERE user_id = {quote(rng.choice(uids))}",
        lambda: f"INSERT INTO {t} (transaction_id, user_id, quantity, total_amount, transaction_time) VALUES ('r{rng.randint(0, 999)}', {quote(rng.choice(uids))}, {rng.randint(1, 5)}, 2.5, {quote(rng.choice(days))}::timestamptz + interval '3 hours')",
        lambda: f"INSERT INTO {t} SELECT transaction_id || 'c', user_id, quantity, total_amount, transaction_time FROM {t} WHERE user_id = {quote(rng.choice(uids))}",
        lambda: "SAVEPOINT s",
        lambda: "ROLLBACK TO SAVEPOINT s",
    ]
    reads = [
        lambda: f"SELECT count(*), sum(quantity), round(sum(total_amount::numeric), 4) FROM {t}",
        lambda: f"SELECT transaction_id, quantity, txn_date FROM {t} WHERE user_id = {quote(rng.choice(uids))} ORDER BY 1, 2, 3",
        lambda: f"SELECT txn_date, count(*), max(quantity) FROM {t} GROUP BY 1 ORDER BY 1",
        lambda: f"SELECT count(*) FROM {t} WHERE txn_date = {quote(rng.choice(days))}",
        lambda: f"SELECT transaction_id, quantity FROM {t} WHERE transaction_id LIKE 'r%' ORDER BY 1, 2",
    ]
    out = []
    for _ in range(n):
        body = []
        savepoint = False
        for _ in range(rng.randint(2, 5)):
            change = rng.choice(changes)()
            if change == "ROLLBACK TO SAVEPOINT s" and not savepoint:
                continue
            savepoint = savepoint or change == "SAVEPOINT s"
            body += [change, rng.choice(reads)()]
        isolation = rng.choice(["READ COMMITTED", "REPEATABLE READ"])
        out.append([f"BEGIN ISOLATION LEVEL {isolation}", rng.choice(reads)()] + body + [rng.choice(["COMMIT", "ROLLBACK"])])
    return out


def run_transaction(cur, statements, schema):
    """The results of the statements of one transaction, in order (None for those
    returning no rows)."""
    results = []
    for statement in statements:
        cur.execute(statement.format(s=schema))
        results.append(cur.fetchall() if cur.description else None)
    return results


def write_differential(cur, rng, n):
    """Applies generated writes to a Delta table and to a heap table holding the same
    rows, comparing the two after each statement."""
    path = f"writes/diff_{uuid.uuid4().hex}"
    cur.execute("DROP FOREIGN TABLE IF EXISTS lake.dw; DROP TABLE IF EXISTS heap.dw")
    cols = "transaction_id text, user_id text, quantity int4, total_amount float8, transaction_time timestamptz"
    cur.execute(f"CREATE FOREIGN TABLE lake.dw ({cols}, txn_date date OPTIONS (generation_expression 'CAST(transaction_time AS DATE)')) "
                f"SERVER lake OPTIONS (path '{path}', create_if_missing 'true', partition_by 'txn_date')")
    cur.execute(f"CREATE TABLE heap.dw ({cols}, txn_date date GENERATED ALWAYS AS ((transaction_time AT TIME ZONE 'UTC')::date) STORED)")
    seed = "INSERT INTO {s}.dw (transaction_id, user_id, quantity, total_amount, transaction_time) SELECT transaction_id, user_id, quantity, total_amount, transaction_time FROM heap.transactions WHERE transaction_id < 't0000005000'"
    failures = 0
    gens = write_statements(cur, rng)
    statements = [seed] + [rng.choice(gens)() for _ in range(n)]
    for statement in statements:
        try:
            for schema in ("lake", "heap"):
                cur.execute(statement.format(s=schema))
        except psycopg.Error as e:
            cur.execute("ROLLBACK")
            print(f"ERROR [writes] {statement}\n  {e}")
            failures += 1
            continue
        n_diff = differs(cur, "SELECT * FROM {s}.dw", "lake")
        if n_diff:
            print(f"DIFF [writes] {n_diff} rows differ after: {statement}")
            failures += 1
    transactions = read_after_write_transactions(cur, rng, max(10, n // 2))
    for statements in transactions:
        try:
            lake = run_transaction(cur, statements, "lake")
            heap = run_transaction(cur, statements, "heap")
        except psycopg.Error as e:
            cur.execute("ROLLBACK")
            print(f"ERROR [read after write] {'; '.join(statements)}\n  {e}")
            failures += 1
            continue
        for statement, a, b in zip(statements, lake, heap):
            if a != b:
                print(f"DIFF [read after write] in {'; '.join(statements)}\n  at {statement}: lake {str(a)[:200]} heap {str(b)[:200]}")
                failures += 1
                break
        n_diff = differs(cur, "SELECT * FROM {s}.dw", "lake")
        if n_diff:
            print(f"DIFF [read after write] {n_diff} rows differ after: {'; '.join(statements)}")
            failures += 1
    cur.execute("DROP FOREIGN TABLE lake.dw; DROP TABLE heap.dw")
    return len(statements) + sum(len(t) for t in transactions), failures


def differs(cur, query, schema):
    fdw, heap = query.format(s=schema), query.format(s="heap")
    cur.execute(f"SELECT (SELECT count(*) FROM (({fdw}) EXCEPT ALL ({heap})) a) + "
                f"(SELECT count(*) FROM (({heap}) EXCEPT ALL ({fdw})) b)")
    return cur.fetchone()[0]


def main():
    rng = random.Random(42)
    failures = 0
    with connect() as conn, conn.cursor() as cur:
        gens = templates(cur, rng)
        queries = [(rng.choice(gens)(), "lake") for _ in range(N_QUERIES)]
        s3_capable = [g for g in gens if "{s}.users" not in g()]
        queries += [(rng.choice(s3_capable)(), "s3lake") for _ in range(max(10, N_QUERIES // 15))]
        exact = exactness_templates(cur, rng)
        queries += [(rng.choice(exact)(), "lake") for _ in range(max(len(exact) * 5, N_QUERIES // 2))]
        for query, schema in queries:
            if "{s}.users" in query and schema == "s3lake":
                continue
            try:
                n = differs(cur, query, schema)
            except psycopg.Error as e:
                print(f"ERROR [{schema}] {query}\n  {e}")
                failures += 1
                continue
            if n:
                print(f"DIFF [{schema}] {n} rows differ: {query}")
                failures += 1
        written, write_failures = write_differential(cur, rng, max(20, N_QUERIES // 5))
        failures += write_failures
    print(f"differential: {len(queries)} queries, {written} write statements, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
