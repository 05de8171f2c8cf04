-- neo4j_fdw against the live Bolt server (ArcadeDB): node and relationship tables with
-- every mapped type, Cypher pushdown with parameters, inert injection attempts,
-- odp.cypher() read-only by default, and clear errors for bad credentials and servers.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
DROP SERVER IF EXISTS test_graph CASCADE;
CREATE SERVER test_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri :'bolt_url', database 'odp', query_timeout_ms '10000');
CREATE USER MAPPING FOR PUBLIC SERVER test_graph OPTIONS (user 'root', password :'graph_password');
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestUser) DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestProduct) DETACH DELETE n', write => true);

-- a small graph, written through odp.cypher with parameters
SELECT count(*) FROM odp.cypher('test_graph',
  'UNWIND $users AS u CREATE (:OdpTestUser {user_id: u.id, name: u.name, age: u.age, score: u.score,
     vip: u.vip, tags: u.tags, born: date(u.born), seen: datetime(u.seen), local: localdatetime(u.local)})',
  '{"users": [
     {"id": "u1", "name": "Ann", "age": 34, "score": 0.5, "vip": true, "tags": ["a", "b"], 
      "born": "1990-02-03", "seen": "2026-03-01T10:00:00+02:00", "local": "2026-03-01T10:00:00"},
     {"id": "u2", "name": "Bo", "age": 41, "score": 2.25, "vip": false, "tags": [], 
      "born": "1985-12-31", "seen": "2026-03-02T00:00:00Z", "local": "2026-03-02T00:00:00"},
     {"id": "u3", "name": "Cy"}]}', write => true);
SELECT count(*) FROM odp.cypher('test_graph',
  'UNWIND range(1, 3) AS i CREATE (:OdpTestProduct {product_id: "p" + toString(i), name: "Product " + toString(i)})', write => true);
SELECT count(*) FROM odp.cypher('test_graph',
  'MATCH (u:OdpTestUser), (p:OdpTestProduct) WHERE u.user_id IN $buyers
   CREATE (u)-[:ODP_TEST_PURCHASED {date: datetime("2026-03-0" + substring(p.product_id, 1) + "T12:00:00Z"), qty: 1}]->(p)',
  '{"buyers": ["u1", "u2"]}', write => true);

-- node tables: every mapped type
CREATE FOREIGN TABLE pg_temp.users (
    user_id text, name text, age int, score float8, vip bool, tags text[], tags_json jsonb OPTIONS (property 'tags'),
    born date, seen timestamptz, local timestamp, _id text
) SERVER test_graph OPTIONS (label 'OdpTestUser');
SELECT user_id, name, age, score, vip, tags, tags_json, born, seen, local, _id IS NOT NULL AS has_id
  FROM pg_temp.users ORDER BY user_id;
-- quals become a Cypher WHERE with parameters; the server returns only matching rows
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM pg_temp.users WHERE user_id = 'u1' AND age >= 30;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT name FROM pg_temp.users WHERE user_id IN ('u1', 'u3');
SELECT name FROM pg_temp.users WHERE name LIKE 'B%';
SELECT count(*) FROM pg_temp.users WHERE score IS NULL;
SELECT name FROM pg_temp.users ORDER BY name LIMIT 1;

-- relationship tables: end-node keys and relationship properties
CREATE FOREIGN TABLE pg_temp.purchased (user_id text, product_id text, date timestamptz, qty int)
  SERVER test_graph OPTIONS (type 'ODP_TEST_PURCHASED', start_label 'OdpTestUser', start_key 'user_id',
                             end_label 'OdpTestProduct', end_key 'product_id');
SELECT * FROM pg_temp.purchased ORDER BY user_id, product_id;
EXPLAIN (VERBOSE, COSTS OFF) SELECT product_id FROM pg_temp.purchased WHERE user_id = 'u2' AND date < '2026-03-03';
SELECT product_id FROM pg_temp.purchased WHERE user_id = 'u2' AND date < '2026-03-03' ORDER BY 1;
-- a join from a heap table
CREATE TEMP TABLE wanted (user_id text);
INSERT INTO wanted VALUES ('u1'), ('u3');
SELECT w.user_id, count(p.product_id) FROM wanted w LEFT JOIN pg_temp.purchased p USING (user_id) GROUP BY 1 ORDER BY 1;

