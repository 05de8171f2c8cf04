-- Every Delta type maps to its Postgres type; IMPORT FOREIGN SCHEMA declares them.
BEGIN;
CREATE SCHEMA imported;
IMPORT FOREIGN SCHEMA public LIMIT TO (all_types, products) FROM SERVER lake INTO imported;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'imported'::regnamespace AND a.attnum > 0 ORDER BY 1, a.attnum;
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'imported.all_types'::regclass;
SELECT * FROM imported.all_types ORDER BY id;
SELECT id, tags[3], scores[2], address->>'city' AS city, attrs FROM imported.all_types WHERE ok;
SELECT id FROM imported.all_types WHERE ts_ntz = '2000-01-01 00:00:00' AND day < '1970-01-01';
SELECT count(*) FROM imported.all_types WHERE s IS NULL;
-- EXCEPT skips the listed tables
CREATE SCHEMA imported2;
IMPORT FOREIGN SCHEMA public EXCEPT (all_types) FROM SERVER lake INTO imported2;
SELECT relname FROM pg_class WHERE relnamespace = 'imported2'::regnamespace ORDER BY 1;
ROLLBACK;
-- ANALYZE samples rows so the planner has column statistics
ANALYZE lake.products;
SELECT attname, n_distinct > 0 OR n_distinct < 0 AS has_distinct FROM pg_stats
 WHERE schemaname = 'lake' AND tablename = 'products' AND attname IN ('category', 'product_id') ORDER BY 1;
SELECT reltuples FROM pg_class WHERE oid = 'lake.products'::regclass;
