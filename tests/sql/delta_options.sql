-- Options are validated at CREATE/ALTER time, with the option named and a specific SQLSTATE.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
BEGIN;
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER delta_fdw OPTIONS (rooot '/tmp')$$);
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER delta_fdw OPTIONS (allow_http 'maybe')$$);
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER delta_fdw OPTIONS (request_timeout_ms 'soon')$$);
-- one rule for every source's time-outs: zero is refused at CREATE, never clamped
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER delta_fdw OPTIONS (connect_timeout_ms '0')$$);
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER object_fdw OPTIONS (connect_timeout_ms '0')$$);
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://h', command_timeout_ms '0')$$);
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'bolt://h', query_timeout_ms '0')$$);
SELECT pg_temp.try($$CREATE SERVER bad FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'bolt://h', connect_timeout_ms '3600001')$$);
SELECT pg_temp.try($$CREATE SERVER okserver FOREIGN DATA WRAPPER delta_fdw OPTIONS (root '/tmp', path_style 'on')$$);
SELECT pg_temp.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER okserver OPTIONS (password 'hunter2')$$);
-- part of a credential would sign nothing: refused (Delta and object servers alike)
SELECT pg_temp.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER okserver OPTIONS (access_key_id 'k')$$);
SELECT pg_temp.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER okserver OPTIONS (secret_access_key 's', session_token 't')$$);
SELECT pg_temp.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER objects OPTIONS (access_key_id 'k')$$);
SELECT pg_temp.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER okserver OPTIONS (access_key_id 'k', secret_access_key 's')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE t1 (a int) SERVER okserver$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE t2 (a int) SERVER okserver OPTIONS (path 'x', version 'latest')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE t3 (a int) SERVER okserver OPTIONS (path '../etc')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE t4 (a int) SERVER okserver OPTIONS (path 'x', version '1', timestamp '2026-01-01T00:00:00Z')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE t5 (a int) SERVER okserver OPTIONS (path 'x', version '3')$$);
SELECT pg_temp.try($$ALTER FOREIGN TABLE t5 OPTIONS (ADD colour 'blue')$$);
SELECT pg_temp.try($$ALTER SERVER okserver OPTIONS (SET root '')$$);
ROLLBACK;
