-- Parallel foreign scans: workers and the leader share out the files through a counter
-- in shared memory, on the leader's Delta version; together they return exactly the
-- rows of a serial scan.
SET odp.aggregate_pushdown = off;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT count(*), md5(string_agg(t::text, ',' ORDER BY transaction_id)) FROM lake.transactions t;
EXPLAIN (COSTS OFF)
SELECT count(*), md5(string_agg(t::text, ',' ORDER BY transaction_id))
  FROM lake.transactions t WHERE quantity > 2 AND txn_date >= '2026-02-01';
SELECT count(*) AS p_rows, md5(string_agg(t::text, ',' ORDER BY transaction_id)) AS p_all
  FROM lake.transactions t \gset
SELECT count(*) AS p_frows, md5(string_agg(t::text, ',' ORDER BY transaction_id)) AS p_filtered
  FROM lake.transactions t WHERE quantity > 2 AND txn_date >= '2026-02-01' \gset
SET max_parallel_workers_per_gather = 0;
SELECT count(*) = :p_rows AS same_count,
       md5(string_agg(t::text, ',' ORDER BY transaction_id)) = :'p_all' AS same_rows
  FROM lake.transactions t;
SELECT count(*) = :p_frows AS same_count,
       md5(string_agg(t::text, ',' ORDER BY transaction_id)) = :'p_filtered' AS same_rows
  FROM lake.transactions t WHERE quantity > 2 AND txn_date >= '2026-02-01';
