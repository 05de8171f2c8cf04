-- object_fdw against the live S3-compatible server (moto) and a local directory:
-- listings narrowed by key prefix, lookups by key, byte-exact round trips (a multi-MB
-- multipart upload too), create-only inserts, updates against the version read,
-- deletes, transactions, size limits, hostile keys, privileges and presigned URLs.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
DROP SERVER IF EXISTS test_objects CASCADE;
CREATE SERVER test_objects FOREIGN DATA WRAPPER object_fdw OPTIONS (
    root 's3://odp-objects/odp-test', endpoint :'s3_endpoint', allow_http 'true', path_style 'true',
    request_timeout_ms '20000', max_content_mb '16', multipart_mb '5');
CREATE USER MAPPING FOR PUBLIC SERVER test_objects OPTIONS (access_key_id 'odp', secret_access_key 'odp');
CREATE FOREIGN TABLE pg_temp.objs (
    key text, size bigint, etag text, last_modified timestamptz, content_type text, metadata jsonb, content bytea
) SERVER test_objects;
DELETE FROM pg_temp.objs;

-- uploads: 200 images under 10 prefixes, documents with a content type and metadata
INSERT INTO pg_temp.objs (key, content)
  SELECT format('images/p%s/%s.jpg', i % 10, i), convert_to('image ' || i, 'UTF8') FROM generate_series(1, 200) i;
INSERT INTO pg_temp.objs (key, content, content_type, metadata) VALUES
  ('documents/readme.txt', convert_to('hello, objects', 'UTF8'), NULL, '{"Owner": "ann", "kind": "doc"}'),
  ('documents/data.bin', '\x00ff00', 'application/x-test', NULL);
SELECT count(*), sum(size) FROM pg_temp.objs;
-- a listing narrowed by the key prefix: only the keys under it are listed
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM pg_temp.objs WHERE key LIKE 'images/p3/%';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT key FROM pg_temp.objs WHERE key LIKE 'images/p3/1%';
SELECT key FROM pg_temp.objs WHERE key LIKE 'images/p3/1%' ORDER BY key;
-- key = and IN: lookups, no listing
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT key, size FROM pg_temp.objs WHERE key IN ('images/p3/3.jpg', 'images/p3/13.jpg', 'images/none.jpg');
SELECT key, size, content_type, metadata, content
  FROM pg_temp.objs WHERE key IN ('documents/readme.txt', 'documents/data.bin') ORDER BY key;
-- LIMIT stops the listing; last_modified and size filter
SELECT count(*) FROM (SELECT key FROM pg_temp.objs LIMIT 5) s;
SELECT count(*) FROM pg_temp.objs WHERE last_modified > now() - interval '1 hour' AND size >= 9 AND key LIKE 'images/%';
-- a key lookup that reads content and filters on size and time: the GET's size and time
-- are judged, not the placeholders of a key not fetched yet (one row, and one updated)
SELECT key, size, convert_from(content, 'UTF8') AS content FROM pg_temp.objs
 WHERE key = 'documents/readme.txt' AND size > 0 AND last_modified > now() - interval '1 hour';
UPDATE pg_temp.objs SET content = content WHERE key = 'documents/readme.txt' AND size = 14 RETURNING key AS updated;

-- a multi-megabyte object uploads in parts and reads back byte for byte
CREATE TEMP TABLE big AS SELECT decode(string_agg(md5(i::text), ''), 'hex') AS bytes FROM generate_series(1, 750000) i;
SELECT length(bytes) AS big_bytes FROM big;
INSERT INTO pg_temp.objs (key, content) SELECT 'blobs/big.bin', bytes FROM big;
SELECT o.size, md5(o.content) = md5(b.bytes) AS byte_exact, o.content_type
  FROM pg_temp.objs o, big b WHERE o.key = 'blobs/big.bin';

-- create-only: inserting an existing key fails at COMMIT (unless the table allows
-- overwriting)
INSERT INTO pg_temp.objs (key, content) VALUES ('documents/readme.txt', 'x');
CREATE FOREIGN TABLE pg_temp.objs_overwrite (key text, content bytea)
  SERVER test_objects OPTIONS (overwrite 'true');
