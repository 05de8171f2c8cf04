-- Creates the seed's foreign tables (local disk and S3) and heap copies of the same rows.
-- psql variables: lake_root (directory), csv_dir (CSV copies), s3_endpoint (http://host:port).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS odp CASCADE;
CREATE EXTENSION odp;

CREATE SERVER lake FOREIGN DATA WRAPPER delta_fdw OPTIONS (root :'lake_root');
DROP SCHEMA IF EXISTS lake CASCADE;
CREATE SCHEMA lake;
CREATE FOREIGN TABLE lake.users (
    user_id text, name text, email text, created_at timestamptz, last_login timestamptz, created_date date
) SERVER lake OPTIONS (path 'users');
CREATE FOREIGN TABLE lake.products (
    product_id text, name text, category text, price float8, created_at timestamptz
) SERVER lake OPTIONS (path 'products');
CREATE FOREIGN TABLE lake.transactions (
    transaction_id text, user_id text, product_id text, quantity int4, total_amount float8,
    transaction_time timestamptz, txn_date date
) SERVER lake OPTIONS (path 'transactions');

CREATE SERVER s3lake FOREIGN DATA WRAPPER delta_fdw
    OPTIONS (root 's3://odp-lake/lake', endpoint :'s3_endpoint', allow_http 'true', path_style 'true');
CREATE USER MAPPING FOR PUBLIC SERVER s3lake OPTIONS (access_key_id 'odp', secret_access_key 'odp');
DROP SCHEMA IF EXISTS s3lake CASCADE;
CREATE SCHEMA s3lake;
CREATE FOREIGN TABLE s3lake.transactions (
    transaction_id text, user_id text, product_id text, quantity int4, total_amount float8,
    transaction_time timestamptz, txn_date date
) SERVER s3lake OPTIONS (path 'transactions');
CREATE FOREIGN TABLE s3lake.products (
    product_id text, name text, category text, price float8, created_at timestamptz
) SERVER s3lake OPTIONS (path 'products');

DROP SCHEMA IF EXISTS heap CASCADE;
CREATE SCHEMA heap;
CREATE TABLE heap.users (LIKE lake.users);
CREATE TABLE heap.products (LIKE lake.products);
CREATE TABLE heap.transactions (LIKE lake.transactions);
SELECT format('COPY heap.%I FROM %L WITH (FORMAT csv, HEADER true)', t, :'csv_dir' || '/' || t || '.csv')
  FROM unnest(ARRAY['users', 'products', 'transactions']) AS t \gexec
CREATE INDEX ON heap.transactions (transaction_time);
CREATE INDEX ON heap.transactions (transaction_id);
ANALYZE heap.users, heap.products, heap.transactions;
