-- API keys: a secret shown once and stored as a salted hash, listed without secrets,
-- revoked, rotated, expired; odp.pre_request turns a PostgREST request's apikey header
-- into the key's role and claims; odp.authenticate does the same for a psql/BI session.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT odp.install_roles();
DELETE FROM odp.api_keys WHERE name LIKE 'test-%';
SELECT odp.create_api_key('test-dashboard', 'odp_analyst', '{read:transactions}') AS dashboard_key \gset
SELECT odp.create_api_key('test-old', 'odp_authenticated', '{}', now() - interval '1 minute') AS expired_key \gset
SELECT odp.create_api_key('test-revoked', 'odp_authenticated') AS revoked_key \gset
SELECT :'dashboard_key' ~ '^odp_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$' AS secret_shape;
-- only a salted hash is stored: the secret appears nowhere in the table
SELECT count(*) AS secrets_stored FROM odp.api_keys
 WHERE name LIKE 'test-%' AND (encode(hash, 'escape') LIKE '%' || :'dashboard_key' || '%' OR prefix = :'dashboard_key');
SELECT name, role, scopes, expires_at IS NOT NULL AS expires, revoked_at, last_used_at
  FROM odp.list_api_keys() WHERE name LIKE 'test-%' ORDER BY name;
SELECT has_table_privilege('odp_analyst', 'odp.api_keys', 'SELECT') AS others_read_keys;
SELECT pg_temp.try($$SELECT odp.create_api_key('test-root', 'postgres')$$);
SELECT pg_temp.try($$SELECT odp.create_api_key('test-nobody', 'no_such_role')$$);
SELECT odp.revoke_api_key('test-revoked');

-- what PostgREST does with a request carrying an apikey header
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_anon;
BEGIN;
SELECT set_config('request.headers', json_build_object('apikey', :'dashboard_key')::text, true) IS NOT NULL AS header;
SELECT odp.pre_request();
SELECT current_user, odp.current_claims() ->> 'api_key' AS api_key, odp.current_claims() -> 'scopes' AS scopes;
COMMIT;
SELECT current_user AS after_request;
SELECT name, pg_temp.try(format($$SELECT set_config('request.headers', %L, true), odp.pre_request()$$,
         json_build_object('apikey', key)::text)) AS refused
  FROM (VALUES ('expired', :'expired_key'), ('revoked', :'revoked_key'),
               ('unknown', 'odp_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), ('garbage', 'x')) AS k(name, key);
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT name, last_used_at IS NOT NULL AS used FROM odp.list_api_keys() WHERE name LIKE 'test-%' ORDER BY name;

-- rotation: a new secret, the old one refused at once
SELECT odp.rotate_api_key('test-dashboard') AS rotated_key \gset
SELECT pg_temp.try(format('SELECT odp.api_key_claims(%L)', :'dashboard_key')) AS old_secret;
SELECT odp.api_key_claims(:'rotated_key') ->> 'role' AS new_secret_role;
-- a psql or BI session authenticates with a key
SELECT odp.authenticate(:'rotated_key') ->> 'api_key' AS session_key;
SELECT odp.current_claims() ->> 'role' AS session_role;
SELECT odp.reset_claims();
-- only odp_admin manages keys
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT odp.create_api_key('test-self', 'odp_analyst')$$);
SELECT pg_temp.try($$SELECT count(*) FROM odp.list_api_keys()$$);
RESET ROLE;
DELETE FROM odp.api_keys WHERE name LIKE 'test-%';
