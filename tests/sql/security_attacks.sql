-- Attacks on ODP's access control by a plain role (issue 21). Each section is a finding
-- that worked before its fix; the first is a harness: every operator and common function
-- of pg_catalog shadowed in a schema the attacker puts first on search_path, then every
-- odp.* function called as that role (and as a role holding an API key), and ODP's
-- scans run under that path. A shadow that runs records itself; none may.
SET client_min_messages = warning;
-- (no operator in its body: it runs under the attacker's path too)
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN pg_catalog.concat(SQLSTATE, ': ', SQLERRM); END $$;
SELECT odp.install_roles();
DROP SCHEMA IF EXISTS hostile CASCADE;
DROP ROLE IF EXISTS odp_attacker;
CREATE ROLE odp_attacker;
GRANT odp_authenticated TO odp_attacker;
CREATE SCHEMA hostile AUTHORIZATION odp_attacker;

-- 1. the search_path harness ---------------------------------------------------------
SET ROLE odp_attacker;
CREATE TABLE hostile.ran (who name, what text);
CREATE FUNCTION hostile.trap(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO hostile.ran VALUES (current_user, what); RETURN true; END $$;
GRANT INSERT ON hostile.ran TO PUBLIC;
-- a shadow for every binary operator of pg_catalog over the types ODP's SQL uses, and
-- for the functions it calls by name: each records itself, then does what the original
-- does
DO $$
DECLARE o record; f record;
BEGIN
  FOR o IN
    SELECT op.oprname, op.oprleft::regtype AS l, op.oprright::regtype AS r, op.oprresult::regtype AS res,
           op.oprcode::text AS code
      FROM pg_catalog.pg_operator op
     WHERE op.oprnamespace = 'pg_catalog'::regnamespace AND op.oprleft <> 0 AND op.oprright <> 0
       AND op.oprname IN ('=', '<>', '<', '>', '<=', '>=', '-', '+', '||', '~~', '!~~', '~', '@>', '->>', '->', '#>>', '?')
       AND op.oprleft::regtype::text IN ('text', 'name', 'oid', 'integer', 'bigint', 'smallint', 'boolean',
           'timestamp with time zone', 'interval', 'jsonb', 'json', '"char"', 'bytea', 'anyarray', 'anyelement', 'text[]', 'name[]', 'regclass')
       AND op.oprright::regtype::text IN ('text', 'name', 'oid', 'integer', 'bigint', 'smallint', 'boolean',
           'timestamp with time zone', 'interval', 'jsonb', 'json', '"char"', 'bytea', 'anyarray', 'anyelement', 'text[]', 'name[]', 'regclass')
       AND op.oprleft::regtype::text NOT LIKE 'any%'
  LOOP
    EXECUTE format('CREATE FUNCTION hostile.%I(%s, %s) RETURNS %s LANGUAGE plpgsql AS $f$
                    BEGIN PERFORM hostile.trap(%L); RETURN pg_catalog.%s($1, $2); END $f$',
                   'op_' || md5(o.oprname || o.l || o.r), o.l, o.r, o.res, o.oprname || ' ' || o.l || ' ' || o.r,
                   o.code);
    EXECUTE format('CREATE OPERATOR hostile.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = hostile.%I)',
                   o.oprname, o.l, o.r, 'op_' || md5(o.oprname || o.l || o.r));
  END LOOP;
  FOR f IN
    SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
           p.prorettype::regtype AS res, p.oid
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND NOT p.proretset
       AND p.proname IN ('now', 'lower', 'upper', 'length', 'date_part', 'isfinite', 'quote_ident',
           'quote_literal', 'current_setting', 'set_config', 'to_jsonb', 'jsonb_typeof', 'pg_has_role',
           'has_table_privilege', 'int8', 'int4', 'text', 'timestamptz', 'regclass', 'to_regclass',
           'array_length', 'cardinality', 'nullif', 'btrim', 'split_part', 'replace', 'substr', 'left',
           'pg_get_userbyid', 'current_database', 'version', 'md5', 'encode', 'decode', 'convert_from')
       AND NOT EXISTS (SELECT FROM pg_catalog.unnest(p.proargtypes) t WHERE t::regtype::text LIKE 'any%' OR t::regtype::text IN ('internal', 'cstring'))
       AND p.prorettype::regtype::text NOT LIKE 'any%' AND p.prorettype::regtype::text NOT IN ('internal', 'cstring', 'void')
       AND p.provariadic = 0
  LOOP
    EXECUTE format('CREATE FUNCTION hostile.%I(%s) RETURNS %s LANGUAGE plpgsql AS $f$
                    BEGIN PERFORM hostile.trap(%L); RETURN pg_catalog.%I(%s); END $f$',
                   f.proname, f.args, f.res, f.proname || '(' || f.args || ')', f.proname,
                   (SELECT coalesce(string_agg('$' || i, ', '), '')
                      FROM pg_catalog.generate_series(1, (SELECT p2.pronargs FROM pg_catalog.pg_proc p2 WHERE p2.oid = f.oid)) i));
  END LOOP;
END $$;
RESET ROLE;
SELECT count(*) > 100 AS shadows_installed FROM pg_catalog.pg_proc WHERE pronamespace = 'hostile'::regnamespace;

-- what the attacker holds: an API key of its own role, a table with a row policy
SELECT odp.create_api_key('attacker_key', 'odp_authenticated') AS api_key \gset
DROP SCHEMA IF EXISTS sec_attack CASCADE;
CREATE SCHEMA sec_attack;
CREATE FOREIGN TABLE sec_attack.transactions (transaction_id text, user_id text, product_id text,
    quantity int, total_amount float8, transaction_time timestamptz, txn_date date)
    SERVER lake OPTIONS (path 'transactions');
GRANT USAGE ON SCHEMA sec_attack TO odp_attacker;
GRANT SELECT ON sec_attack.transactions TO odp_attacker;
SELECT odp.create_row_policy('sec_attack.transactions', 'own', $$user_id = odp.current_claims() ->> 'sub'$$, '{odp_attacker}');

-- every odp.* function callable with SQL arguments, with plain values of its argument
-- types (most are refused: what matters is what runs before the refusal)
CREATE TEMP TABLE calls AS
SELECT row_number() OVER (ORDER BY p.oid::regprocedure::text) AS n,
       format('SELECT %s(%s)', p.oid::regproc,
              (SELECT coalesce(string_agg(CASE t::regtype::text
                   WHEN 'text' THEN quote_literal(:'api_key')
                   WHEN 'name' THEN quote_literal('odp_attacker')
                   WHEN 'regclass' THEN quote_literal('sec_attack.transactions')
                   WHEN 'oid' THEN quote_literal('sec_attack.transactions') || '::regclass::oid'
                   WHEN 'integer' THEN '1' WHEN 'bigint' THEN '0' WHEN 'smallint' THEN '1'
                   WHEN 'boolean' THEN 'true' WHEN 'interval' THEN quote_literal('1 minute')
                   WHEN 'timestamp with time zone' THEN quote_literal('2026-01-01')
                   WHEN 'jsonb' THEN quote_literal('{"a": 1}') WHEN 'json' THEN quote_literal('{}')
                   WHEN 'bytea' THEN quote_literal('\x00')
                   ELSE 'NULL::' || t::regtype::text END, ', ' ORDER BY i), '')
                 FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i))) AS q
  FROM pg_proc p
 WHERE p.pronamespace = 'odp'::regnamespace AND p.prokind = 'f'
   AND p.prorettype::regtype::text NOT IN ('trigger', 'event_trigger', 'fdw_handler')
   AND NOT EXISTS (SELECT FROM unnest(p.proargtypes) t WHERE t::regtype::text IN ('internal', 'cstring'));
SELECT count(*) > 40 AS functions_called FROM calls;
GRANT SELECT ON calls TO odp_attacker;
TRUNCATE hostile.ran;

SET ROLE odp_attacker;
SET search_path = hostile, pg_catalog, public;
DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT q FROM calls ORDER BY n LOOP
    PERFORM pg_temp.try(c.q);
  END LOOP;
END $$;
-- the API-key path that ran the shadows as a superuser
SELECT pg_temp.try(pg_catalog.concat('SELECT odp.authenticate(', pg_catalog.quote_literal(:'api_key'), ')')) AS authenticated;
SELECT pg_temp.try(pg_catalog.concat('SELECT odp.api_key_claims(', pg_catalog.quote_literal(:'api_key'), ')')) AS claims;
-- scans, policies and resource checks under the same path
SELECT pg_temp.try('SELECT count(*) FROM sec_attack.transactions') AS scanned;
SELECT pg_temp.try('EXPLAIN SELECT count(*) FROM sec_attack.transactions') AS explained;
RESET search_path;
RESET ROLE;
SELECT who, what FROM hostile.ran ORDER BY 1, 2;
SELECT count(*) AS shadows_that_ran FROM hostile.ran;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'odp_attacker';

-- 8. session identity does not survive DISCARD ALL / RESET ALL (a pooler's reset) -----
SELECT odp.authenticate(:'api_key') ->> 'role' AS authenticated_as;
SELECT odp.current_claims() ->> 'role' AS before_discard;
DISCARD ALL;
SELECT odp.current_claims() AS after_discard_all;
SELECT odp.authenticate(:'api_key') ->> 'role' AS authenticated_again;
RESET ALL;
SELECT odp.current_claims() AS after_reset_all;
SELECT odp.authenticate(:'api_key') ->> 'role' AS authenticated_once_more;
SELECT odp.reset_session();
SELECT odp.current_claims() AS after_reset_session;
SET client_min_messages = warning;
-- (DISCARD ALL dropped the session's temporary functions)
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN pg_catalog.concat(SQLSTATE, ': ', SQLERRM); END $$;
SELECT odp.revoke_api_key('attacker_key');
DELETE FROM odp.api_keys WHERE name = 'attacker_key';

-- 2. a local root needs pg_write_server_files to be written through ------------------
GRANT pg_read_server_files TO odp_attacker;
GRANT USAGE ON FOREIGN DATA WRAPPER object_fdw, delta_fdw TO odp_attacker;
GRANT CREATE ON SCHEMA hostile TO odp_attacker;
SET ROLE odp_attacker;
CREATE SERVER attack_files FOREIGN DATA WRAPPER object_fdw OPTIONS (root '/tmp');
CREATE FOREIGN TABLE hostile.files (key text, content bytea) SERVER attack_files;
SELECT pg_temp.try($$INSERT INTO hostile.files VALUES ('odp-attack-written', 'x')$$) AS object_write;
CREATE SERVER attack_lake FOREIGN DATA WRAPPER delta_fdw OPTIONS (root '/tmp');
CREATE FOREIGN TABLE hostile.lake_write (id int) SERVER attack_lake
    OPTIONS (path 'odp-attack-delta', create_if_missing 'true');
SELECT pg_temp.try('SELECT count(*) FROM hostile.lake_write') AS delta_create;
RESET ROLE;
SELECT count(*) AS objects_written FROM pg_ls_dir('/tmp') f WHERE f LIKE 'odp-attack-%';
-- a superuser's server (the seed's lake) may still be written by roles it lets in
DROP SERVER attack_files, attack_lake CASCADE;
REVOKE pg_read_server_files FROM odp_attacker;

-- 3. the graph writer gate holds on every path ------------------------------------------
GRANT USAGE ON FOREIGN SERVER graph TO odp_attacker;
CREATE FOREIGN TABLE hostile.graph_nodes (attack_id text) SERVER graph OPTIONS (label 'OdpAttack', key 'attack_id');
ALTER FOREIGN TABLE hostile.graph_nodes OWNER TO odp_attacker;
SET ROLE odp_attacker;
SELECT left(pg_temp.try($$SELECT * FROM odp.cypher('graph', 'UNWIND [1] AS i CALL { CREATE (:OdpAttack {attack_id: "a"}) } IN TRANSACTIONS RETURN 1')$$), 5) AS call_in_transactions;
SELECT left(pg_temp.try($$SELECT * FROM odp.cypher('graph', 'CREATE INDEX odp_attack IF NOT EXISTS FOR (n:OdpAttack) ON (n.attack_id)')$$), 5) AS index_in_read_mode;
SELECT left(pg_temp.try($$SELECT * FROM odp.cypher('graph', 'CALL db.createLabel("OdpAttack")')$$), 5) AS procedure_in_read_mode;
SELECT left(pg_temp.try($$INSERT INTO hostile.graph_nodes VALUES ('b')$$), 5) AS table_write;
SELECT pg_temp.try($$SELECT * FROM odp.cypher('graph', 'MATCH (n:OdpAttack) RETURN count(n) AS n')$$) AS reads_still_work;
RESET ROLE;
SELECT row ->> 'n' AS attack_nodes FROM odp.cypher('graph', 'MATCH (n:OdpAttack) RETURN count(n) AS n') row;
DROP FOREIGN TABLE hostile.graph_nodes;

-- 4. metrics: monitoring roles only, and restricted scans count nothing -----------------
SET ROLE odp_attacker;
SELECT left(pg_temp.try('SELECT odp.metrics()'), 5) AS attacker_reads_metrics;
SELECT left(pg_temp.try('SELECT * FROM odp.pipeline_status()'), 5) AS attacker_reads_pipeline;
RESET ROLE;
CREATE FUNCTION pg_temp.scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(sum(split_part(line, ' ', 2)::bigint), 0) FROM regexp_split_to_table(odp.metrics(), E'\n') line
   WHERE line LIKE 'odp_scans_total %' OR line LIKE 'odp_delta_files_read_total %' $$;
SELECT pg_temp.scans() AS before \gset
SET ROLE odp_attacker;
SELECT count(*) AS restricted_rows FROM sec_attack.transactions WHERE total_amount > 100;
RESET ROLE;
SELECT pg_temp.scans() = :before AS restricted_scan_counted_nothing;

-- 5. one spelling per Delta table ----------------------------------------------------------
SELECT left(pg_temp.try(format('CREATE FOREIGN TABLE hostile.spelled (id int) SERVER lake OPTIONS (path %L)', p)), 5) AS refused, p
  FROM unnest(ARRAY['%74ransactions', 'transaction%73', 'transactions?x', 'transactions#x', 'writes//x']) p;

-- 6. EXPLAIN under a policy shows a fixed estimate ---------------------------------------
CREATE FUNCTION pg_temp.plan_rows(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
  RETURN jsonb_path_query_first(plan, 'strict $.**."Plan Rows"')::text;
END $$;
SET ROLE odp_attacker;
SELECT pg_temp.plan_rows('SELECT * FROM sec_attack.transactions') AS whole_table,
       pg_temp.plan_rows($$SELECT * FROM sec_attack.transactions WHERE transaction_id = 't0000004242'$$) AS one_key,
       pg_temp.plan_rows($$SELECT * FROM sec_attack.transactions WHERE txn_date = '2026-03-01'$$) AS one_partition;
RESET ROLE;

-- 7. statistics gathered before the first policy are dropped with it -----------------------
CREATE FOREIGN TABLE sec_attack.stats_target (user_id text, total_amount float8) SERVER lake OPTIONS (path 'transactions');
GRANT SELECT ON sec_attack.stats_target TO odp_attacker;
ANALYZE sec_attack.stats_target;
SELECT count(*) > 0 AS stats_before, (SELECT reltuples > 0 FROM pg_class WHERE oid = 'sec_attack.stats_target'::regclass) AS reltuples_before
  FROM pg_stats WHERE schemaname = 'sec_attack' AND tablename = 'stats_target';
SELECT odp.create_row_policy('sec_attack.stats_target', 'own', $$user_id = odp.current_claims() ->> 'sub'$$, '{odp_attacker}');
ANALYZE sec_attack.stats_target;
SET ROLE odp_attacker;
SELECT count(*) AS stats_after FROM pg_stats WHERE schemaname = 'sec_attack' AND tablename = 'stats_target';
SELECT reltuples AS reltuples_after FROM pg_class WHERE oid = 'sec_attack.stats_target'::regclass;
RESET ROLE;

-- 10. presigned URLs follow the object tables' grants ----------------------------------
GRANT USAGE ON FOREIGN SERVER objects TO odp_attacker;
SET ROLE odp_attacker;
SELECT left(pg_temp.try($$SELECT odp.presign('objects', 'images/products/p000001.jpg', interval '1 minute', 'DELETE')$$), 5) AS delete_url,
       left(pg_temp.try($$SELECT odp.presign('objects', 'images/products/p000001.jpg')$$), 5) AS get_url;
-- a table of its own over the whole bucket does not count
CREATE FOREIGN TABLE hostile.whole_bucket (key text, content bytea) SERVER objects OPTIONS (overwrite 'true');
SELECT left(pg_temp.try($$SELECT odp.presign('objects', 'images/products/p000001.jpg', interval '1 minute', 'DELETE')$$), 5) AS delete_url_own_table;
DROP FOREIGN TABLE hostile.whole_bucket;
RESET ROLE;
GRANT SELECT ON objects.product_images TO odp_attacker;
GRANT USAGE ON SCHEMA objects TO odp_attacker;
SET ROLE odp_attacker;
SELECT left(pg_temp.try($$SELECT odp.presign('objects', 'images/products/p000001.jpg')$$), 5) AS get_url_with_select,
       left(pg_temp.try($$SELECT odp.presign('objects', 'images/products/p000001.jpg', interval '1 minute', 'DELETE')$$), 5) AS delete_url_with_select,
       left(pg_temp.try($$SELECT odp.presign('objects', 'documents/shipping.txt')$$), 5) AS other_prefix;
RESET ROLE;
REVOKE SELECT ON objects.product_images FROM odp_attacker;
REVOKE USAGE ON SCHEMA objects FROM odp_attacker;

-- 11. settings that choose targets or memory are superuser settings; options are bounded
SET ROLE odp_attacker;
SELECT left(pg_temp.try($$SET odp.redis_url = 'redis://10.0.0.1:1'$$), 5) AS redis_url,
       left(pg_temp.try($$SET odp.bolt_url = 'bolt://10.0.0.1:1'$$), 5) AS bolt_url,
       left(pg_temp.try($$SET odp.decoded_file_cache_mb = 16000$$), 5) AS cache_budget;
RESET ROLE;
SELECT pg_temp.try($$CREATE SERVER attack_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'bolt://127.0.0.1:1', fetch_size '100000000000')$$) AS huge_fetch_size;
SELECT pg_temp.try($$CREATE FOREIGN TABLE hostile.ttl (k text, v text) SERVER features OPTIONS (key_template 'k:{k}', ttl_seconds '999999999999')$$) AS huge_ttl;

-- 13. IMPORT FOREIGN SCHEMA lists only what the role may read ------------------------------
SELECT odp.allow_resource('delta:users', 'read', 'odp_admin');
GRANT USAGE ON FOREIGN SERVER lake TO odp_attacker;
SET ROLE odp_attacker;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, products) FROM SERVER lake INTO hostile;
SELECT c.relname AS imported FROM pg_class c WHERE c.relnamespace = 'hostile'::regnamespace AND c.relkind = 'f' ORDER BY 1;
RESET ROLE;
SELECT odp.disallow_resource('delta:users', 'read', 'odp_admin');
REVOKE USAGE ON FOREIGN SERVER lake FROM odp_attacker;

-- 12. no secrets in server options ----------------------------------------------------------
SELECT pg_temp.try($$CREATE SERVER attack_redis FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis+unix:///tmp/redis.sock?pass=secret')$$) AS password_in_url;

DROP SCHEMA sec_attack CASCADE;
DROP SCHEMA hostile CASCADE;
REVOKE USAGE ON FOREIGN SERVER graph, objects FROM odp_attacker;
REVOKE USAGE ON FOREIGN DATA WRAPPER object_fdw, delta_fdw FROM odp_attacker;
DELETE FROM odp.resource_policies WHERE principal = 'odp_attacker';
DROP ROLE odp_attacker;
