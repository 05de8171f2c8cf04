-- Writes: one Delta commit per transaction, nothing on rollback or error, savepoints,
-- generated date columns, COPY FROM, and exact type checks on the way in.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
-- a fresh table under the server root for this run
SELECT 'writes/w_' || md5(random()::text) AS wpath \gset
CREATE FUNCTION pg_temp.commits() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_ls_dir(current_setting('odp_test.log_dir')) f WHERE f LIKE '%.json' $$;
SELECT set_config('odp_test.log_dir', :'lake_root' || '/' || :'wpath' || '/_delta_log', false) IS NOT NULL AS set;
CREATE FOREIGN TABLE pg_temp.w (
    id bigint, name text, amount numeric(12,2), ratio real, tags text[], ts timestamptz,
    day date OPTIONS (generation_expression 'CAST(ts AS DATE)')
) SERVER lake OPTIONS (path :'wpath', create_if_missing 'true', partition_by 'day', compression 'zstd:3');
SELECT count(*) AS rows, pg_temp.commits() AS commits FROM pg_temp.w;

-- one statement, one commit; the generated day is computed
INSERT INTO pg_temp.w (id, name, amount, ratio, tags, ts)
SELECT g, 'n' || g, g * 1.25, g / 4.0, ARRAY['t' || g, NULL], '2026-03-01 00:00+00'::timestamptz + g * interval '7 hours'
  FROM generate_series(1, 40) g;
SELECT count(*) AS rows, sum(amount), count(DISTINCT day) AS days, pg_temp.commits() AS commits FROM pg_temp.w;
SELECT id, name, amount, ratio, tags, ts, day FROM pg_temp.w WHERE id IN (1, 4, 40) ORDER BY id;

-- several statements in a transaction: still one commit, at COMMIT
BEGIN;
INSERT INTO pg_temp.w (id, ts) VALUES (101, '2026-04-01 12:00+00');
INSERT INTO pg_temp.w (id, ts) VALUES (102, '2026-04-02 12:00+00');
SELECT pg_temp.commits() AS commits_before_commit;
COMMIT;
SELECT count(*) AS rows, pg_temp.commits() AS commits FROM pg_temp.w;

-- ROLLBACK leaves no trace in the log
BEGIN;
INSERT INTO pg_temp.w (id, ts) SELECT g, now() FROM generate_series(200, 299) g;
ROLLBACK;
SELECT count(*) AS rows, pg_temp.commits() AS commits FROM pg_temp.w;

-- a statement that fails midway commits nothing
SELECT pg_temp.try($$INSERT INTO pg_temp.w (id, ts) SELECT g, now() + (1 / (g - 5000)) * interval '1 s' FROM generate_series(1, 10000) g$$);
SELECT count(*) AS rows, pg_temp.commits() AS commits FROM pg_temp.w;

-- ROLLBACK TO SAVEPOINT discards only the rows written after it
BEGIN;
INSERT INTO pg_temp.w (id, ts) VALUES (301, '2026-05-01 00:00+00');
SAVEPOINT a;
INSERT INTO pg_temp.w (id, ts) VALUES (302, '2026-05-01 00:00+00');
SAVEPOINT b;
INSERT INTO pg_temp.w (id, ts) VALUES (303, '2026-05-01 00:00+00');
ROLLBACK TO a;
INSERT INTO pg_temp.w (id, ts) VALUES (304, '2026-05-01 00:00+00');
SAVEPOINT c;
INSERT INTO pg_temp.w (id, ts) VALUES (305, '2026-05-01 00:00+00');
RELEASE c;
COMMIT;
SELECT id FROM pg_temp.w WHERE id > 300 ORDER BY id;

-- COPY FROM
COPY pg_temp.w (id, name, ts) FROM STDIN WITH (FORMAT csv);
401,copied one,2026-06-01 08:00:00+00
402,"copied, two",2026-06-02 08:00:00+00
\.
SELECT id, name, day FROM pg_temp.w WHERE id > 400 ORDER BY id;