INSERT INTO pg_temp.objs_overwrite VALUES ('documents/readme.txt', convert_to('hello again', 'UTF8'));
SELECT convert_from(content, 'UTF8') FROM pg_temp.objs WHERE key = 'documents/readme.txt';
-- UPDATE re-uploads the content (the version read: If-Match), or moves a key
UPDATE pg_temp.objs SET content = convert_to('changed', 'UTF8') WHERE key = 'documents/readme.txt';
SELECT convert_from(content, 'UTF8'), size FROM pg_temp.objs WHERE key = 'documents/readme.txt';
UPDATE pg_temp.objs SET key = 'documents/renamed.bin' WHERE key = 'documents/data.bin';
SELECT key FROM pg_temp.objs WHERE key LIKE 'documents/%' ORDER BY key;
-- DELETE; a rolled back transaction and savepoint leave nothing
DELETE FROM pg_temp.objs WHERE key LIKE 'images/p9/%';
SELECT count(*) AS p9_left FROM pg_temp.objs WHERE key LIKE 'images/p9/%';
BEGIN;
INSERT INTO pg_temp.objs (key, content) VALUES ('tx/rolled-back.txt', 'x');
ROLLBACK;
BEGIN;
DELETE FROM pg_temp.objs WHERE key = 'documents/renamed.bin';
ROLLBACK;
BEGIN;
INSERT INTO pg_temp.objs (key, content) VALUES ('tx/kept.txt', 'x');
SAVEPOINT s;
INSERT INTO pg_temp.objs (key, content) VALUES ('tx/undone.txt', 'x');
ROLLBACK TO s;
COMMIT;
SELECT key FROM pg_temp.objs WHERE key LIKE 'tx/%' OR key = 'documents/renamed.bin' ORDER BY key;
-- a failed commit removes what it had created: nothing of the transaction stays
BEGIN;
INSERT INTO pg_temp.objs (key, content) VALUES ('tx/first.txt', 'x');
INSERT INTO pg_temp.objs (key, content) VALUES ('tx/kept.txt', 'y');
COMMIT;
SELECT key FROM pg_temp.objs WHERE key LIKE 'tx/%' ORDER BY key;

-- limits and bad values are clear errors, nothing is written
SELECT pg_temp.try($$INSERT INTO pg_temp.objs (key, content) SELECT 'blobs/huge.bin', decode(repeat('00', 17 * 1024 * 1024), 'hex')$$);
CREATE SERVER small_objects FOREIGN DATA WRAPPER object_fdw OPTIONS (
    root 's3://odp-objects/odp-test', endpoint :'s3_endpoint', allow_http 'true', path_style 'true', max_content_mb '1');
CREATE USER MAPPING FOR PUBLIC SERVER small_objects OPTIONS (access_key_id 'odp', secret_access_key 'odp');
CREATE FOREIGN TABLE pg_temp.small (key text, size bigint, content bytea) SERVER small_objects;
SELECT key, size FROM pg_temp.small WHERE key = 'blobs/big.bin';
SELECT pg_temp.try($$SELECT content FROM pg_temp.small WHERE key = 'blobs/big.bin'$$);
SELECT pg_temp.try($$INSERT INTO pg_temp.objs (key, content) VALUES ('x.txt', NULL)$$);
SELECT pg_temp.try($$INSERT INTO pg_temp.objs (key, content, size) VALUES ('x.txt', 'x', 1)$$);
SELECT pg_temp.try($$INSERT INTO pg_temp.objs (key, content, metadata) VALUES ('x.txt', 'x', '[1]')$$);

-- hostile keys are refused or stored literally; none escapes the root or the prefix
SELECT k, pg_temp.try(format('INSERT INTO pg_temp.objs (key, content) VALUES (%L, %L)', k, 'x')) AS result
  FROM unnest(ARRAY['../escape.txt', 'a/../../escape.txt', '/abs.txt', 'a//b.txt', 'dir/', repeat('k', 1025),
                    E'ctl\x01.txt']) k;
