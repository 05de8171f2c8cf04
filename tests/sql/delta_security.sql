-- Path confinement: a role with USAGE on a server reads only tables under its root;
-- absolute paths, URLs and server roots need superuser or pg_read_server_files.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS tenant CASCADE;
DROP ROLE IF EXISTS odp_tenant;
RESET client_min_messages;
CREATE ROLE odp_tenant;
GRANT USAGE ON FOREIGN SERVER lake TO odp_tenant;
GRANT USAGE ON FOREIGN DATA WRAPPER delta_fdw TO odp_tenant;
CREATE SCHEMA tenant AUTHORIZATION odp_tenant;
SET ROLE odp_tenant;
-- under the root: fine
CREATE FOREIGN TABLE tenant.products (product_id text) SERVER lake OPTIONS (path 'products');
SELECT count(*) > 0 AS readable FROM tenant.products;
-- elsewhere: refused at CREATE and ALTER with 42501
SELECT pg_temp.try($$CREATE FOREIGN TABLE tenant.t (a text) SERVER lake OPTIONS (path '/var/lib/postgresql')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE tenant.t (a text) SERVER lake OPTIONS (path 'file:///etc')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE tenant.t (a text) SERVER lake OPTIONS (path 's3://other-bucket/t')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE tenant.t (a text) SERVER lake OPTIONS (path '../lake-1/products')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE tenant.t (a text) SERVER lake OPTIONS (path '%2e%2e/x')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE tenant.t (a text) SERVER lake OPTIONS (path '//host/x')$$);
SELECT pg_temp.try($$ALTER FOREIGN TABLE tenant.products OPTIONS (SET path '/etc')$$);
SELECT pg_temp.try($$CREATE SERVER mine FOREIGN DATA WRAPPER delta_fdw OPTIONS (root '/')$$);
-- IMPORT FOREIGN SCHEMA: the same rule, and a missing directory is an error
SELECT pg_temp.try($$IMPORT FOREIGN SCHEMA "/etc" FROM SERVER lake INTO tenant$$);
SELECT pg_temp.try($$IMPORT FOREIGN SCHEMA "../x" FROM SERVER lake INTO tenant$$);
SELECT pg_temp.try($$IMPORT FOREIGN SCHEMA no_such_dir FROM SERVER lake INTO tenant$$);
RESET ROLE;
-- members of pg_read_server_files may name any location
GRANT pg_read_server_files TO odp_tenant;
SET ROLE odp_tenant;
SELECT pg_temp.try(format('CREATE FOREIGN TABLE tenant.anywhere (product_id text) SERVER lake OPTIONS (path %L)', :'lake_root' || '/products'));
SELECT count(*) > 0 AS readable FROM tenant.anywhere;
RESET ROLE;
DROP SCHEMA tenant CASCADE;
REVOKE ALL ON FOREIGN SERVER lake FROM odp_tenant;
REVOKE ALL ON FOREIGN DATA WRAPPER delta_fdw FROM odp_tenant;
DROP ROLE odp_tenant;