-- values that do not fit are errors, never silently changed
SELECT pg_temp.try($$INSERT INTO pg_temp.w (id, ts, day) VALUES (501, '2026-03-01 10:00+00', '2026-03-05')$$);
CREATE FOREIGN TABLE pg_temp.w8 (id bigint, ratio float8, amount numeric) SERVER lake OPTIONS (path :'wpath');
SELECT pg_temp.try($$INSERT INTO pg_temp.w8 (id, ratio) VALUES (502, 0.1)$$);
SELECT pg_temp.try($$INSERT INTO pg_temp.w8 (id, amount) VALUES (502, 12345678901.5)$$);
INSERT INTO pg_temp.w8 (id, ratio, amount) VALUES (502, 0.5, 1.005);
SELECT pg_temp.try($$INSERT INTO pg_temp.w (id, ts) VALUES (503, 'infinity')$$);
SELECT id, ratio, amount FROM pg_temp.w WHERE id = 502;
SELECT count(*) AS rows, pg_temp.commits() AS commits FROM pg_temp.w;

-- a reader sees the new version at its next statement; pruning works on written files
EXPLAIN (COSTS OFF) SELECT id FROM pg_temp.w WHERE ts >= '2026-04-01' AND ts < '2026-04-02';
SELECT id FROM pg_temp.w WHERE ts >= '2026-04-01' AND ts < '2026-04-02';

-- tables whose rules ODP cannot enforce, and pinned versions, are not written
CREATE FOREIGN TABLE pg_temp.pinned (id bigint) SERVER lake OPTIONS (path :'wpath', version '1');
SELECT pg_temp.try($$INSERT INTO pg_temp.pinned VALUES (1)$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE pg_temp.bad (id bigint) SERVER lake OPTIONS (path 'x', compression 'brotli:99')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE pg_temp.bad (d date OPTIONS (generation_expression 'd + 1')) SERVER lake OPTIONS (path 'x')$$);

-- sort_by sorts each run of row_group_rows written rows, so row-group statistics skip
SELECT :'wpath' || '_sorted' AS spath \gset
CREATE FOREIGN TABLE pg_temp.sorted (id bigint, amount int) SERVER lake
  OPTIONS (path :'spath', create_if_missing 'true', sort_by 'amount', row_group_rows '100');
INSERT INTO pg_temp.sorted SELECT g, (g * 7919) % 1000 FROM generate_series(1, 1000) g;
SELECT bool_and(amount >= prev) AS in_order, count(*) AS rows
  FROM (SELECT amount, lag(amount, 1, -1) OVER () AS prev FROM pg_temp.sorted) s;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM pg_temp.sorted WHERE amount < 100;
ALTER FOREIGN TABLE pg_temp.sorted OPTIONS (SET sort_by 'nope');
SELECT pg_temp.try($$INSERT INTO pg_temp.sorted VALUES (1, 1)$$);

-- bloom_filter_columns: a row group whose values span the looked-up one but whose
-- bloom filter lacks it is skipped (each row group here spans nearly every id)
SELECT :'wpath' || '_bloom' AS bpath \gset
CREATE FOREIGN TABLE pg_temp.bloom (id bigint, code text, n int) SERVER lake
  OPTIONS (path :'bpath', create_if_missing 'true', bloom_filter_columns 'id, code', row_group_rows '1000');
INSERT INTO pg_temp.bloom SELECT g, 'c' || g, g % 7 FROM generate_series(1, 3000) g
  WHERE g % 10 <> 5 ORDER BY (g * 7919) % 3001;
SELECT count(*) AS rows, min(id), max(id) FROM pg_temp.bloom;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM pg_temp.bloom WHERE id = 1005;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM pg_temp.bloom WHERE code IN ('c1005', 'c2995');
SELECT * FROM pg_temp.bloom WHERE id = 1004 OR code IN ('c1005', 'c7') ORDER BY id;
SELECT * FROM pg_temp.bloom WHERE id IN (1005, 2004, NULL) ORDER BY id;
SELECT count(*) FROM pg_temp.bloom WHERE code = 'c1005' COLLATE "C";
ALTER FOREIGN TABLE pg_temp.bloom OPTIONS (SET bloom_filter_columns 'nope');
SELECT pg_temp.try($$INSERT INTO pg_temp.bloom VALUES (1, 'x', 1)$$);

-- the page index: pages whose bounds rule out the quals are not read; the rows kept
-- are exactly those of the same query over the generated rows
SELECT :'wpath' || '_pages' AS ppath \gset
CREATE FOREIGN TABLE pg_temp.pages (id bigint, n int) SERVER lake
  OPTIONS (path :'ppath', create_if_missing 'true');