INSERT INTO pg_temp.objs (key, content) VALUES ('odd/a%2F..%2Fb.txt', 'literal');
SELECT key FROM pg_temp.objs WHERE key LIKE 'odd/%';
CREATE FOREIGN TABLE pg_temp.users_only (key text, content bytea) SERVER test_objects OPTIONS (prefix 'images/users/');
SELECT pg_temp.try($$INSERT INTO pg_temp.users_only VALUES ('images/products/1.jpg', 'x')$$);
SELECT count(*) FROM pg_temp.users_only WHERE key = 'images/p1/1.jpg';
SELECT pg_temp.try($$CREATE FOREIGN TABLE pg_temp.bad (key text) SERVER test_objects OPTIONS (prefix '../')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE pg_temp.bad (name text) SERVER test_objects$$);
SELECT pg_temp.try($$SELECT * FROM pg_temp.bad$$);
CREATE FOREIGN TABLE pg_temp.bad_type (key text, size int) SERVER test_objects;
SELECT pg_temp.try($$SELECT * FROM pg_temp.bad_type$$);

-- a role without rights cannot list, read or sign
DROP ROLE IF EXISTS odp_test_objects;
CREATE ROLE odp_test_objects;
GRANT USAGE ON SCHEMA odp TO odp_test_objects;
SET ROLE odp_test_objects;
SELECT pg_temp.try($$SELECT count(*) FROM pg_temp.objs$$);
SELECT pg_temp.try($$SELECT odp.presign('test_objects', 'documents/readme.txt')$$);
SELECT pg_temp.try($$CREATE SERVER sneaky FOREIGN DATA WRAPPER object_fdw OPTIONS (root '/etc')$$);
RESET ROLE;
REVOKE USAGE ON SCHEMA odp FROM odp_test_objects;
DROP ROLE odp_test_objects;
-- presigned URLs: signed for one object, a bounded time, a known method
SELECT odp.presign('test_objects', 'documents/readme.txt') ~ '^http://127\.0\.0\.1:[0-9]+/odp-objects/odp-test/documents/readme\.txt\?.*X-Amz-Signature=' AS signed_url;
SELECT pg_temp.try($$SELECT odp.presign('test_objects', 'documents/readme.txt', interval '8 days')$$);
SELECT pg_temp.try($$SELECT odp.presign('test_objects', '../x')$$);
SELECT pg_temp.try($$SELECT odp.presign('test_objects', 'documents/readme.txt', method => 'PATCH')$$);
SELECT pg_temp.try($$SELECT odp.presign('lake', 'x')$$);

-- servers that cannot be used are clear errors within their time-out
CREATE SERVER down_objects FOREIGN DATA WRAPPER object_fdw OPTIONS (
    root 's3://odp-objects', endpoint 'http://127.0.0.1:1', allow_http 'true', path_style 'true',
    connect_timeout_ms '500', request_timeout_ms '2000');
CREATE FOREIGN TABLE pg_temp.down (key text) SERVER down_objects;
SELECT clock_timestamp() AS started \gset
SELECT pg_temp.try($$SELECT * FROM pg_temp.down$$);
SELECT clock_timestamp() - :'started' < interval '3 seconds' AS within_timeout;
SELECT pg_temp.try($$CREATE SERVER bad_root FOREIGN DATA WRAPPER object_fdw OPTIONS (root 'ftp://x')$$);
SELECT pg_temp.try($$CREATE SERVER bad_root FOREIGN DATA WRAPPER object_fdw OPTIONS (root 's3://b', request_timeout_ms '0')$$);

-- a local directory root: the same table, no server needed
SELECT :'lake_root' || '-objects-test' AS local_root \gset
CREATE SERVER local_objects FOREIGN DATA WRAPPER object_fdw OPTIONS (root :'local_root');
CREATE FOREIGN TABLE pg_temp.local (key text, size bigint, content_type text, metadata jsonb, content bytea)
  SERVER local_objects OPTIONS (prefix 'docs/');
