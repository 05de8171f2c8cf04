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