INSERT INTO pg_temp.pages SELECT g, CASE WHEN g <= 40000 THEN g % 3 END FROM generate_series(1, 50000) g;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM pg_temp.pages WHERE id = 45000;
SELECT * FROM pg_temp.pages WHERE id = 45000;
SELECT count(*), sum(id), sum(n) FROM pg_temp.pages WHERE id BETWEEN 19990 AND 40010 AND n IS NULL;
SELECT count(*), sum(id), sum(n) FROM (SELECT g AS id, CASE WHEN g <= 40000 THEN g % 3 END AS n
  FROM generate_series(1, 50000) g) s WHERE id BETWEEN 19990 AND 40010 AND n IS NULL;
SELECT count(*), sum(id) FROM pg_temp.pages WHERE id > 39990 AND n IS NOT NULL;
SELECT count(*), sum(id) FROM pg_temp.pages WHERE (id < 5 OR id > 49995) AND id <> 50000;

-- lookups a file returns to: the first remembers the file, the second decodes it whole
-- and keeps it, later ones filter the decoded rows (rows of every row group, not only
-- the ones the admitting lookup read); the answers are the same throughout
SELECT :'wpath' || '_hot' AS hpath \gset
CREATE FOREIGN TABLE pg_temp.hot (id bigint, code text, n int) SERVER lake
  OPTIONS (path :'hpath', create_if_missing 'true', row_group_rows '1000');
INSERT INTO pg_temp.hot SELECT g, 'c' || g, CASE WHEN g % 4 <> 0 THEN g % 7 END
  FROM generate_series(1, 5000) g;
SELECT * FROM pg_temp.hot WHERE id = 4321;
SELECT * FROM pg_temp.hot WHERE id = 4322;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM pg_temp.hot WHERE id = 17;
SELECT * FROM pg_temp.hot WHERE id IN (17, 2500, 5001) ORDER BY id;
SELECT * FROM pg_temp.hot WHERE id IN (17, 2500, 5001, NULL) ORDER BY id;
SELECT count(*), sum(id) FROM pg_temp.hot WHERE n IS NULL AND id < 100;
SELECT * FROM pg_temp.hot WHERE code = 'c999';
SELECT * FROM pg_temp.hot WHERE id > 4998 LIMIT 1;
SELECT count(*), sum(id), sum(n) FROM pg_temp.hot WHERE id BETWEEN 990 AND 3010 AND n IS NULL;
SELECT count(*), sum(id), sum(n) FROM (SELECT g AS id, CASE WHEN g % 4 <> 0 THEN g % 7 END AS n
  FROM generate_series(1, 5000) g) s WHERE id BETWEEN 990 AND 3010 AND n IS NULL;
-- a new commit: the added file is read, a rewritten file's cached rows are not used
INSERT INTO pg_temp.hot VALUES (6000, 'new', 1);
DELETE FROM pg_temp.hot WHERE id = 17;
SELECT * FROM pg_temp.hot WHERE id IN (17, 18, 6000) ORDER BY id;
-- off: every lookup reads Parquet
SET odp.decoded_file_cache_mb = 0;
SELECT * FROM pg_temp.hot WHERE id = 18;
SELECT * FROM pg_temp.hot WHERE id = 18;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM pg_temp.hot WHERE id = 18;
-- a file that decodes past an eighth of the budget (2 MB here) is found out by one whole
-- decode, then read as usual: 12,000 copies of one 200-byte string are one dictionary
-- entry in Parquet, 2.4 MB decoded
SET odp.decoded_file_cache_mb = 2;
SELECT :'wpath' || '_wide' AS widepath \gset
CREATE FOREIGN TABLE pg_temp.wide (id bigint, pad text) SERVER lake
  OPTIONS (path :'widepath', create_if_missing 'true');
INSERT INTO pg_temp.wide SELECT g, repeat('x', 200) FROM generate_series(1, 12000) g;
SELECT (regexp_match(odp.metrics(), 'odp_decoded_file_cache_misses_total (\d+)'))[1]::int AS misses,
       (regexp_match(odp.metrics(), 'odp_decoded_file_cache_too_large_total (\d+)'))[1]::int AS too_large \gset