-- injection attempts are inert: values are parameters, names are quoted
SELECT count(*) FROM pg_temp.users WHERE name = $$x' OR 1=1 //$$;
SELECT count(*) FROM pg_temp.users WHERE name = 'Ann`) DETACH DELETE (n';
CREATE FOREIGN TABLE pg_temp.hostile (name text) SERVER test_graph OPTIONS (label 'OdpTestUser`) DETACH DELETE (n) //');
SELECT count(*) FROM pg_temp.hostile;
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (u:OdpTestUser) WHERE u.name = $name RETURN u', '{"name": "Ann\" OR true //"}');
SELECT count(*) AS users_left FROM pg_temp.users;

-- odp.cypher: rows as JSON; read-only unless write => true by a member of odp_graph_writer
SELECT row - 'p' AS row_without_path, jsonb_array_length(row -> 'p' -> 'nodes') AS path_nodes
  FROM odp.cypher('test_graph', 'MATCH p=(u:OdpTestUser {user_id: "u1"})-[:ODP_TEST_PURCHASED]->(x) RETURN u.name AS name, p ORDER BY x.product_id LIMIT 1') AS row;
SELECT count(*) FROM odp.cypher('test_graph', 'CREATE (:OdpTestUser {user_id: "tmp"})');
SELECT count(*) AS still_three FROM pg_temp.users;
DROP ROLE IF EXISTS odp_test_reader;
CREATE ROLE odp_test_reader;
GRANT USAGE ON SCHEMA odp TO odp_test_reader;
SET ROLE odp_test_reader;
-- without USAGE on the server nothing runs; with it, writes still need odp_graph_writer
SELECT pg_temp.try($$SELECT count(*) FROM odp.cypher('test_graph', 'RETURN 1 AS x')$$);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER test_graph TO odp_test_reader;
SET ROLE odp_test_reader;
SELECT count(*) FROM odp.cypher('test_graph', 'RETURN 1 AS x');
SELECT pg_temp.try($$SELECT count(*) FROM odp.cypher('test_graph', 'CREATE (:OdpTestUser)', write => true)$$);
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER test_graph FROM odp_test_reader;
REVOKE USAGE ON SCHEMA odp FROM odp_test_reader;
DROP ROLE odp_test_reader;

-- writes: INSERT merges on the key, UPDATE sets properties on the same element, DELETE
-- removes it; the graph changes when the Postgres transaction commits
CREATE FOREIGN TABLE pg_temp.w_users (user_id text, name text, age int)
  SERVER test_graph OPTIONS (label 'OdpTestUser', key 'user_id');
CREATE FOREIGN TABLE pg_temp.w_purchased (user_id text, product_id text, date timestamptz, qty int)
  SERVER test_graph OPTIONS (type 'ODP_TEST_PURCHASED', start_label 'OdpTestUser', start_key 'user_id',
                             end_label 'OdpTestProduct', end_key 'product_id', merge_on 'date');