DELETE FROM pg_temp.local;
INSERT INTO pg_temp.local (key, content) VALUES ('docs/a.txt', convert_to('local a', 'UTF8')), ('docs/b.json', '\x7b7d');
SELECT key, size, content_type, metadata, content FROM pg_temp.local ORDER BY key;
SELECT pg_temp.try($$INSERT INTO pg_temp.local (key, content, metadata) VALUES ('docs/c.txt', 'x', '{"a": "b"}')$$);
SELECT pg_temp.try($$SELECT odp.presign('local_objects', 'docs/a.txt')$$);
DELETE FROM pg_temp.local WHERE key = 'docs/a.txt';
SELECT key FROM pg_temp.local;

-- data files under a prefix as one table: the lake's Parquet files (read without the
-- Delta log: projection, footer statistics, Arrow filters), the seed's CSV on S3, JSON lines
CREATE SERVER lake_files FOREIGN DATA WRAPPER object_fdw OPTIONS (root :'lake_root');
CREATE FOREIGN TABLE pg_temp.tx_files (transaction_id text, user_id text, quantity int, total_amount float8,
    transaction_time timestamptz) SERVER lake_files OPTIONS (prefix 'transactions/', format 'parquet');
SELECT (SELECT count(*) FROM pg_temp.tx_files) = (SELECT count(*) FROM heap.transactions) AS same_rows,
       (SELECT sum(quantity) FROM pg_temp.tx_files) = (SELECT sum(quantity) FROM heap.transactions) AS same_quantities;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT user_id, quantity FROM pg_temp.tx_files WHERE transaction_id = 't0000000042';
SELECT t.user_id = h.user_id AND t.transaction_time = h.transaction_time AS same_row
  FROM pg_temp.tx_files t JOIN heap.transactions h USING (transaction_id) WHERE transaction_id = 't0000000042';
SELECT pg_temp.try($$INSERT INTO pg_temp.tx_files (transaction_id) VALUES ('x')$$);
SELECT pg_temp.try($$UPDATE pg_temp.tx_files SET quantity = 1$$);
SELECT pg_temp.try($$DELETE FROM pg_temp.tx_files$$);
-- read-only as the catalogs report it (PostgREST asks the same)
SELECT pg_catalog.pg_relation_is_updatable('pg_temp.tx_files'::regclass, false) AS tx_files_events,
       pg_catalog.pg_relation_is_updatable('pg_temp.objs'::regclass, false) AS objs_events;
CREATE FOREIGN TABLE pg_temp.catalog_csv (product_id text, name text, category text, price float8, created_at timestamptz)
  SERVER objects OPTIONS (prefix 'documents/catalog', format 'csv');
SELECT count(*) = (SELECT count(*) FROM heap.products) AS same_count,
       round(sum(price)::numeric, 2) = (SELECT round(sum(price)::numeric, 2) FROM heap.products) AS same_prices,
       max(created_at) = (SELECT max(created_at) FROM heap.products) AS same_times
  FROM pg_temp.catalog_csv;
INSERT INTO pg_temp.local (key, content) VALUES
  ('docs/events/1.jsonl', convert_to(E'{"id": 1, "kind": "view", "at": "2026-01-02T03:04:05Z"}\n{"id": 2, "kind": "buy"}\n', 'UTF8')),
  ('docs/events/_ignored.jsonl', convert_to('not json', 'UTF8'));
CREATE FOREIGN TABLE pg_temp.events (id int8, kind text, at timestamptz)
  SERVER local_objects OPTIONS (prefix 'docs/events/', format 'json');