SELECT id, length(pad) FROM pg_temp.wide WHERE id = 5;
SELECT id, length(pad) FROM pg_temp.wide WHERE id IN (11999, 3) ORDER BY id;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, length(pad) FROM pg_temp.wide WHERE id = 7;
SELECT id, length(pad) FROM pg_temp.wide WHERE id = 7;
-- the cache was asked five times (the whole decode that outgrew it asks again), served
-- none, and one whole decode found the file too large
SELECT (regexp_match(odp.metrics(), 'odp_decoded_file_cache_misses_total (\d+)'))[1]::int - :misses
         AS uncached_lookups,
       (regexp_match(odp.metrics(), 'odp_decoded_file_cache_too_large_total (\d+)'))[1]::int - :too_large
         AS too_large_decodes;
RESET odp.decoded_file_cache_mb;
SELECT (regexp_match(odp.metrics(), 'odp_decoded_file_cache_hits_total (\d+)'))[1]::int > 0 AS cache_hits;

-- UPDATE and DELETE name rows by the identity the scan puts in ctid
EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM pg_temp.w WHERE id = 3;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.w;
UPDATE pg_temp.w SET name = 'moved', ts = ts + interval '10 days' WHERE id BETWEEN 1 AND 3;
SELECT id, name, ts, day FROM pg_temp.w WHERE id BETWEEN 1 AND 3 ORDER BY id;
DELETE FROM pg_temp.w WHERE id % 5 = 0;
SELECT count(*) AS rows, (SELECT count(*) FROM before WHERE id % 5 <> 0) AS expected FROM pg_temp.w;
-- a predicate on partition columns only removes whole files without reading them
EXPLAIN (COSTS OFF) DELETE FROM pg_temp.w WHERE day = '2026-03-02';
EXPLAIN (COSTS OFF) DELETE FROM pg_temp.w WHERE day = '2026-03-02' AND id > 0;
EXPLAIN (COSTS OFF) DELETE FROM pg_temp.w WHERE day = '2026-03-02' RETURNING id;
SELECT count(*) AS day_rows FROM pg_temp.w WHERE day = '2026-03-03';
-- proof that no row is read: the day's data files are overwritten with garbage first
SELECT count(*) > 0 AS corrupted FROM pg_ls_dir(:'lake_root' || '/' || :'wpath' || '/day=2026-03-03') f,
  LATERAL (SELECT pg_temp.try(format('COPY (SELECT ''not parquet'') TO %L', :'lake_root' || '/' || :'wpath' || '/day=2026-03-03/' || f))) t
  WHERE f LIKE '%.parquet';
\set QUIET off
DELETE FROM pg_temp.w WHERE day = '2026-03-03';
\set QUIET on
SELECT count(*) FILTER (WHERE day = '2026-03-03') AS left_in_day FROM pg_temp.w;
-- a savepoint undoes a direct DELETE too; a NULL value deletes nothing
BEGIN;
SAVEPOINT s;
DELETE FROM pg_temp.w WHERE day IN ('2026-03-04', '2026-03-05');
ROLLBACK TO s;
PREPARE del(date) AS DELETE FROM pg_temp.w WHERE day = $1;
EXECUTE del(NULL);
SET LOCAL plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE del('2026-03-04');
EXECUTE del(NULL);
COMMIT;
SELECT count(*) FILTER (WHERE day IN ('2026-03-04', '2026-03-05')) AS kept FROM pg_temp.w;
-- a whole partition through the row path: its files are removed
DELETE FROM pg_temp.w WHERE day = '2026-03-02' AND id > 0;
SELECT count(*) FILTER (WHERE day = '2026-03-02') AS left_in_day, count(*) AS rows FROM pg_temp.w;
-- rolled back changes leave the table as it was
BEGIN;
DELETE FROM pg_temp.w;
SELECT pg_temp.try($$UPDATE pg_temp.w8 SET amount = 0$$);
ROLLBACK;
SELECT count(*) AS rows FROM pg_temp.w;
-- the transaction that changed a table reads its own changes (one row fewer, then
-- all back after the ROLLBACK)
SELECT count(*) AS rows_before FROM pg_temp.w;
BEGIN;
DELETE FROM pg_temp.w WHERE id = 1;
SELECT count(*) AS rows_in_transaction, count(*) FILTER (WHERE id = 1) AS deleted_row FROM pg_temp.w;
ROLLBACK;
SELECT count(*) AS rows, pg_temp.commits() AS commits FROM pg_temp.w;