INSERT INTO pg_temp.w_users VALUES ('u4', 'Dee', 28), ('u1', 'Ann B.', 35);
SELECT user_id, name, age FROM pg_temp.users ORDER BY user_id;
INSERT INTO pg_temp.w_purchased VALUES ('u4', 'p1', '2026-04-01 00:00+00', 2);
INSERT INTO pg_temp.w_purchased VALUES ('u4', 'p1', '2026-04-01 00:00+00', 2);
SELECT user_id, product_id, date, qty FROM pg_temp.w_purchased WHERE user_id = 'u4';
-- an end node that does not exist: nothing is written (at COMMIT), the statement fails
INSERT INTO pg_temp.w_purchased VALUES ('u4', 'no such product', '2026-04-02', 1);
BEGIN;
INSERT INTO pg_temp.w_users VALUES ('u5', 'rolled back', 1);
ROLLBACK;
BEGIN;
INSERT INTO pg_temp.w_users VALUES ('u6', 'kept', 1);
SAVEPOINT s;
INSERT INTO pg_temp.w_users VALUES ('u7', 'undone', 1);
ROLLBACK TO s;
COMMIT;
SELECT user_id FROM pg_temp.users WHERE user_id IN ('u5', 'u6', 'u7') ORDER BY 1;
-- the tables of one server share one Bolt transaction: a failure leaves none of it
BEGIN;
INSERT INTO pg_temp.w_users VALUES ('u8', 'all or nothing', 1);
INSERT INTO pg_temp.w_purchased VALUES ('u8', 'no such product', '2026-04-03', 1);
COMMIT;
SELECT count(*) AS u8_rows FROM pg_temp.users WHERE user_id = 'u8';
UPDATE pg_temp.w_users SET age = age + 1 WHERE user_id = 'u4';
UPDATE pg_temp.w_purchased SET qty = 5 WHERE user_id = 'u4';
SELECT u.age, p.qty FROM pg_temp.w_users u JOIN pg_temp.w_purchased p USING (user_id) WHERE user_id = 'u4';
-- a relationship cannot move to other end nodes (refused at COMMIT)
UPDATE pg_temp.w_purchased SET product_id = 'p2' WHERE user_id = 'u4';
DELETE FROM pg_temp.w_purchased WHERE user_id = 'u4';
-- u1 still has relationships: the graph refuses to delete it (at COMMIT) without detach
\set VERBOSITY sqlstate
DELETE FROM pg_temp.w_users WHERE user_id = 'u1';
\set VERBOSITY default
DELETE FROM pg_temp.w_users WHERE user_id IN ('u4', 'u6');
SELECT user_id FROM pg_temp.users ORDER BY 1;

-- durations map to interval (months, days and time kept apart, both ways), and small
-- negative integers stay negative (Bolt's one-byte encoding of -16..-1)
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestSpan) DETACH DELETE n', write => true);
CREATE FOREIGN TABLE pg_temp.spans (id text, stay interval, delta int)
  SERVER test_graph OPTIONS (label 'OdpTestSpan', key 'id');
INSERT INTO pg_temp.spans VALUES ('s1', '1 mon 2 days 03:04:05.123456', -3), ('s2', '-1 day -00:00:01.5', -16),
  ('s3', NULL, -17);
SELECT count(*) FROM odp.cypher('test_graph', 'CREATE (:OdpTestSpan {id: "s4", stay: duration("P1Y2M10DT2H30M0.0000015S"), delta: -1})', write => true);
SELECT * FROM pg_temp.spans ORDER BY id;
SELECT id FROM pg_temp.spans WHERE delta = -16;
SELECT row FROM odp.cypher('test_graph',
  'MATCH (n:OdpTestSpan {id: "s2"}) RETURN n.stay.months AS months, n.stay.days AS days, n.stay.seconds AS seconds, n.stay.nanosecondsOfSecond AS nanos, n.delta AS delta') row;
UPDATE pg_temp.spans SET stay = stay + interval '1 hour' WHERE id = 's4';
SELECT stay FROM pg_temp.spans WHERE id = 's4';
-- issue 25: durations have a JSON form (ISO 8601), also inside a node
SELECT * FROM odp.cypher('test_graph', 'RETURN duration("P1D") AS d');
SELECT row -> 'n' -> 'stay' AS stay FROM odp.cypher('test_graph', 'MATCH (n:OdpTestSpan {id: "s2"}) RETURN n') row;
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestSpan) DETACH DELETE n', write => true);
-- a value of the wrong type is an error naming the column for a scan that reads it; a
-- pushed qual it cannot match skips it unread (docs/graph.md, Pushdown)
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestAge) DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('test_graph', 'CREATE (:OdpTestAge {id: "a1", age: 30}), (:OdpTestAge {id: "a2", age: "thirty"})', write => true);
CREATE FOREIGN TABLE pg_temp.ages (id text, age int) SERVER test_graph OPTIONS (label 'OdpTestAge', key 'id');
SELECT id FROM pg_temp.ages WHERE age = 30;
SELECT pg_temp.try($$SELECT * FROM pg_temp.ages$$);
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestAge) DETACH DELETE n', write => true);
-- integer parameters keep every digit, or are refused (never a float that lost some)
SELECT * FROM odp.cypher('test_graph', 'RETURN $x AS x, $y AS y', '{"x": 9223372036854775807, "y": [-9223372036854775808, 1.5]}');
SELECT pg_temp.try($$SELECT * FROM odp.cypher('test_graph', 'RETURN $x AS x', '{"x": 9223372036854775808}')$$);
SELECT pg_temp.try($$SELECT * FROM odp.cypher('test_graph', 'RETURN $x AS x', '{"x": {"deep": [18446744073709551615]}}')$$);