SELECT * FROM pg_temp.events ORDER BY id;
INSERT INTO pg_temp.local (key, content) VALUES ('docs/bad/x.parquet', convert_to('not parquet', 'UTF8'));
CREATE FOREIGN TABLE pg_temp.bad_files (x int) SERVER local_objects OPTIONS (prefix 'docs/bad/', format 'parquet');
SELECT pg_temp.try($$SELECT * FROM pg_temp.bad_files$$) ~ '^XX001' AS corrupt_file_error;
CREATE FOREIGN TABLE pg_temp.bytes_csv (doc bytea) SERVER local_objects OPTIONS (prefix 'docs/', format 'csv');
SELECT pg_temp.try($$SELECT * FROM pg_temp.bytes_csv$$);
-- CSV columns are matched by the header's names, in any order; a column the file lacks
-- is NULL, one the table lacks is skipped
INSERT INTO pg_temp.local (key, content) VALUES
  ('docs/swapped/1.csv', convert_to(E'price,extra,name\n2.5,x,pen\n', 'UTF8')),
  ('docs/swapped/2.csv', convert_to(E'name,price\nink,1.25\n', 'UTF8'));
CREATE FOREIGN TABLE pg_temp.swapped (name text, price float8, stock int4)
  SERVER local_objects OPTIONS (prefix 'docs/swapped/', format 'csv');
SELECT * FROM pg_temp.swapped ORDER BY name;
-- a JSON number with a fraction for an integer column is an error, never truncated
INSERT INTO pg_temp.local (key, content) VALUES ('docs/fraction/1.jsonl', convert_to(E'{"n": 1.7}\n', 'UTF8'));
CREATE FOREIGN TABLE pg_temp.fraction (n int4) SERVER local_objects OPTIONS (prefix 'docs/fraction/', format 'json');
SELECT pg_temp.try($$SELECT * FROM pg_temp.fraction$$) ~ '1\.7' AS fraction_refused;
INSERT INTO pg_temp.local (key, content) VALUES ('docs/whole/1.jsonl', convert_to(E'{"n": 17}\n{"n": null}\n', 'UTF8'));
CREATE FOREIGN TABLE pg_temp.whole (n int4) SERVER local_objects OPTIONS (prefix 'docs/whole/', format 'json');
SELECT * FROM pg_temp.whole;

-- issue 25: a LIKE prefix no valid key can start with matches nothing (no listing
-- error); a partial '..' segment still matches keys like 'a/..b'
SELECT count(*) FROM pg_temp.objs WHERE key LIKE 'a/../%';
SELECT count(*) FROM pg_temp.objs WHERE key LIKE E'a\nb%';
SELECT count(*) FROM pg_temp.objs WHERE key LIKE 'a//%';
INSERT INTO pg_temp.local (key, content) VALUES ('docs/dots/..b', 'x');
SELECT key FROM pg_temp.local WHERE key LIKE 'docs/dots/..%';
-- a scan reading content goes on past a round of objects that all fail a size hint
INSERT INTO pg_temp.objs (key, content) SELECT 'round/a' || g, '\x01' FROM generate_series(1, 8) g;
INSERT INTO pg_temp.objs (key, content) VALUES ('round/z', decode(repeat('ab', 200), 'hex'));
SELECT key, length(content) FROM pg_temp.objs WHERE key LIKE 'round/%' AND size > 100;
-- '#' in a local key is fine, except a file name ending in '#' and digits: a clear
-- error on write, no rows on lookup (the local store keeps temporary files so)
INSERT INTO pg_temp.local (key, content) VALUES ('docs/hash/a#b', 'x'), ('docs/hash/c#1x', 'y');
SELECT key FROM pg_temp.local WHERE key LIKE 'docs/hash/%' ORDER BY key;
SELECT pg_temp.try($$INSERT INTO pg_temp.local (key, content) VALUES ('docs/hash/d#12', 'z')$$);
SELECT count(*) FROM pg_temp.local WHERE key = 'docs/hash/d#12';
-- a local store's errors never show the root's absolute path
SELECT pg_temp.try($$SELECT * FROM pg_temp.bad_files$$) ~ :'local_root' AS shows_root_path,
       pg_temp.try($$SELECT * FROM pg_temp.bad_files$$) ~ 'docs/bad/' AS names_the_files;

DELETE FROM pg_temp.objs;
DELETE FROM pg_temp.local;
DROP SERVER test_objects, small_objects, down_objects, local_objects, lake_files CASCADE;
