-- Storage management: history, partitions, compaction, vacuum, dropping a partition,
-- restoring a version, checkpoints, and who may call them.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT 'writes/s_' || md5(random()::text) AS spath \gset
CREATE FOREIGN TABLE pg_temp.s (id bigint, cat text, v float8)
    SERVER lake OPTIONS (path :'spath', create_if_missing 'true', partition_by 'cat');
-- twenty small appends, alternating between two partitions
SELECT format('INSERT INTO pg_temp.s SELECT g, %L, g * 1.5 FROM generate_series(%s, %s) g',
              CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, i * 100, i * 100 + 99)
  FROM generate_series(1, 20) i \gexec
SELECT count(*) AS rows, sum(v) FROM pg_temp.s;
SELECT count(*) AS commits, min(version), max(version), count(*) FILTER (WHERE operation = 'WRITE') AS writes
  FROM odp.delta_history('pg_temp.s');
SELECT partition, files, rows, bytes > 0 AS has_bytes FROM odp.delta_partitions('pg_temp.s') ORDER BY partition::text;

-- compaction: fewer files, the same rows
SELECT * FROM odp.delta_optimize('pg_temp.s');
SELECT partition, files, rows FROM odp.delta_partitions('pg_temp.s') ORDER BY partition::text;
SELECT count(*) AS rows, sum(v) FROM pg_temp.s;
SELECT operation, parameters FROM odp.delta_history('pg_temp.s') ORDER BY version DESC LIMIT 1;
SELECT * FROM odp.delta_optimize('pg_temp.s');
-- time travel still reads versions from before the compaction
CREATE FOREIGN TABLE pg_temp.s_v10 (id bigint, cat text, v float8) SERVER lake OPTIONS (path :'spath', version '10');
SELECT count(*) AS rows_at_v10 FROM pg_temp.s_v10;

-- vacuum: a retention shorter than the table's needs force; within 7 days nothing goes
SELECT pg_temp.try($$SELECT * FROM odp.delta_vacuum('pg_temp.s', '1 hour')$$);
SELECT count(*) AS would_delete FROM odp.delta_vacuum('pg_temp.s', dry_run => true);
SELECT count(*) AS deleted FROM odp.delta_vacuum('pg_temp.s', '0 seconds', force => true);
SELECT count(*) AS rows, sum(v) FROM pg_temp.s;
SELECT count(*) AS deleted_again FROM odp.delta_vacuum('pg_temp.s', '0 seconds', force => true);

-- dropping a partition removes its files without reading them; restore brings it back
SELECT * FROM odp.delta_drop_partition('pg_temp.s', 'a');
SELECT cat, count(*) FROM pg_temp.s GROUP BY cat ORDER BY cat;
SELECT odp.delta_restore('pg_temp.s', 21) AS restored_as;
SELECT cat, count(*) FROM pg_temp.s GROUP BY cat ORDER BY cat;
SELECT odp.delta_checkpoint('pg_temp.s') AS checkpoint_version;
SELECT count(*) AS rows FROM pg_temp.s;

-- changing functions need ownership, reading ones SELECT; other tables are refused
SET client_min_messages = warning;
DROP ROLE IF EXISTS odp_reader;
CREATE ROLE odp_reader;
RESET client_min_messages;
CREATE FOREIGN TABLE public.s_shared (id bigint, cat text, v float8) SERVER lake OPTIONS (path :'spath');
GRANT SELECT ON public.s_shared TO odp_reader;
GRANT USAGE ON SCHEMA odp TO odp_reader;
SET ROLE odp_reader;
SELECT count(*) > 0 AS can_read_history FROM odp.delta_history('public.s_shared');
SELECT pg_temp.try($$SELECT * FROM odp.delta_optimize('public.s_shared')$$);
SELECT pg_temp.try($$SELECT * FROM odp.delta_vacuum('public.s_shared')$$);
RESET ROLE;
DROP FOREIGN TABLE public.s_shared;
REVOKE USAGE ON SCHEMA odp FROM odp_reader;
DROP ROLE odp_reader;
SELECT pg_temp.try($$SELECT * FROM odp.delta_history('heap.users')$$);

-- Z-order: rows close in (x, y) end up in the same row groups, so a box query skips more
SELECT 'writes/z_' || md5(random()::text) AS zpath \gset
CREATE FOREIGN TABLE pg_temp.z (id bigint, x int4, y int4)
    SERVER lake OPTIONS (path :'zpath', create_if_missing 'true', row_group_rows '250');
INSERT INTO pg_temp.z SELECT g, (g * 7919) % 1000, (g * 104729) % 1000 FROM generate_series(1, 4000) g;
CREATE FUNCTION pg_temp.skipped(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE line text; n int := 0;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ' || q LOOP
    IF line ~ 'Delta Row Groups Skipped' THEN n := substring(line FROM '(\d+)$')::int; END IF;
  END LOOP;
  RETURN n;
END $$;
SELECT pg_temp.skipped('SELECT * FROM pg_temp.z WHERE x < 100 AND y < 100') AS skipped_before;
SELECT version IS NOT NULL AS rewritten, files_removed FROM odp.delta_optimize('pg_temp.z', zorder_by => ARRAY['x', 'y']);
SELECT pg_temp.skipped('SELECT * FROM pg_temp.z WHERE x < 100 AND y < 100') AS skipped_after;
SELECT count(*), sum(x), sum(y), count(*) FILTER (WHERE x < 100 AND y < 100) AS in_box FROM pg_temp.z;
SELECT pg_temp.try($$SELECT * FROM odp.delta_optimize('pg_temp.z', zorder_by => ARRAY['nope'])$$);