-- recommendations on a small hand-built graph: u1 bought p1 and p2; u2 bought p1 and p3;
-- u3 bought p2, p3 and p4; so u1 is recommended p3 (two co-buyers) before p4 (one)
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:User) WHERE n.user_id STARTS WITH "rt_" DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:Product) WHERE n.product_id STARTS WITH "rt_" DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('test_graph',
  'UNWIND $edges AS edge MERGE (u:User {user_id: edge[0]}) MERGE (p:Product {product_id: edge[1]}) CREATE (u)-[:PURCHASED]->(p)',
  '{"edges": [["rt_u1","rt_p1"],["rt_u1","rt_p2"],["rt_u2","rt_p1"],["rt_u2","rt_p3"],["rt_u3","rt_p2"],["rt_u3","rt_p3"],["rt_u3","rt_p4"]]}',
  write => true);
SELECT * FROM odp.graph_recommend('rt_u1', 5, 'test_graph');
SELECT * FROM odp.graph_recommend('rt_u3', 5, 'test_graph');
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:User) WHERE n.user_id STARTS WITH "rt_" DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:Product) WHERE n.product_id STARTS WITH "rt_" DETACH DELETE n', write => true);

-- graph indexes and the lake → graph sync (the seed's users, products and a few days of
-- purchases); running it twice gives the same graph
-- (the graph is derived from the lake: what an earlier sync or benchmark left is removed)
SELECT count(*) FROM odp.cypher('graph', 'MATCH (n:User) DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('graph', 'MATCH (n:Product) DETACH DELETE n', write => true);
SELECT odp.create_graph_index('User', 'user_id', is_unique => true);
SELECT odp.create_graph_index('Product', 'product_id', is_unique => true);
SELECT count(*) > 0 AS listed FROM odp.graph_indexes();
SELECT max(transaction_time) - interval '2 days' AS since FROM heap.transactions \gset
CREATE FUNCTION pg_temp.graph_counts() RETURNS TABLE (users text, products text, purchases text)
LANGUAGE sql AS $$
  SELECT (SELECT row ->> 'n' FROM odp.cypher('graph', 'MATCH (u:User) RETURN count(u) AS n') row),
         (SELECT row ->> 'n' FROM odp.cypher('graph', 'MATCH (p:Product) RETURN count(p) AS n') row),
         (SELECT row ->> 'n' FROM odp.cypher('graph', 'MATCH (:User)-[r:PURCHASED]->(:Product) RETURN count(r) AS n') row) $$;
SELECT * FROM odp.graph_sync(since => :'since');
SELECT users = (SELECT count(*)::text FROM heap.users) AS all_users,
       products = (SELECT count(*)::text FROM heap.products) AS all_products,
       purchases = (SELECT count(DISTINCT (user_id, product_id, transaction_time))::text
                      FROM heap.transactions WHERE transaction_time >= :'since') AS purchases_match
  FROM pg_temp.graph_counts();
CREATE TEMP TABLE first_sync AS SELECT * FROM pg_temp.graph_counts();
SELECT * FROM odp.graph_sync(since => :'since');
SELECT (SELECT f FROM first_sync f) = (SELECT g FROM pg_temp.graph_counts() g) AS same_graph;

-- a join from Delta transactions to a relationship table runs as a nested loop whose
-- inner graph scan asks once per batch of outer keys (odp.lookup_batch_size), not once
-- per outer row; the rows are the same as with one request per row, and as on heap
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_memoize = off; SET enable_material = off;
CREATE FUNCTION pg_temp.batched_lookups(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO plan;
  RETURN jsonb_path_query_first(plan, 'strict $.**."Batched Lookups"') #>> '{}';
END $$;
SELECT count(*) AS outer_rows, count(DISTINCT user_id) AS outer_keys
  FROM lake.transactions WHERE transaction_time >= :'since';
EXPLAIN (COSTS OFF)
SELECT t.transaction_id, p.product_id FROM lake.transactions t JOIN graph.purchased p ON p.user_id = t.user_id
 WHERE t.transaction_time >= :'since';
SELECT pg_temp.batched_lookups(format($$SELECT t.transaction_id, p.product_id FROM lake.transactions t
  JOIN graph.purchased p ON p.user_id = t.user_id WHERE t.transaction_time >= %L$$, :'since')) AS one_request;
SET odp.lookup_batch_size = 100;
SELECT pg_temp.batched_lookups(format($$SELECT t.transaction_id, p.product_id FROM lake.transactions t
  JOIN graph.purchased p ON p.user_id = t.user_id WHERE t.transaction_time >= %L$$, :'since')) AS batches_of_100;
CREATE TEMP TABLE batched AS SELECT t.transaction_id, p.product_id, p.date FROM lake.transactions t
  JOIN graph.purchased p ON p.user_id = t.user_id WHERE t.transaction_time >= :'since';
SET odp.lookup_batch_size = 1;
CREATE TEMP TABLE per_row AS SELECT t.transaction_id, p.product_id, p.date FROM lake.transactions t
  JOIN graph.purchased p ON p.user_id = t.user_id WHERE t.transaction_time >= :'since';
RESET odp.lookup_batch_size;
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_memoize; RESET enable_material;
SELECT (SELECT count(*) FROM batched) AS joined_rows,
       NOT EXISTS (SELECT * FROM batched EXCEPT ALL SELECT * FROM per_row)
   AND NOT EXISTS (SELECT * FROM per_row EXCEPT ALL SELECT * FROM batched) AS same_as_per_row,
       (SELECT count(*) FROM batched) = (SELECT count(*) FROM heap.transactions t
          JOIN (SELECT DISTINCT user_id, product_id, transaction_time FROM heap.transactions
                 WHERE transaction_time >= :'since') b ON b.user_id = t.user_id
         WHERE t.transaction_time >= :'since') AS same_as_heap;

-- values that do not fit their column, and servers that cannot be used, are clear errors
CREATE FOREIGN TABLE pg_temp.wrong (name int) SERVER test_graph OPTIONS (label 'OdpTestUser');
SELECT pg_temp.try($$SELECT * FROM pg_temp.wrong$$);
SELECT pg_temp.try($$CREATE SERVER bad_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'http://x')$$);
SELECT pg_temp.try($$CREATE FOREIGN TABLE pg_temp.bad (x int) SERVER test_graph OPTIONS (label 'A', type 'B')$$);
CREATE SERVER bad_password FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri :'bolt_url', database 'odp');
CREATE USER MAPPING FOR PUBLIC SERVER bad_password OPTIONS (user 'root', password 'wrong-password');
CREATE FOREIGN TABLE pg_temp.locked (name text) SERVER bad_password OPTIONS (label 'OdpTestUser');
SELECT pg_temp.try($$SELECT * FROM pg_temp.locked$$) ~ '^28000' AS refused;
CREATE SERVER down_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'bolt://127.0.0.1:1', connect_timeout_ms '500', query_timeout_ms '1000');
CREATE USER MAPPING FOR PUBLIC SERVER down_graph OPTIONS (user 'root', password 'x');
CREATE FOREIGN TABLE pg_temp.down (name text) SERVER down_graph OPTIONS (label 'OdpTestUser');
SELECT pg_temp.try($$SELECT * FROM pg_temp.down$$) ~ '^(HV00N|08006)' AS clear_error;

SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestUser) DETACH DELETE n', write => true);
SELECT count(*) FROM odp.cypher('test_graph', 'MATCH (n:OdpTestProduct) DETACH DELETE n', write => true);
DROP SERVER test_graph, bad_password, down_graph CASCADE;
