-- Resource policies: every ODP table names its resource (objects:<prefix>, delta:<path>,
-- graph:<label>, features:<key template>); once a pattern governs a resource for an
-- action, only its principals (roles, public, claim:<name>=<value>) may act, checked
-- before the source is touched, with an error naming the resource.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT odp.install_roles();
DELETE FROM odp.resource_policies;
GRANT USAGE ON SCHEMA objects, lake TO odp_analyst;
GRANT SELECT ON objects.user_images, objects.product_images, lake.transactions TO odp_analyst;
GRANT INSERT ON lake.transactions TO odp_analyst;
GRANT USAGE ON FOREIGN SERVER objects, graph TO odp_analyst;
-- nothing governs the resources yet
SET ROLE odp_analyst;
SELECT count(*) > 0 AS reads_user_images FROM objects.user_images;
RESET ROLE;

-- user images: only odp_admin, and requests whose claims say department=support
SELECT odp.allow_resource('objects:images/users/*', 'read', 'odp_admin');
SELECT odp.allow_resource('objects:images/users/*', 'read', 'claim:department=support');
SELECT resource, action, principal FROM odp.resource_policies ORDER BY 1, 2, 3;
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT count(*) FROM objects.user_images$$);
SELECT pg_temp.try($$EXPLAIN SELECT * FROM objects.user_images$$);
SELECT pg_temp.try($$SELECT odp.presign('objects', 'images/users/u0000001.jpg')$$);
SELECT count(*) > 0 AS product_images_still_open FROM objects.product_images;
-- a table over a wider prefix reaches user images too: it is governed as well
RESET ROLE;
CREATE FOREIGN TABLE objects.all_images (key text, size bigint) SERVER objects OPTIONS (prefix 'images/');
GRANT SELECT ON objects.all_images TO odp_analyst;
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT count(*) FROM objects.all_images$$) AS wider_prefix;
SELECT odp.presign('objects', 'images/products/p000001.jpg') ~ 'X-Amz-Signature' AS product_presign;
RESET ROLE;
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_analyst;
SET request.jwt.claims = '{"department": "support"}';
SELECT count(*) > 0 AS support_request_reads FROM objects.user_images;
SET request.jwt.claims = '{"department": "sales"}';
SELECT pg_temp.try($$SELECT count(*) FROM objects.user_images$$) AS sales_request;
RESET request.jwt.claims;
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- actions are separate: reading the lake stays open, writing it is governed
SELECT odp.allow_resource('delta:transactions', 'write', 'odp_admin');
SET ROLE odp_analyst;
SELECT count(*) > 0 AS reads_lake FROM lake.transactions WHERE txn_date = '2026-02-02';
SELECT pg_temp.try($$INSERT INTO lake.transactions (transaction_id) VALUES ('denied')$$);
SELECT pg_temp.try($$SELECT * FROM odp.cypher('graph', 'RETURN 1 AS x')$$) AS cypher_open;
RESET ROLE;
SELECT odp.allow_resource('graph:cypher', 'read', 'odp_admin');
SET ROLE odp_analyst;
SELECT pg_temp.try($$SELECT * FROM odp.cypher('graph', 'RETURN 1 AS x')$$) AS cypher_governed;
RESET ROLE;
SELECT count(*) AS denied_rows_written FROM lake.transactions WHERE transaction_id = 'denied';

DELETE FROM odp.resource_policies;
DROP FOREIGN TABLE objects.all_images;
REVOKE INSERT ON lake.transactions FROM odp_analyst;
REVOKE SELECT ON objects.user_images, objects.product_images, lake.transactions FROM odp_analyst;
REVOKE USAGE ON FOREIGN SERVER objects, graph FROM odp_analyst;
REVOKE USAGE ON SCHEMA objects, lake FROM odp_analyst;
