#!/usr/bin/env bash
# Bounded Delta writer memory: one INSERT of 4,000,000 rows into 400 partitions, from a
# new backend, must keep its peak resident memory (VmHWM, shared pages it touched
# included) at or below 256 MB; without the per-partition spill it peaked at 382 MB.
# The rows must all be there, one data file per partition.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
"$ODP_VENV/bin/python" - <<'PY'
import os, sys, time, uuid
import psycopg

ROWS, PARTITIONS, LIMIT_MB = 4_000_000, 400, 256


def connect():
    return psycopg.connect(host="127.0.0.1", port=os.environ["ODP_PG_PORT"], user="postgres",
                           dbname="odp", autocommit=True)


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(r.split()[1]) for r in status if r.startswith("VmHWM:")) / 1024


tag = uuid.uuid4().hex[:8]
admin = connect()
admin.execute(f"CREATE FOREIGN TABLE mem_{tag} (id bigint, part int4, amount float8) SERVER lake "
              f"OPTIONS (path 'writes/mem_{tag}', create_if_missing 'true', partition_by 'part')")
try:
    with connect() as backend:
        pid = backend.info.backend_pid
        backend.execute(f"SELECT count(*) FROM mem_{tag}")
        before = peak_mb(pid)
        started = time.time()
        backend.execute(f"INSERT INTO mem_{tag} SELECT g, (g % {PARTITIONS})::int4, g * 0.25 "
                        f"FROM generate_series(1, {ROWS}) g")
        seconds = time.time() - started
        peak = peak_mb(pid)
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
PY
