#!/usr/bin/env bash
# Bounded memory of writes and reads, from a new backend each, peak resident memory
# (VmHWM, shared pages it touched included) at or below 256 MB:
# - Delta: one INSERT of 4,000,000 rows into 400 partitions (without the per-partition
#   spill it peaked at 382 MB); every row there, one data file per partition;
# - Redis: one INSERT of 1,000,000 hash rows (without the change spill: 414 MB); every
#   key there;
# - objects: reading the content of 24 objects of 10 MB (content fetched a whole listing
#   round at once: 520 MB);
# - graph: odp.cypher returning 300,000 rows of 1 kB (buffered whole: 489 MB for rows of
#   ~300 bytes).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
"$ODP_VENV/bin/python" - <<'PY'
import os, subprocess, sys, time, uuid
import psycopg

ROWS, PARTITIONS, LIMIT_MB = 4_000_000, 400, 256


def connect():
    return psycopg.connect(host="127.0.0.1", port=os.environ["ODP_PG_PORT"], user="postgres",
                           dbname="odp", autocommit=True)


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(r.split()[1]) for r in status if r.startswith("VmHWM:")) / 1024


def measured(warm, statement):
    """Runs `warm` (which loads the extension and opens the source), then `statement`,
    in a new backend: (peak before, peak after in MB, seconds, the statement's first
    row or None)."""
    with connect() as backend:
        pid = backend.info.backend_pid
        backend.execute(warm).fetchall()
        before = peak_mb(pid)
        started = time.time()
        cursor = backend.execute(statement)
        row = cursor.fetchone() if cursor.description else None
        return before, peak_mb(pid), time.time() - started, row


tag = uuid.uuid4().hex[:8]
admin = connect()
admin.execute(f"CREATE FOREIGN TABLE mem_{tag} (id bigint, part int4, amount float8) SERVER lake "
              f"OPTIONS (path 'writes/mem_{tag}', create_if_missing 'true', partition_by 'part')")
try:
    before, peak, seconds, _ = measured(
        f"SELECT count(*) FROM mem_{tag}",
        f"INSERT INTO mem_{tag} SELECT g, (g % {PARTITIONS})::int4, g * 0.25 FROM generate_series(1, {ROWS}) g")
    rows, parts = admin.execute(f"SELECT count(*), count(DISTINCT part) FROM mem_{tag}").fetchone()
    files = admin.execute(f"SELECT sum(files) FROM odp.delta_partitions('mem_{tag}')").fetchone()[0]
    print(f"{ROWS} rows into {PARTITIONS} partitions: peak {peak:.0f} MB (before {before:.0f} MB), "
          f"{seconds:.1f} s, {files} files")
    if (rows, parts) != (ROWS, PARTITIONS):
        sys.exit(f"rows {rows}, partitions {parts}")
    if files != PARTITIONS:
        sys.exit(f"{files} data files for {PARTITIONS} partitions")
    if peak > LIMIT_MB:
        sys.exit(f"peak {peak:.0f} MB is above {LIMIT_MB} MB")
finally:
    admin.execute(f"DROP FOREIGN TABLE mem_{tag}")

# Redis, in a database of its own (emptied afterwards)
KEYS, DB = 1_000_000, 7
port = os.environ["ODP_REDIS_PORT"]
admin.execute(f"CREATE SERVER mem_{tag}_redis FOREIGN DATA WRAPPER redis_fdw "
              f"OPTIONS (url 'redis://127.0.0.1:{port}/{DB}')")
try:
    admin.execute(f"CREATE FOREIGN TABLE mem_{tag}_r (id bigint, name text, score float8) "
                  f"SERVER mem_{tag}_redis OPTIONS (key_template 'mem:{{id}}')")
    before, peak, seconds, _ = measured(
        f"SELECT * FROM mem_{tag}_r WHERE id = 0",
        f"INSERT INTO mem_{tag}_r SELECT g, 'name ' || g, g * 0.5 FROM generate_series(1, {KEYS}) g")
    stored = int(subprocess.run(["redis-cli", "-p", port, "-n", str(DB), "DBSIZE"],
                                capture_output=True, text=True, check=True).stdout)
    print(f"{KEYS} Redis hash rows: peak {peak:.0f} MB (before {before:.0f} MB), {seconds:.1f} s, "
          f"{stored} keys")
    if stored != KEYS:
        sys.exit(f"{stored} keys, expected {KEYS}")
    if peak > LIMIT_MB:
        sys.exit(f"peak {peak:.0f} MB is above {LIMIT_MB} MB")
finally:
    admin.execute(f"DROP SERVER mem_{tag}_redis CASCADE")
    subprocess.run(["redis-cli", "-p", port, "-n", str(DB), "FLUSHDB"], check=False,
                   stdout=subprocess.DEVNULL)

# objects, on a local root next to the lake
OBJECTS, OBJECT_MB = 24, 10
lake_root = admin.execute(
    "SELECT option_value FROM pg_options_to_table((SELECT srvoptions FROM pg_foreign_server "
    "WHERE srvname = 'lake')) WHERE option_name = 'root'").fetchone()[0]
admin.execute(f"CREATE SERVER mem_{tag}_objects FOREIGN DATA WRAPPER object_fdw "
              f"OPTIONS (root '{lake_root}-objects-mem', max_content_mb '64')")
try:
    admin.execute(f"CREATE FOREIGN TABLE mem_{tag}_o (key text, size bigint, content bytea) "
                  f"SERVER mem_{tag}_objects OPTIONS (prefix 'mem-{tag}/')")
    admin.execute(f"INSERT INTO mem_{tag}_o (key, content) SELECT 'mem-{tag}/' || g || '.bin', "
                  f"decode(repeat(lpad(to_hex(g), 2, '0'), {OBJECT_MB} * 1048576), 'hex') "
                  f"FROM generate_series(1, {OBJECTS}) g")
    before, peak, _, (total,) = measured(
        f"SELECT count(*) FROM mem_{tag}_o WHERE key = 'none'",
        f"SELECT sum(length(content)) FROM mem_{tag}_o")
    print(f"{OBJECTS} objects of {OBJECT_MB} MB read: peak {peak:.0f} MB (before {before:.0f} MB)")
    if total != OBJECTS * OBJECT_MB * 1048576:
        sys.exit(f"read {total} bytes")
    if peak > LIMIT_MB:
        sys.exit(f"peak {peak:.0f} MB is above {LIMIT_MB} MB")
    admin.execute(f"DELETE FROM mem_{tag}_o")
finally:
    admin.execute(f"DROP SERVER mem_{tag}_objects CASCADE")

# graph: odp.cypher streams its rows (Postgres's tuplestore spills past work_mem)
GRAPH_ROWS = 300_000
before, peak, seconds, (count, width) = measured(
    "SELECT count(*) FROM odp.cypher('graph', 'RETURN 1 AS x')",
    f"SELECT count(*), sum(length(row ->> 'pad')) FROM odp.cypher('graph', "
    f"'UNWIND range(1, {GRAPH_ROWS}) AS i RETURN i, $pad AS pad', jsonb_build_object('pad', repeat('x', 1000))) AS row")
print(f"odp.cypher with {GRAPH_ROWS} rows of 1 kB: peak {peak:.0f} MB (before {before:.0f} MB), {seconds:.1f} s")
if (count, width) != (GRAPH_ROWS, GRAPH_ROWS * 1000):
    sys.exit(f"odp.cypher returned {count} rows, {width} bytes")
if peak > LIMIT_MB:
    sys.exit(f"peak {peak:.0f} MB is above {LIMIT_MB} MB")
PY
