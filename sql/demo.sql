-- ODP showcase: a short tour of every layer on the seed (run by scripts/demo.sh, which
-- `make demo` calls and `make test` checks). Each section is one or two queries, with the
-- EXPLAIN lines that show what ODP pushed to the source.
-- psql variables: demo_user (a seed user id).
\pset footer off
\set ON_ERROR_STOP on
SET client_min_messages = warning;

\echo '== 1. services: one row per server the foreign tables use'
SELECT name, kind, reachable, error FROM odp.health();

\echo '== 2. Delta Lake: revenue per category (products joined to transactions)'
SELECT p.category, count(*) AS sales, round(sum(t.total_amount)::numeric, 2) AS revenue
  FROM lake.transactions t JOIN lake.products p USING (product_id)
 GROUP BY p.category ORDER BY revenue DESC LIMIT 5;

\echo '== one day of transactions: partition pruning on the generated txn_date column'
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.transactions
 WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02';

\echo '== a point lookup: file skipping from Delta statistics'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT * FROM lake.transactions WHERE transaction_id = 't0000004242';

\echo '== the same table through the S3-compatible store'
SELECT count(*) FROM s3lake.transactions WHERE txn_date = '2026-06-01';

\echo '== 3. objects: product images (object_fdw) joined to the Delta products'
SELECT p.product_id, p.name, i.size, i.content_type, i.metadata ->> 'category' AS tagged_category
  FROM lake.products p
  JOIN objects.product_images i ON i.key = 'images/products/' || p.product_id || '.jpg'
 WHERE p.category = 'music' ORDER BY p.product_id LIMIT 3;
\echo '== a listing narrowed to a key prefix, no content read; a presigned URL for browsers'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM objects.user_images WHERE key LIKE 'images/users/u00001%';
SELECT odp.presign('objects', 'images/products/p000001.jpg', interval '10 minutes') ~ 'X-Amz-Signature=' AS signed;

\echo '== 4. feature store (Redis): the batch pipeline fills one hash per user ...'
SELECT odp.refresh_features() AS users_written;
\echo '== ... and a lookup is one round trip (HMGET of one key, no SCAN)'
EXPLAIN (COSTS OFF) SELECT * FROM features.user_features WHERE user_id = :'demo_user';
SELECT odp.user_features(:'demo_user') AS features_before;

\echo '== 5. a Delta write in a transaction, streamed to the features'
-- a scratch Delta table (scripts/demo.sh empties demo/ first) whose inserts go to the
-- feature outbox in the same transaction; the feature stream worker applies them
\set QUIET on
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
CREATE FOREIGN TABLE demo.orders (
    transaction_id text, user_id text, product_id text, quantity int4, total_amount float8,
    transaction_time timestamptz
) SERVER lake OPTIONS (path 'demo/orders', create_if_missing 'true');
CREATE TRIGGER publish AFTER INSERT ON demo.orders
    FOR EACH ROW EXECUTE FUNCTION odp.publish_transaction();
\set QUIET off
BEGIN;
INSERT INTO demo.orders
SELECT 'demo-' || g, :'demo_user', 'p000007', 1, 19.99 * g, now() FROM generate_series(1, 2) g;
INSERT INTO demo.orders VALUES ('demo-3', :'demo_user', 'p000042', 2, 5.00, now());
COMMIT;
-- one Delta commit for the whole transaction
SELECT version, operation, parameters ->> 'mode' AS mode FROM odp.delta_history('demo.orders') ORDER BY version;
SELECT count(*) AS rows_committed, sum(total_amount) AS total FROM demo.orders;
-- the worker applies committed purchases within milliseconds
SELECT pg_sleep(0.5) \gset
SELECT odp.user_features(:'demo_user') AS features_after;

\echo '== 6. graph (Bolt): the lake synced to the graph, queried with Cypher pushdown'
SELECT * FROM odp.graph_sync(since => (SELECT max(transaction_time) - interval '7 days' FROM lake.transactions));
EXPLAIN (VERBOSE, COSTS OFF) SELECT product_id, date FROM graph.purchased WHERE user_id = :'demo_user';
SELECT product_id, date FROM graph.purchased WHERE user_id = :'demo_user' ORDER BY date LIMIT 3;
\echo '== what users who bought the same products also bought (one traversal)'
SELECT * FROM odp.graph_recommend(:'demo_user', 3);

\echo '== 7. a row policy: the same query as two roles'
\set QUIET on
\o /dev/null
SELECT odp.install_roles();
CREATE FOREIGN TABLE demo.transactions (
    transaction_id text, user_id text, product_id text, quantity int4, total_amount float8,
    transaction_time timestamptz, txn_date date
) SERVER lake OPTIONS (path 'transactions');
GRANT USAGE ON SCHEMA demo TO odp_authenticated, odp_analyst;
GRANT SELECT ON demo.transactions TO odp_authenticated, odp_analyst;
SELECT odp.create_row_policy('demo.transactions', 'own_rows',
    $$user_id = odp.current_claims() ->> 'sub'$$, '{odp_authenticated}');
SELECT odp.create_row_policy('demo.transactions', 'analysts_read_all', 'true', '{odp_analyst}');
\o
SELECT name, using_expr, roles FROM odp.row_policies ORDER BY name;
-- as PostgREST does it: log in as odp_authenticator, switch to the token's role and
-- state its verified claims
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SELECT set_config('request.jwt.claims', format('{"sub": "%s"}', :'demo_user'), false) \gset
SELECT current_user, count(*) AS transactions, count(DISTINCT user_id) AS users FROM demo.transactions;
SET ROLE odp_analyst;
SELECT current_user, count(*) AS transactions, count(DISTINCT user_id) AS users FROM demo.transactions;
RESET ROLE;
RESET SESSION AUTHORIZATION;
\set QUIET off

\echo '== 8. metrics (Prometheus text): what the scans above read and skipped'
SELECT line FROM regexp_split_to_table(odp.metrics(), E'\n') AS line
 WHERE line ~ '^odp_delta_(files_read|files_skipped)' OR line ~ '^odp_redis_';
