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

-- Workers rebuild the leader's snapshot from shared memory: partition values that need
-- escaping in paths (a space, %, /, non-ASCII, NULL), several commits, statistics
-- parsed from the handoff. With the leader not scanning, every row comes from a worker.
SET client_min_messages = warning;
SELECT 'parallel/p_' || md5(random()::text) AS ppath \gset
CREATE FOREIGN TABLE public.parallel_handoff (id bigint, amount numeric(10,2), cat text)
  SERVER lake OPTIONS (path :'ppath', create_if_missing 'true', partition_by 'cat');
INSERT INTO public.parallel_handoff
  SELECT g, g / 7.0, (ARRAY['a b', 'c%d', 'e/f', 'ü=1', NULL])[1 + g % 5] FROM generate_series(1, 15000) g;
INSERT INTO public.parallel_handoff
  SELECT g, g / 7.0, (ARRAY['a b', 'c%d', 'e/f', 'ü=1', NULL])[1 + g % 5] FROM generate_series(15001, 30000) g;
CREATE FUNCTION pg_temp.explain_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN
  RETURN QUERY EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q;
END $f$;
SET parallel_leader_participation = off;
SET max_parallel_workers_per_gather = 2;
SELECT line FROM pg_temp.explain_lines($$
  SELECT count(*) FROM public.parallel_handoff WHERE amount > 1000 AND cat IN ('c%d', 'e/f', 'ü=1')
$$) AS line WHERE line ~ 'Workers Launched|Parallel Foreign Scan|Delta Files:';
SELECT count(*) AS p_rows, md5(string_agg(t::text, ',' ORDER BY id)) AS p_all
  FROM public.parallel_handoff t WHERE amount > 1000 AND cat IN ('c%d', 'e/f', 'ü=1') \gset
SET max_parallel_workers_per_gather = 0;
RESET parallel_leader_participation;
SELECT count(*) = :p_rows AS same_count, count(*) AS rows,
       md5(string_agg(t::text, ',' ORDER BY id)) = :'p_all' AS same_rows
  FROM public.parallel_handoff t WHERE amount > 1000 AND cat IN ('c%d', 'e/f', 'ü=1');
DROP FOREIGN TABLE public.parallel_handoff;
