-- Security: the PostgREST role set, claims trusted only from PostgREST's login role, row
-- policies applied inside every ODP scan (Delta and Redis here; graph and objects use the
-- same core), also through joins, subqueries, views and COPY, and column grants on
-- foreign tables.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT odp.install_roles();
SELECT rolname, rolcanlogin, rolinherit FROM pg_roles
 WHERE rolname IN ('odp_anon', 'odp_authenticated', 'odp_analyst', 'odp_admin', 'odp_authenticator') ORDER BY 1;
SELECT has_schema_privilege('odp_authenticated', 'api', 'USAGE') AS api_usage,
       has_table_privilege('odp_authenticated', 'lake.transactions', 'SELECT') AS lake_by_default;

-- foreign tables restricted to the requesting user's rows
DROP SCHEMA IF EXISTS sec CASCADE;
CREATE SCHEMA sec;
CREATE FOREIGN TABLE sec.transactions (transaction_id text, user_id text, product_id text, quantity int,
    total_amount float8, transaction_time timestamptz, txn_date date) SERVER lake OPTIONS (path 'transactions');
CREATE FOREIGN TABLE sec.features (user_id text, purchase_count int)
    SERVER features OPTIONS (key_template 'odp_sec:{user_id}');
DELETE FROM sec.features;
INSERT INTO sec.features VALUES ('u0000042', 83), ('u0000043', 91);
CREATE VIEW sec.tx_view AS SELECT * FROM sec.transactions;
GRANT USAGE ON SCHEMA sec TO odp_authenticated, odp_analyst;
GRANT SELECT, DELETE ON sec.transactions, sec.features TO odp_authenticated;
GRANT SELECT ON sec.tx_view TO odp_authenticated;
CREATE SCHEMA sec_evil;
GRANT USAGE, CREATE ON SCHEMA sec_evil TO odp_authenticated;
SELECT odp.create_row_policy('sec.transactions', 'own_transactions',
    $$user_id = odp.current_claims() ->> 'sub'$$, '{odp_authenticated}');
SELECT odp.create_row_policy('sec.features', 'own_features',
    $$user_id = odp.current_claims() ->> 'sub'$$, '{odp_authenticated}');
-- a condition is one boolean expression over the table's columns, checked at creation
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.features', 'bad', $q$user_id IN (SELECT 'x')$q$)$$);
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.features', 'bad', 'true); DROP TABLE sec.features; SELECT (true')$$);
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.features', 'bad', 'no_such_column = 1')$$);
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.features', 'bad', 'purchase_count')$$);
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.features', 'bad', 'features IS NOT NULL')$$);
SELECT table_name, name, using_expr, roles FROM odp.row_policies ORDER BY 1, 2;
-- the owner is not restricted
SELECT count(*) AS owner_sees FROM sec.transactions \gset
SELECT :owner_sees = (SELECT count(*) FROM heap.transactions) AS owner_sees_all;

-- what PostgREST does for each request: log in as odp_authenticator, switch to the
-- token's role, and state the verified claims
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "u0000042", "role": "odp_authenticated"}', false) IS NOT NULL AS claims_set;
SELECT odp.current_claims() ->> 'sub' AS sub;
SELECT count(*), count(DISTINCT user_id), min(user_id) FROM sec.transactions;
SELECT user_id, purchase_count FROM sec.features;
SELECT count(*) FROM sec.transactions t JOIN sec.features f USING (user_id);
SELECT count(*) FROM sec.transactions WHERE user_id IN (SELECT user_id FROM sec.features);
SELECT count(*) FROM sec.transactions WHERE user_id = 'u0000043';
SELECT count(*), count(DISTINCT user_id) FROM sec.tx_view;
COPY (SELECT DISTINCT user_id FROM sec.transactions) TO STDOUT;
-- a function that would leak values sees only the role's rows, and an error that would
-- reveal another user's row never fires
CREATE FUNCTION pg_temp.leak(text) RETURNS bool LANGUAGE plpgsql COST 0.0001 AS $$
BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$;
SET client_min_messages = notice;
SELECT count(*) FROM sec.features WHERE pg_temp.leak(user_id);
SET client_min_messages = warning;
SELECT count(*) FROM sec.transactions WHERE 1 / (CASE WHEN user_id = 'u0000042' THEN 1 ELSE 0 END) = 1;
-- EXPLAIN names the policy and the pushed claim (a Redis key read), and counts nothing
-- the source read before the policy
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM sec.features;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM sec.transactions WHERE quantity > 1;
-- the policy was analysed when it was created: an operator of the role's own does not
-- change it
SET search_path = sec_evil, pg_catalog;
CREATE FUNCTION sec_evil.always(text, text) RETURNS bool LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_evil.always);
SELECT count(*) AS with_own_operator FROM sec.transactions;
RESET search_path;
-- a plan prepared by the owner is replanned for the restricted role
RESET ROLE;
RESET SESSION AUTHORIZATION;
PREPARE owner_plan AS SELECT count(*) FROM sec.transactions;
EXECUTE owner_plan;
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
EXECUTE owner_plan;
DEALLOCATE owner_plan;
-- DELETE reaches only visible rows
DELETE FROM sec.features;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT user_id FROM sec.features ORDER BY 1;

