-- Creates the seed's foreign tables (local disk and S3) and heap copies of the same rows.
-- psql variables: lake_root (directory), csv_dir (CSV copies), s3_endpoint (http://host:port),
-- redis_url (redis://host:port), bolt_url and graph_password (the graph server).
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
-- Float specials, float4, full-precision decimals, Delta longs read as numeric.
CREATE FOREIGN TABLE lake.numbers (
    id bigint, f8 float8, f4 real, dec numeric, big numeric, part numeric
) SERVER lake OPTIONS (path 'numbers');
-- The same events, whose day partition a writer computed in UTC+09:00.
CREATE FOREIGN TABLE lake.events_tokyo (event_id bigint, ts timestamptz, day date)
    SERVER lake OPTIONS (path 'events_tokyo', writer_time_zone '+09:00');
CREATE FOREIGN TABLE lake.events_unknown (event_id bigint, ts timestamptz, day date)
    SERVER lake OPTIONS (path 'events_tokyo', writer_time_zone 'unknown');
-- A case-insensitive (nondeterministic) collation on a text column.
DROP COLLATION IF EXISTS public.ci CASCADE;
CREATE COLLATION public.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE FOREIGN TABLE lake.users_ci (user_id text, name text COLLATE public.ci)
    SERVER lake OPTIONS (path 'users');

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

-- The feature store: one Redis hash per user.
CREATE SERVER features FOREIGN DATA WRAPPER redis_fdw OPTIONS (url :'redis_url');
DROP SCHEMA IF EXISTS features CASCADE;
CREATE SCHEMA features;
CREATE FOREIGN TABLE features.user_features (
    user_id text, purchase_count int4, avg_order_value float8, last_categories text[]
) SERVER features OPTIONS (key_template 'users:{user_id}:features');
-- The same hashes with the pipeline's bookkeeping: how many purchases had an amount, and
-- the apply number of the last purchase taken. odp.refresh_features writes through it,
-- so the features and the watermark change in one HSET per user.
CREATE FOREIGN TABLE features.user_stream_marks (
    user_id text, purchase_count int4, avg_order_value float8, last_categories text[],
    amount_count int4, stream_id text
) SERVER features OPTIONS (key_template 'users:{user_id}:features');
-- The streaming pipeline: each transaction inserted into lake.transactions is added to
-- the outbox odp.feature_outbox in the inserting transaction; the feature stream worker
-- applies it to the hashes above once it committed.
CREATE TRIGGER feature_stream AFTER INSERT ON lake.transactions
    FOR EACH ROW EXECUTE FUNCTION odp.publish_transaction();

-- The graph: User and Product nodes, PURCHASED relationships (odp.graph_sync loads them).
CREATE SERVER graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri :'bolt_url', database 'odp');
CREATE USER MAPPING FOR PUBLIC SERVER graph OPTIONS (user 'root', password :'graph_password');
DROP SCHEMA IF EXISTS graph CASCADE;
CREATE SCHEMA graph;
CREATE FOREIGN TABLE graph.users (user_id text, name text, _id text)
    SERVER graph OPTIONS (label 'User', key 'user_id');
CREATE FOREIGN TABLE graph.products (product_id text, name text, _id text)
    SERVER graph OPTIONS (label 'Product', key 'product_id');
CREATE FOREIGN TABLE graph.purchased (user_id text, product_id text, date timestamptz)
    SERVER graph OPTIONS (type 'PURCHASED', start_label 'User', start_key 'user_id',
                          end_label 'Product', end_key 'product_id', merge_on 'date');

-- the seed's object store: product and user images, documents (object_fdw)
DROP SERVER IF EXISTS objects CASCADE;
CREATE SERVER objects FOREIGN DATA WRAPPER object_fdw
    OPTIONS (root 's3://odp-objects', endpoint :'s3_endpoint', allow_http 'true', path_style 'true');
CREATE USER MAPPING FOR PUBLIC SERVER objects OPTIONS (access_key_id 'odp', secret_access_key 'odp');
DROP SCHEMA IF EXISTS objects CASCADE;
CREATE SCHEMA objects;
CREATE FOREIGN TABLE objects.product_images (
    key text, size bigint, etag text, last_modified timestamptz, content_type text, metadata jsonb, content bytea
) SERVER objects OPTIONS (prefix 'images/products/', estimated_objects '100');
CREATE FOREIGN TABLE objects.user_images (
    key text, size bigint, etag text, last_modified timestamptz, content_type text, metadata jsonb, content bytea
) SERVER objects OPTIONS (prefix 'images/users/', estimated_objects '100');
CREATE FOREIGN TABLE objects.documents (
    key text, size bigint, etag text, last_modified timestamptz, content_type text, metadata jsonb, content bytea
) SERVER objects OPTIONS (prefix 'documents/', estimated_objects '10');

DROP SCHEMA IF EXISTS heap CASCADE;
CREATE SCHEMA heap;
CREATE TABLE heap.users (LIKE lake.users);
CREATE TABLE heap.products (LIKE lake.products);
CREATE TABLE heap.transactions (LIKE lake.transactions);
CREATE TABLE heap.numbers (LIKE lake.numbers);
CREATE TABLE heap.events_tokyo (LIKE lake.events_tokyo);
SELECT format('COPY heap.%I FROM %L WITH (FORMAT csv, HEADER true)', t, :'csv_dir' || '/' || t || '.csv')
  FROM unnest(ARRAY['users', 'products', 'transactions', 'numbers', 'events_tokyo']) AS t \gexec
CREATE VIEW heap.events_unknown AS SELECT * FROM heap.events_tokyo;
CREATE TABLE heap.users_ci (LIKE lake.users_ci INCLUDING ALL);
INSERT INTO heap.users_ci SELECT user_id, name FROM heap.users;
CREATE INDEX ON heap.transactions (transaction_time);
CREATE INDEX ON heap.transactions (transaction_id);
ANALYZE heap.users, heap.products, heap.transactions, heap.numbers, heap.events_tokyo, heap.users_ci;
