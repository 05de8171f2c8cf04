-- Bad tables and columns fail with clear errors and specific SQLSTATEs, never a crash.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '"(file://)?/[^"]*"', '"<path>"', 'g'); END $$;
BEGIN;
CREATE FOREIGN TABLE pg_temp.missing (a text) SERVER lake OPTIONS (path 'no_such_table');
SELECT pg_temp.try('SELECT * FROM pg_temp.missing');
CREATE FOREIGN TABLE pg_temp.wrong_type (transaction_id int4) SERVER lake OPTIONS (path 'transactions');
SELECT pg_temp.try('SELECT * FROM pg_temp.wrong_type');
CREATE FOREIGN TABLE pg_temp.wrong_column (nope text) SERVER lake OPTIONS (path 'transactions');
SELECT pg_temp.try('SELECT * FROM pg_temp.wrong_column');
CREATE FOREIGN TABLE pg_temp.future (transaction_id text) SERVER lake OPTIONS (path 'transactions', version '99');
SELECT pg_temp.try('SELECT * FROM pg_temp.future');
-- a subset of columns, in another order, is fine
CREATE FOREIGN TABLE pg_temp.subset (quantity int8, transaction_id varchar) SERVER lake OPTIONS (path 'transactions', version '0');
SELECT quantity, transaction_id FROM pg_temp.subset WHERE transaction_id = 't0000000001';
-- hostile strings are values, never code
SELECT count(*) FROM lake.products WHERE category = $$x' OR '1'='1$$;
SELECT count(*) FROM lake.products WHERE name LIKE $$%'; DROP TABLE heap.users; --%$$;
ROLLBACK;
SELECT count(*) > 0 AS heap_users_intact FROM heap.users;
-- ... and stored, each hostile string finds exactly its own row, by =, IN and LIKE
-- (an exact qual is not checked again by Postgres: a value read as code would show)
SELECT 'errors/hostile_' || md5(random()::text) AS hpath \gset
CREATE FOREIGN TABLE pg_temp.hostile_values (id int8, s text)
  SERVER lake OPTIONS (path :'hpath', create_if_missing 'true');
INSERT INTO pg_temp.hostile_values VALUES
  (1, $$x' OR '1'='1$$), (2, $$%'; DROP TABLE heap.users; --%$$), (3, 'a_b%c\d'),
  (4, 'plain'), (5, $q$it's "quoted" \ $$ {braces} [x]* ?$q$), (6, 'x');
CREATE TEMP TABLE hostile_copy AS SELECT * FROM pg_temp.hostile_values;
SELECT h.id, array_agg(v.id ORDER BY v.id) AS found_by_equality
  FROM hostile_copy h JOIN pg_temp.hostile_values v ON v.s = h.s GROUP BY h.id ORDER BY h.id;
SELECT h.id, (SELECT array_agg(v.id ORDER BY v.id) FROM pg_temp.hostile_values v
               WHERE v.s = h.s) AS found_by_constant
  FROM hostile_copy h ORDER BY h.id;
SELECT array_agg(id ORDER BY id) AS by_in FROM pg_temp.hostile_values
 WHERE s IN ($$x' OR '1'='1$$, 'a_b%c\d', $q$it's "quoted" \ $$ {braces} [x]* ?$q$);
SELECT array_agg(id ORDER BY id) AS by_like FROM pg_temp.hostile_values WHERE s LIKE $$x' OR %$$;
SELECT array_agg(id ORDER BY id) AS by_escaped_like FROM pg_temp.hostile_values WHERE s LIKE 'a\_b\%%';
SELECT count(*) > 0 AS heap_users_still_intact FROM heap.users;
