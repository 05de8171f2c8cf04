-- JSON Web Tokens: odp.verify_jwt against keys of odp.jwt_keys (rotation by kid), the
-- attacks it refuses with distinct errors, and the claims it gives the session. Tokens
-- are minted here with pgcrypto's HMAC.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT odp.install_roles();
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql AS
  $$ SELECT translate(encode(b, 'base64'), E'+/=\n', '-_') $$;
CREATE FUNCTION pg_temp.mint(header jsonb, claims jsonb, secret text, alg text DEFAULT 'sha256') RETURNS text
LANGUAGE sql AS $$
  SELECT d || '.' || pg_temp.b64url(hmac(d, secret, alg))
    FROM (SELECT pg_temp.b64url(convert_to(header::text, 'UTF8')) || '.' ||
                 pg_temp.b64url(convert_to(claims::text, 'UTF8')) AS d) s $$;
CREATE FUNCTION pg_temp.now_s() RETURNS bigint LANGUAGE sql AS $$ SELECT extract(epoch FROM now())::bigint $$;
DELETE FROM odp.jwt_keys WHERE kid LIKE 'test-%';
SELECT odp.add_jwt_key('test-old', 'HS256', 'the previous secret, thirty-two bytes long');
SELECT odp.add_jwt_key('test-new', 'HS256', 'the current secret, thirty-two bytes or more');
SELECT pg_temp.try($$SELECT odp.add_jwt_key('test-short', 'HS256', 'short')$$);
SELECT pg_temp.try($$SELECT odp.add_jwt_key('test-none', 'none', 'x')$$);
SELECT pg_temp.try($$SELECT odp.add_jwt_key('test-rsa', 'RS256', 'not a pem')$$);
\set good_claims '{"sub": "u0000042", "role": "odp_authenticated", "aud": "odp", "iss": "https://auth.example"}'

-- valid tokens: by kid, and by trying the active keys of the algorithm (rotation)
SELECT odp.verify_jwt(pg_temp.mint('{"alg": "HS256", "kid": "test-new"}',
    :'good_claims'::jsonb || jsonb_build_object('exp', pg_temp.now_s() + 60),
    'the current secret, thirty-two bytes or more')) ->> 'sub' AS by_kid;
-- the audience, issuer and leeway are server settings the token's bearer cannot loosen
SET odp.jwt_audience = 'odp';
SET odp.jwt_issuer = 'https://auth.example';
SELECT odp.verify_jwt(pg_temp.mint('{"alg": "HS256"}',
    :'good_claims'::jsonb || jsonb_build_object('exp', pg_temp.now_s() + 60),
    'the previous secret, thirty-two bytes long')) ->> 'sub' AS rotated;
SELECT odp.current_claims() ->> 'sub' AS session_sub;

RESET odp.jwt_issuer;
-- attacks and mistakes, each with its own message (odp.jwt_audience = 'odp')
SELECT name, pg_temp.try(format('SELECT odp.verify_jwt(%L)', token)) AS refused FROM (VALUES
  ('alg none', pg_temp.b64url('{"alg":"none"}') || '.' || pg_temp.b64url(convert_to(format('{"sub":"x","exp":%s}', pg_temp.now_s() + 60), 'UTF8')) || '.'),
  ('bad signature', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'aud', 'odp', 'exp', pg_temp.now_s() + 60), 'a forged secret of thirty-two bytes or more')),
  ('expired', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'aud', 'odp', 'exp', pg_temp.now_s() - 3600), 'the current secret, thirty-two bytes or more')),
  ('no exp', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', '{"sub": "x", "aud": "odp"}', 'the current secret, thirty-two bytes or more')),
  ('not yet valid', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'aud', 'odp', 'exp', pg_temp.now_s() + 7200, 'nbf', pg_temp.now_s() + 3600), 'the current secret, thirty-two bytes or more')),
  ('issued in the future', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'aud', 'odp', 'exp', pg_temp.now_s() + 7200, 'iat', pg_temp.now_s() + 3600), 'the current secret, thirty-two bytes or more')),
  ('wrong audience', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'aud', 'other', 'iss', 'https://auth.example', 'exp', pg_temp.now_s() + 60), 'the current secret, thirty-two bytes or more')),
  ('no audience', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'iss', 'https://auth.example', 'exp', pg_temp.now_s() + 60), 'the current secret, thirty-two bytes or more')),
  ('unknown kid', pg_temp.mint('{"alg": "HS256", "kid": "test-gone"}', jsonb_build_object('sub', 'x', 'aud', 'odp', 'exp', pg_temp.now_s() + 60), 'the current secret, thirty-two bytes or more')),
  ('algorithm confusion', pg_temp.mint('{"alg": "HS512", "kid": "test-new"}', jsonb_build_object('sub', 'x', 'aud', 'odp', 'exp', pg_temp.now_s() + 60), 'the current secret, thirty-two bytes or more', 'sha512')),
  ('malformed', 'not.a.token')
) AS t(name, token);
-- a switched-off key no longer verifies
UPDATE odp.jwt_keys SET active = false WHERE kid = 'test-old';
SELECT pg_temp.try(format('SELECT odp.verify_jwt(%L)', pg_temp.mint('{"alg": "HS256"}',
    jsonb_build_object('sub', 'x', 'exp', pg_temp.now_s() + 60), 'the previous secret, thirty-two bytes long'))) AS old_key_off;
SET odp.jwt_issuer = 'https://auth.example';
SELECT pg_temp.try(format('SELECT odp.verify_jwt(%L)', pg_temp.mint('{"alg": "HS256", "kid": "test-new"}',
    jsonb_build_object('sub', 'x', 'aud', 'odp', 'iss', 'https://evil.example', 'exp', pg_temp.now_s() + 60),
    'the current secret, thirty-two bytes or more'))) AS wrong_issuer;
-- a failed verification drops the claims the session had
SELECT pg_temp.try($$SELECT odp.verify_jwt('not.a.token')$$) ~ '^28000' AS failed, odp.current_claims() AS claims_after_failure;
RESET odp.jwt_audience;
RESET odp.jwt_issuer;
SET ROLE odp_analyst;
SELECT pg_temp.try($$SET odp.jwt_leeway_seconds = 100000$$) AS bearer_sets_leeway;
RESET ROLE;
-- keys are readable by nobody but their owner
SELECT has_table_privilege('odp_authenticated', 'odp.jwt_keys', 'SELECT') AS others_read_keys;
SELECT odp.reset_claims();
SELECT odp.current_claims() AS after_reset;
DELETE FROM odp.jwt_keys WHERE kid LIKE 'test-%';
