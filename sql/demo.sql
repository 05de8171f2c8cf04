-- ODP showcase: the seed's Delta tables queried from psql.
\pset footer off
\echo '== services'
SELECT name, kind, reachable, error FROM odp.health();

\echo '== revenue per category (products joined to transactions, both Delta)'
SELECT p.category, count(*) AS sales, round(sum(t.total_amount)::numeric, 2) AS revenue
  FROM lake.transactions t JOIN lake.products p USING (product_id)
 GROUP BY p.category ORDER BY revenue DESC LIMIT 5;

\echo '== one day of transactions: partition pruning on the generated txn_date column'
EXPLAIN (COSTS OFF)
SELECT count(*) FROM lake.transactions
 WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02';
SELECT count(*), round(sum(total_amount)::numeric, 2) AS total FROM lake.transactions
 WHERE transaction_time >= '2026-03-01' AND transaction_time < '2026-03-02';

\echo '== a point lookup: file skipping from Delta statistics'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT * FROM lake.transactions WHERE transaction_id = 't0000004242';

\echo '== the same table through the S3-compatible store'
SELECT count(*) FROM s3lake.transactions WHERE txn_date = '2026-06-01';

\echo '== product images in the object store (object_fdw), joined to the Delta products'
SELECT p.product_id, p.name, i.size, i.content_type, i.metadata ->> 'category' AS tagged_category
  FROM lake.products p
  JOIN objects.product_images i ON i.key = 'images/products/' || p.product_id || '.jpg'
 WHERE p.category = 'music' ORDER BY p.product_id LIMIT 5;
\echo '== the users who have a profile image: a listing under images/users/, no content read'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM objects.user_images WHERE key LIKE 'images/users/u00001%';
\echo '== a presigned URL a browser can fetch without credentials'
SELECT odp.presign('objects', 'images/products/p000001.jpg', interval '10 minutes') ~ 'X-Amz-Signature=' AS signed;