-- claims a session states itself are not trusted outside PostgREST's login role
DROP ROLE IF EXISTS odp_test_member;
CREATE ROLE odp_test_member;
GRANT odp_authenticated TO odp_test_member;
SET SESSION AUTHORIZATION odp_test_member;
SET request.jwt.claims = '{"sub": "u0000043"}';
SELECT odp.current_claims() AS claims;
SELECT count(*) AS forged_claims_see FROM sec.transactions;
-- a psql or BI session proves who it is with a token instead (odp.verify_jwt)
RESET SESSION AUTHORIZATION;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DELETE FROM odp.jwt_keys WHERE kid = 'sec-test';
SELECT odp.add_jwt_key('sec-test', 'HS256', 'a secret for the security test, 32+ bytes');
SELECT d || '.' || translate(encode(hmac(d, 'a secret for the security test, 32+ bytes', 'sha256'), 'base64'), E'+/=\n', '-_') AS token
  FROM (SELECT translate(encode(convert_to('{"alg":"HS256","kid":"sec-test"}', 'UTF8'), 'base64'), E'+/=\n', '-_') || '.' ||
               translate(encode(convert_to(jsonb_build_object('sub', 'u0000043', 'exp', extract(epoch FROM now())::bigint + 300)::text, 'UTF8'), 'base64'), E'+/=\n', '-_') AS d) s \gset
SET SESSION AUTHORIZATION odp_test_member;
SELECT odp.verify_jwt(:'token') ->> 'sub' AS verified_sub;
SELECT count(*) AS bi_session_sees, min(user_id) FROM sec.transactions;
SELECT odp.reset_claims();
RESET SESSION AUTHORIZATION;
DELETE FROM odp.jwt_keys WHERE kid = 'sec-test';
DROP ROLE odp_test_member;

-- a role no policy names sees nothing; column grants decide which columns it may read
GRANT SELECT ON sec.transactions TO odp_analyst;
SET ROLE odp_analyst;
SELECT count(*) AS analyst_without_policy FROM sec.transactions;
RESET ROLE;
SELECT odp.create_row_policy('sec.transactions', 'analysts_read_all', 'true', '{odp_analyst}');
REVOKE SELECT ON sec.transactions FROM odp_analyst;
SELECT odp.grant_columns('odp_analyst', 'sec.transactions', '{transaction_id,total_amount}');
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT * FROM sec.transactions LIMIT 1$$);
SELECT pg_temp.try($$SELECT user_id FROM sec.transactions LIMIT 1$$);
SELECT count(transaction_id) = :owner_sees AS analyst_sees_all FROM sec.transactions;
RESET ROLE;
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.transactions', 'sneaky', 'true', '{odp_analyst}')$$);
RESET ROLE;
-- the helper runs with the caller's rights: text smuggled into a condition cannot act as
-- another role
CREATE TABLE sec.own_table (x int);
ALTER TABLE sec.own_table OWNER TO odp_analyst;
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT odp.create_row_policy('sec.own_table', 'p', 'true); ALTER ROLE odp_analyst SUPERUSER; --')$$) ~ '^(42501|0A000|42601)' AS refused;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'odp_analyst';

-- native tables get native row level security from the same helper
CREATE TABLE sec.notes (owner text, body text);
INSERT INTO sec.notes VALUES ('u0000042', 'mine'), ('u0000043', 'theirs');
GRANT SELECT ON sec.notes TO odp_authenticated;
SELECT odp.create_row_policy('sec.notes', 'own_notes', $$owner = odp.current_claims() ->> 'sub'$$, '{odp_authenticated}');
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SET request.jwt.claims = '{"sub": "u0000042"}';
SELECT body FROM sec.notes;
RESET ROLE;
RESET SESSION AUTHORIZATION;

SELECT odp.drop_row_policy('sec.transactions', 'analysts_read_all');
SELECT count(*) FROM odp.row_policies WHERE table_name = 'sec.transactions'::regclass;
-- dropping a table drops its policies (nothing is left to invalidate for it)
CREATE FOREIGN TABLE sec.doomed (user_id text) SERVER features OPTIONS (key_template 'odp_sec_doomed:{user_id}');
SELECT odp.create_row_policy('sec.doomed', 'doomed_policy', $$user_id = 'x'$$);
DROP FOREIGN TABLE sec.doomed;
SELECT count(*) AS policies_of_the_dropped_table FROM odp.row_policies WHERE name = 'doomed_policy';
-- a backend keeps a table's policies until the table's relcache entry is invalidated,
-- which every change of odp.row_policies does, a direct one too
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SET request.jwt.claims = '{"sub": "u0000042"}';
SELECT count(DISTINCT user_id) AS users_seen FROM sec.transactions;
RESET ROLE;
RESET SESSION AUTHORIZATION;
UPDATE odp.row_policies SET roles = '{odp_analyst}' WHERE table_name = 'sec.transactions'::regclass;
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SELECT count(*) AS rows_without_a_policy_for_the_role FROM sec.transactions;
RESET ROLE;
RESET SESSION AUTHORIZATION;
TRUNCATE odp.row_policies;
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SELECT count(DISTINCT user_id) > 1 AS sees_every_user FROM sec.transactions;
RESET ROLE;
RESET SESSION AUTHORIZATION;
DELETE FROM sec.features;
DELETE FROM odp.row_policies WHERE table_name IN ('sec.transactions'::regclass, 'sec.features'::regclass);
DROP SCHEMA sec, sec_evil CASCADE;
SELECT count(*) AS policies_left FROM odp.row_policies;
