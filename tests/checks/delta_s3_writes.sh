#!/usr/bin/env bash
# The write path on the S3-compatible server: create, INSERT, UPDATE, DELETE (by row and
# by whole partition), ROLLBACK, a savepoint and compaction give the rows a heap table
# gets from the same statements.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
tag="s3w_$$_$RANDOM"
trap 'psql -X -qAt -c "DROP FOREIGN TABLE IF EXISTS $tag; DROP TABLE IF EXISTS ${tag}_heap" >/dev/null' EXIT
out=$(psql -X -qAt -v ON_ERROR_STOP=1 <<SQL
CREATE FOREIGN TABLE $tag (id bigint, cat text, v numeric(12,2), ts timestamptz,
    day date OPTIONS (generation_expression 'CAST(ts AS DATE)'))
    SERVER s3lake OPTIONS (path 'writes/$tag', create_if_missing 'true', partition_by 'day');
CREATE TABLE ${tag}_heap (id bigint, cat text, v numeric(12,2), ts timestamptz,
    day date GENERATED ALWAYS AS ((ts AT TIME ZONE 'UTC')::date) STORED);
SELECT format('INSERT INTO %s (id, cat, v, ts) SELECT g, %L, g * 0.5, %L::timestamptz + g * interval ''3 hours'' FROM generate_series(%s, %s) g',
              t, c, '2026-03-01', i * 50, i * 50 + 49)
  FROM (VALUES ('$tag'), ('${tag}_heap')) tables(t), generate_series(0, 3) i, LATERAL (SELECT CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END) cats(c) \gexec
SELECT format('UPDATE %s SET v = v + 1, ts = ts + interval ''1 day'' WHERE id %% 3 = 0', t) FROM (VALUES ('$tag'), ('${tag}_heap')) tables(t) \gexec
SELECT format('DELETE FROM %s WHERE cat = ''odd'' AND id %% 2 = 0', t) FROM (VALUES ('$tag'), ('${tag}_heap')) tables(t) \gexec
EXPLAIN (COSTS OFF) DELETE FROM $tag WHERE day = '2026-03-03';
SELECT format('DELETE FROM %s WHERE day = ''2026-03-03''', t) FROM (VALUES ('$tag'), ('${tag}_heap')) tables(t) \gexec
BEGIN;
DELETE FROM $tag;
ROLLBACK;
BEGIN;
INSERT INTO $tag (id, cat, v, ts) VALUES (1000, 'kept', 1, '2026-03-05 10:00+00');
SAVEPOINT s;
INSERT INTO $tag (id, cat, v, ts) VALUES (1001, 'dropped', 1, '2026-03-05 10:00+00');
ROLLBACK TO s;
COMMIT;
INSERT INTO ${tag}_heap (id, cat, v, ts) VALUES (1000, 'kept', 1, '2026-03-05 10:00+00');
SELECT 'before_optimize=' || (SELECT count(*) FROM (SELECT * FROM $tag EXCEPT ALL SELECT * FROM ${tag}_heap) a)
                          + (SELECT count(*) FROM (SELECT * FROM ${tag}_heap EXCEPT ALL SELECT * FROM $tag) b);
SELECT 'optimized=' || files_removed FROM odp.delta_optimize('$tag');
SELECT 'after_optimize=' || (SELECT count(*) FROM (SELECT * FROM $tag EXCEPT ALL SELECT * FROM ${tag}_heap) a)
                         + (SELECT count(*) FROM (SELECT * FROM ${tag}_heap EXCEPT ALL SELECT * FROM $tag) b);
SELECT 'rows=' || count(*) FROM $tag;
SQL
)
echo "$out" | grep -q 'Direct Delete: whole files' || { echo "partition DELETE on S3 was not direct: $out"; exit 1; }
echo "$out" | grep -q '^before_optimize=0$' || { echo "S3 writes differ from heap: $out"; exit 1; }
echo "$out" | grep -q '^after_optimize=0$' || { echo "S3 table changed by optimize: $out"; exit 1; }
echo "$out" | grep -qE '^optimized=[1-9]' || { echo "optimize compacted nothing: $out"; exit 1; }
echo "S3: $(echo "$out" | grep '^rows=') after INSERT/UPDATE/DELETE/ROLLBACK/SAVEPOINT/optimize, same as heap"
