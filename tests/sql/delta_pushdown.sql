-- What delta_fdw pushes down, shown by EXPLAIN (golden plans), and that results stay right.
SET max_parallel_workers_per_gather = 0;
-- a day range on the source column of the generated partition txn_date
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.transactions
 WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02';
SELECT (SELECT count(*) FROM lake.transactions WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02')
     = (SELECT count(*) FROM heap.transactions WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02') AS same_count;
-- the partition column itself, with IN
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.transactions WHERE txn_date IN ('2026-01-05', '2026-02-05');
-- file skipping from statistics on a sorted id, with what the scan read
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT transaction_id, quantity FROM lake.transactions WHERE transaction_id = 't0000050000';
-- LIKE prefix and IS NULL
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.transactions WHERE transaction_id LIKE 't00000999%';
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.users WHERE last_login IS NULL;
-- projection: only used columns are read (VERBOSE lists them)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT user_id, total_amount FROM lake.transactions WHERE quantity > 4;
-- LIMIT is pushed only when nothing is filtered locally
EXPLAIN (COSTS OFF) SELECT * FROM lake.products LIMIT 3;
EXPLAIN (COSTS OFF) SELECT * FROM lake.products WHERE price > 10 LIMIT 3;
SELECT count(*) FROM (SELECT * FROM lake.products LIMIT 3) s;
-- no pushdown across time zones: date vs timestamptz depends on the session TimeZone
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.transactions WHERE transaction_time >= date '2026-12-30';
-- a parameterized (nested-loop inner) scan: the outer value is pushed at run time
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT t.transaction_id FROM (VALUES ('t0000000010'), ('t0000090000')) v(id)
  JOIN lake.transactions t ON t.transaction_id = v.id;
SELECT t.transaction_id, t.quantity FROM (VALUES ('t0000000010'), ('t0000090000')) v(id)
  JOIN lake.transactions t ON t.transaction_id = v.id ORDER BY 1;
-- prepared statements use the parameter for pruning
PREPARE day_count(timestamptz) AS
  SELECT count(*) FROM lake.transactions WHERE transaction_time >= $1 AND transaction_time < $1 + interval '1 day';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE day_count('2026-04-10');
EXECUTE day_count('2026-04-10');
DEALLOCATE day_count;
