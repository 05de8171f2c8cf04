"""Transactions under concurrency and faults (docs/transactions.md), with real sessions.

Each scenario forces its interleaving with the test-only fault points of the commit
path (odp.test_fault): a session sleeps at a chosen step while another one compacts,
commits, cancels or terminates it. Every scenario checks the rows afterwards: none lost,
duplicated or brought back, and a COMMIT fails only when nothing of it landed.
"""

import os
import shutil
import subprocess
import sys
import threading
import time

import psycopg
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

TAG = f"tx{os.getpid()}"
FAILURES = []


SCHEMA = f"txc_{os.getpid()}"


def connect():
    return psycopg.connect("", autocommit=True, options=f"-c search_path={SCHEMA},public")


ADMIN = connect()
ADMIN.execute(f"CREATE SCHEMA {SCHEMA}")


def q(sql, *args):
    cursor = ADMIN.execute(sql, args or None)
    return cursor.fetchall() if cursor.description else []


def one(sql, *args):
    return q(sql, *args)[0][0]


LAKE = one(
    "SELECT option_value FROM pg_options_to_table("
    "(SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'lake')) "
    "WHERE option_name = 'root'"
)

os.makedirs(f"{LAKE}/tx", exist_ok=True)
shutil.chown(f"{LAKE}/tx", "postgres", "postgres")


def check(name, condition, detail=""):
    if condition:
        print(f"ok   {name}")
    else:
        print(f"FAIL {name}: {detail}")
        FAILURES.append(name)


def delta_table(name, columns="id bigint, v bigint", partition_by=None):
    path = f"tx/{TAG}_{name}"
    partitioned = f", partition_by '{partition_by}'" if partition_by else ""
    q(f"DROP FOREIGN TABLE IF EXISTS {name}")
    q(
        f"CREATE FOREIGN TABLE {name} ({columns}) SERVER lake "
        f"OPTIONS (path '{path}', create_if_missing 'true'{partitioned})"
    )
    return f"{LAKE}/{path}"


def python_table(name, configuration, columns="id bigint, v bigint"):
    """A Delta table another engine created, with table properties ODP must obey."""
    path = f"tx/{TAG}_{name}"
    full = f"{LAKE}/{path}"
    write_deltalake(
        full,
        pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": pa.array([10, 20, 30], pa.int64())}),
        configuration=configuration,
    )
    shutil.chown(full, "postgres", "postgres")
    for root, dirs, files in os.walk(full):
        for entry in dirs + files:
            shutil.chown(os.path.join(root, entry), "postgres", "postgres")
    q(f"DROP FOREIGN TABLE IF EXISTS {name}")
    q(f"CREATE FOREIGN TABLE {name} ({columns}) SERVER lake OPTIONS (path '{path}')")
    return full


class Session(threading.Thread):
    """Runs statements on its own connection in the background; keeps the outcome."""

    def __init__(self, statements, fault=None):
        super().__init__(daemon=True)
        self.conn = connect()
        self.pid = self.conn.info.backend_pid
        self.statements = statements
        if fault:
            self.conn.execute("SELECT set_config('odp.test_fault', %s, false)", (fault,))
        self.error = None
        self.notices = []
        self.conn.add_notice_handler(lambda d: self.notices.append(d.message_primary))

    def run(self):
        try:
            for statement in self.statements:
                self.conn.execute(statement)
        except psycopg.Error as e:
            self.error = e

    @property
    def sqlstate(self):
        return getattr(self.error, "sqlstate", None)


def wait_until_sleeping(session, timeout=10):
    """Waits until `session` sleeps in a fault point (its backend is busy in COMMIT or
    its statement)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = one("SELECT state FROM pg_stat_activity WHERE pid = %s", session.pid)
        if state == "active":
            time.sleep(0.3)
            return
        time.sleep(0.05)
    raise RuntimeError("session never became active")


def fill(name, files=4, rows=5000):
    for f in range(files):
        q(
            f"INSERT INTO {name} SELECT g, g FROM generate_series({f * rows + 1}, {(f + 1) * rows}) g"
        )


def totals(name):
    return q(f"SELECT count(*), count(DISTINCT id), sum(v) FROM {name}")[0]


def race(table, slow, fast):
    """Runs `slow` in a session that sleeps just before its log entry, and `fast`
    meanwhile; returns the slow session (its outcome)."""
    delta_table(table)
    fill(table)
    session = Session([slow], fault="delta.before_log_entry:sleep=3000")
    session.start()
    wait_until_sleeping(session)
    q(fast)
    session.join()
    return session


# 1. An UPDATE whose rewrite raced a compaction: the compaction commits first, so the
#    UPDATE's files are gone and it must fail with 40001 (it used to commit on top,
#    bringing the compacted rows back next to their new versions).
def update_after_compaction():
    update = race(
        "race_u", "UPDATE race_u SET v = v + 1 WHERE id % 2 = 0", "SELECT * FROM odp.delta_optimize('race_u')"
    )
    check("compaction first: the racing UPDATE fails with 40001", update.sqlstate == "40001", update.error)
    check("compaction first: no row lost, duplicated or changed", totals("race_u") == (20000, 20000, 200010000),
          totals("race_u"))


# 2. The other order: the UPDATE commits while a compaction is writing; the compaction
#    must fail, or it would bring the old versions back.
def compaction_after_update():
    optimize = race(
        "race_o", "SELECT * FROM odp.delta_optimize('race_o')", "UPDATE race_o SET v = v + 1 WHERE id % 2 = 0"
    )
    check("update first: the racing compaction fails with 40001", optimize.sqlstate == "40001", optimize.error)
    check(
        "update first: every row once, updated once",
        totals("race_o") == (20000, 20000, 200010000 + 10000),
        totals("race_o"),
    )


# 3. Two appends and a DELETE racing: appends never conflict, the DELETE of other rows
#    goes on top of an append.
def appends_go_on_top():
    delta_table("race_a")
    fill("race_a", files=2, rows=100)
    delete = Session(["DELETE FROM race_a WHERE id <= 10"], fault="delta.before_log_entry:sleep=2000")
    delete.start()
    wait_until_sleeping(delete)
    q("INSERT INTO race_a SELECT g, g FROM generate_series(1001, 1100) g")
    delete.join()
    check("a DELETE commits on top of a concurrent append", delete.error is None, delete.error)
    check("append and delete both kept", totals("race_a")[0] == 200 - 10 + 100, totals("race_a"))


# 4. SERIALIZABLE: Postgres's serialization failure must come before the Delta commit.
def serializable():
    delta_table("ser_d")
    q("DROP TABLE IF EXISTS ser_h")
    q("CREATE TABLE ser_h (id int PRIMARY KEY, on_call bool)")
    q("INSERT INTO ser_h VALUES (1, true), (2, true)")
    a, b = connect(), connect()
    for conn in (a, b):
        conn.autocommit = False
        conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        conn.execute("SELECT count(*) FROM ser_h WHERE on_call")
    a.execute("UPDATE ser_h SET on_call = false WHERE id = 1")
    a.execute("INSERT INTO ser_d VALUES (1, 1)")
    b.execute("UPDATE ser_h SET on_call = false WHERE id = 2")
    b.execute("INSERT INTO ser_d VALUES (2, 2)")
    a.commit()
    try:
        b.commit()
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    check("SERIALIZABLE: the second COMMIT fails with 40001", state == "40001", state)
    rows = q("SELECT id FROM ser_d ORDER BY id")
    check("SERIALIZABLE: only the committed transaction's Delta row is there", rows == [(1,)], rows)


# 5. A cancel or termination at each step of COMMIT: before the first atomic step the
#    COMMIT fails and nothing lands; from it on the COMMIT completes, everywhere.
STEPS = [
    ("commit.prepare", False),
    ("delta.before_log_entry", True),  # interrupts are held from here on
    ("commit.between_writers", True),
    ("commit.before_shared", True),
    ("commit.done", True),
]


def cancel_at_each_step():
    delta_table("cx_a")
    delta_table("cx_b")
    for signal in ("pg_cancel_backend", "pg_terminate_backend"):
        for marker, (step, lands) in enumerate(STEPS, start=1 if signal == "pg_cancel_backend" else 101):
            session = Session(
                [
                    "BEGIN",
                    f"INSERT INTO cx_a VALUES ({marker}, {marker})",
                    f"INSERT INTO cx_b VALUES ({marker}, {marker})",
                    "COMMIT",
                ],
                fault=f"{step}:sleep=1500",
            )
            session.start()
            # wait for the COMMIT itself: the INSERTs are quick
            time.sleep(0.3)
            wait_until_sleeping(session)
            q(f"SELECT {signal}(%s)", session.pid)
            session.join()
            in_a = one("SELECT count(*) FROM cx_a WHERE id = %s", marker)
            in_b = one("SELECT count(*) FROM cx_b WHERE id = %s", marker)
            name = f"{signal} at {step}"
            if lands:
                check(f"{name}: COMMIT completes in both tables", (in_a, in_b) == (1, 1) and (
                    session.error is None or signal == "pg_terminate_backend"), (in_a, in_b, session.error))
                if signal == "pg_cancel_backend":
                    after = session.conn.execute("SELECT 1").fetchone()
                    check(f"{name}: the next statement runs (the late cancel is dropped)", after == (1,))
            else:
                check(f"{name}: COMMIT fails and nothing lands", (in_a, in_b) == (0, 0) and session.error is not None,
                      (in_a, in_b, session.sqlstate))


# 6. A failure after the first atomic step is a WARNING, never a failed COMMIT (a retry
#    would write twice); one before it aborts everything.
def failures_after_landing():
    delta_table("fx_a")
    delta_table("fx_b")
    late = Session(
        ["BEGIN", "INSERT INTO fx_a VALUES (1, 1)", "INSERT INTO fx_b VALUES (1, 1)", "COMMIT"],
        fault="commit.between_writers:error",
    )
    late.run()
    landed = (one("SELECT count(*) FROM fx_a"), one("SELECT count(*) FROM fx_b"))
    check("failure after the first commit step: COMMIT succeeds", late.error is None, late.error)
    check("failure after the first commit step: a WARNING names what was lost",
          any("later part failed" in n for n in late.notices), late.notices)
    check("failure after the first commit step: one table landed", sorted(landed) == [0, 1], landed)
    early = Session(
        ["BEGIN", "INSERT INTO fx_a VALUES (2, 2)", "INSERT INTO fx_b VALUES (2, 2)", "COMMIT"],
        fault="delta.before_log_entry:error",
    )
    early.run()
    check("failure before the first commit step: COMMIT fails", early.error is not None)
    landed = (one("SELECT count(*) FROM fx_a WHERE id = 2"), one("SELECT count(*) FROM fx_b WHERE id = 2"))
    check("failure before the first commit step: nothing landed", landed == (0, 0), landed)


# 7. A checkpoint that fails after the commit is a WARNING; the version stays.
def checkpoint_failure():
    full = python_table("ck", {"delta.checkpointInterval": "2"})
    session = Session(["INSERT INTO ck VALUES (4, 40)"], fault="delta.checkpoint:error")
    session.run()
    session2 = Session(["INSERT INTO ck VALUES (5, 50)"], fault="delta.checkpoint:error")
    session2.run()
    errors = [s.error for s in (session, session2) if s.error]
    check("failed checkpoint: both COMMITs succeed", not errors, errors)
    check("failed checkpoint: reported as a WARNING",
          any("checkpoint failed" in n for n in session.notices + session2.notices),
          session.notices + session2.notices)
    check("failed checkpoint: every row is there", one("SELECT count(*) FROM ck") == 5)
    rows = DeltaTable(full).to_pyarrow_table().num_rows
    check("failed checkpoint: another engine reads every row", rows == 5, rows)


# 8. UPDATE ... FROM and DELETE ... USING with two matching source rows change a row
#    once, as they do a heap table.
def update_from_duplicates():
    delta_table("uf")
    q("INSERT INTO uf VALUES (1, 0), (2, 0), (3, 0)")
    q("DROP TABLE IF EXISTS uf_src")
    q("CREATE TABLE uf_src (id bigint, v bigint)")
    q("INSERT INTO uf_src VALUES (1, 7), (1, 8), (2, 9)")
    updated = ADMIN.execute("UPDATE uf SET v = s.v FROM uf_src s WHERE uf.id = s.id").rowcount
    check("UPDATE ... FROM two matching rows: UPDATE 2, like a heap table", updated == 2, updated)
    check("UPDATE ... FROM two matching rows: one version of each row", one("SELECT count(*) FROM uf") == 3)
    deleted = ADMIN.execute("DELETE FROM uf USING uf_src s WHERE uf.id = s.id").rowcount
    check("DELETE ... USING two matching rows: DELETE 2", deleted == 2, deleted)
    check("DELETE ... USING two matching rows: one row left", one("SELECT count(*) FROM uf") == 1)


# 9. Writer rules of tables other engines made.
def protocol_rules():
    python_table("ao", {"delta.appendOnly": "true"})
    q("INSERT INTO ao VALUES (4, 40)")
    for statement in ("UPDATE ao SET v = 0 WHERE id = 1", "DELETE FROM ao WHERE id = 1", "DELETE FROM ao"):
        try:
            q(statement)
            state = None
        except psycopg.Error as e:
            state = e.sqlstate
        check(f"append-only table: {statement.split()[0]} refused with 55000", state == "55000", state)
    check("append-only table: rows kept", one("SELECT count(*) FROM ao") == 4)
    python_table("cdf", {"delta.enableChangeDataFeed": "true"})
    q("INSERT INTO cdf VALUES (4, 40)")
    try:
        q("DELETE FROM cdf WHERE id = 1")
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    check("change data feed table: DELETE refused with 0A000", state == "0A000", state)
    check("change data feed table: INSERT works", one("SELECT count(*) FROM cdf") == 4)
    full = delta_table("ntz", "id bigint, at timestamp")
    q("INSERT INTO ntz VALUES (1, '2026-01-02 03:04:05')")
    q("INSERT INTO ntz VALUES (2, '2026-01-03 03:04:05')")
    check("timestamp (timestampNtz) table ODP created: INSERTs work", one("SELECT count(*) FROM ntz") == 2)
    rows = DeltaTable(full).to_pyarrow_table().num_rows
    check("timestamp (timestampNtz) table: another engine reads it", rows == 2, rows)

    def refused(statement):
        try:
            q(statement)
            return None
        except psycopg.Error as e:
            return e.sqlstate

    q("DROP FOREIGN TABLE IF EXISTS gen")
    q(
        f"CREATE FOREIGN TABLE gen (at timestamptz, d date OPTIONS (generation_expression 'CAST(at AS DATE)')) "
        f"SERVER lake OPTIONS (path 'tx/{TAG}_gen', create_if_missing 'true', partition_by 'd')"
    )
    state = refused("INSERT INTO gen VALUES (NULL, '2026-01-01')")
    check("generated date given for a NULL source: refused with 23514", state == "23514", state)
    q("DROP FOREIGN TABLE IF EXISTS gen_unknown")
    q(
        f"CREATE FOREIGN TABLE gen_unknown (at timestamptz, d date) "
        f"SERVER lake OPTIONS (path 'tx/{TAG}_gen', writer_time_zone 'unknown')"
    )
    state = refused("INSERT INTO gen_unknown VALUES ('2026-01-01 23:00+00', '2026-01-01')")
    check("generated date that cannot be checked (zone unknown): refused with 0A000", state == "0A000", state)
    check("generated dates: nothing written", one("SELECT count(*) FROM gen") == 0)
    delta_table("part", "p text, v bigint")
    q("DROP FOREIGN TABLE part")
    q(f"CREATE FOREIGN TABLE part (p text, v bigint) SERVER lake OPTIONS (path 'tx/{TAG}_part', create_if_missing 'true', partition_by 'p')")
    state = refused("INSERT INTO part VALUES ('', 1)")
    check("'' as a partition value: refused with 22000 (it would come back NULL)", state == "22000", state)
    q("INSERT INTO part VALUES ('a', 1), (NULL, 2)")
    check("partition values 'a' and NULL kept apart", q("SELECT p FROM part ORDER BY v") == [("a",), (None,)])
    delta_table("rs")
    q("INSERT INTO rs VALUES (1, 1)")
    first = one("SELECT max(version) FROM odp.delta_history('rs')")
    q("DELETE FROM rs")
    q("SELECT count(*) FROM odp.delta_vacuum('rs', '0 seconds', false, true)")
    state = refused(f"SELECT odp.delta_restore('rs', {first})")
    check("restore to a version whose files were vacuumed: refused with 22023", state == "22023", state)
    check("restore refused: the table still reads", one("SELECT count(*) FROM rs") == 0)


# 10. A Redis UPDATE that moves 10,000 rows to new keys keeps every row (the DEL of an
#     old key used to land after the HSET of a new row to the same key).
def redis_renames():
    port = os.environ["ODP_REDIS_PORT"]
    q("DROP SERVER IF EXISTS tx_redis CASCADE")
    q(f"CREATE SERVER tx_redis FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
    q(
        f"CREATE FOREIGN TABLE tx_ren (id bigint, v text) SERVER tx_redis "
        f"OPTIONS (key_template '{TAG}:ren:{{id}}')"
    )
    q("DELETE FROM tx_ren")
    q("INSERT INTO tx_ren SELECT g, 'v' || g FROM generate_series(1, 10000) g")
    changed = ADMIN.execute("UPDATE tx_ren SET id = id + 1").rowcount
    got = q("SELECT count(*), min(id), max(id), count(*) FILTER (WHERE v = 'v' || (id - 1)) FROM tx_ren")[0]
    check("Redis UPDATE renaming 10,000 keys: every row kept", (changed, got) == (10000, (10000, 2, 10001, 10000)),
          (changed, got))
    # past the 32 MB of changes kept in memory: the oldest changes (deletes an UPDATE
    # later cancels or orders before its puts) are on disk; a savepoint rolled back into
    # the spilled part drops exactly its changes
    q("DELETE FROM tx_ren")
    q("INSERT INTO tx_ren SELECT g, 'v' || g FROM generate_series(1, 200000) g")
    conn = connect()
    conn.execute("BEGIN")
    moved = conn.execute("UPDATE tx_ren SET id = id + 1").rowcount
    conn.execute("SAVEPOINT s")
    conn.execute("INSERT INTO tx_ren SELECT g, 'w' FROM generate_series(300001, 700000) g")
    conn.execute("ROLLBACK TO SAVEPOINT s")
    conn.execute("INSERT INTO tx_ren VALUES (0, 'zero')")
    import glob
    spill_dir = os.path.join(os.environ["ODP_PGDATA"], "base", "pgsql_tmp")
    spilled = glob.glob(f"{spill_dir}/pgsql_tmp_odp_redis_{conn.info.backend_pid}_*")
    conn.execute("COMMIT")
    conn.close()
    check("Redis: the large transaction spilled its changes to a file, removed after COMMIT",
          len(spilled) == 1 and not os.path.exists(spilled[0]), spilled)
    got = q("SELECT count(*), min(id), max(id), count(*) FILTER (WHERE v = 'v' || (id - 1)) FROM tx_ren")[0]
    check("Redis UPDATE renaming 200,000 keys (spilled to disk), a savepoint rolled back into the spill: "
          "every row kept, the rolled-back ones gone",
          (moved, tuple(got)) == (200000, (200001, 0, 200001, 200000)), (moved, got))
    q("DELETE FROM tx_ren")
    q("DROP SERVER tx_redis CASCADE")


# 10b. Redis killed (kill -9) at COMMIT, after the Delta commit landed: the COMMIT
#      succeeds with a WARNING naming the lost Redis change; the Delta row stays.
def redis_killed_at_commit():
    port = os.environ["ODP_REDIS_PORT"]
    services = os.path.join(os.environ["ODP_ROOT"], "scripts", "services.sh")
    delta_table("rk")
    q("DROP SERVER IF EXISTS tx_rk_server CASCADE")
    q(f"CREATE SERVER tx_rk_server FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
    q(f"CREATE FOREIGN TABLE tx_rk (id bigint, v text) SERVER tx_rk_server OPTIONS (key_template '{TAG}:rk:{{id}}')")
    session = Session(
        ["BEGIN", "INSERT INTO rk VALUES (1, 1)", "INSERT INTO tx_rk VALUES (1, 'x')", "COMMIT"],
        fault="commit.between_writers:sleep=2000",
    )
    session.start()
    time.sleep(0.3)
    wait_until_sleeping(session)
    with open(os.path.join(os.environ["ODP_SERVICES"], "redis.pid")) as pid_file:
        os.kill(int(pid_file.read().strip()), 9)
    session.join()
    subprocess.run(["bash", services, "start", "redis"], check=True, stdout=subprocess.DEVNULL)
    check("Redis killed at COMMIT: the COMMIT succeeds (the Delta commit landed)", session.error is None, session.error)
    check("Redis killed at COMMIT: a WARNING names the lost Redis change",
          any("later part failed" in n for n in session.notices), session.notices)
    check("Redis killed at COMMIT: the Delta row is there", one("SELECT count(*) FROM rk") == 1)
    q("DROP SERVER tx_rk_server CASCADE")


# 11. REPEATABLE READ pins each Delta table's version at its first read; READ COMMITTED
#     sees every commit at its next statement.
def snapshots():
    delta_table("rr")
    q("INSERT INTO rr VALUES (1, 1)")
    for level, sees_new in (("REPEATABLE READ", False), ("SERIALIZABLE", False), ("READ COMMITTED", True)):
        reader = connect()
        reader.autocommit = False
        reader.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
        first = reader.execute("SELECT count(*) FROM rr").fetchone()[0]
        q("INSERT INTO rr SELECT max(id) + 1, 0 FROM rr")
        second = reader.execute("SELECT count(*) FROM rr").fetchone()[0]
        reader.commit()
        after = reader.execute("SELECT count(*) FROM rr").fetchone()[0]
        reader.commit()
        check(
            f"{level}: a second read {'sees' if sees_new else 'does not see'} a commit made in between",
            (second == first + 1) == sees_new and after == first + 1,
            (first, second, after),
        )


# 12. Savepoints do not seal files: a PL/pgSQL loop with an EXCEPTION block (one
#     subtransaction per iteration) writes one file, and rolled-back iterations leave
#     no row.
def savepoints():
    full = delta_table("sp")
    q(
        """DO $$ BEGIN FOR i IN 1..500 LOOP
             BEGIN
               INSERT INTO sp VALUES (i, i);
               IF i % 5 = 0 THEN RAISE EXCEPTION 'undo %', i; END IF;
             EXCEPTION WHEN raise_exception THEN NULL;
             END;
           END LOOP; END $$"""
    )
    files = len(DeltaTable(full).file_uris())
    check("500 subtransactions: one data file", files == 1, files)
    check("500 subtransactions: the 100 rolled back are gone", totals("sp")[:2] == (400, 400), totals("sp"))
    nested = connect()
    for statement in (
        "BEGIN", "INSERT INTO sp VALUES (1001, 0)", "SAVEPOINT a", "INSERT INTO sp VALUES (1002, 0)",
        "SAVEPOINT b", "INSERT INTO sp VALUES (1003, 0)", "ROLLBACK TO b", "INSERT INTO sp VALUES (1004, 0)",
        "RELEASE a", "SAVEPOINT c", "INSERT INTO sp VALUES (1005, 0)", "ROLLBACK TO c",
        "INSERT INTO sp VALUES (1006, 0)", "COMMIT",
    ):
        nested.execute(statement)
    kept = [r[0] for r in q("SELECT id FROM sp WHERE id > 1000 ORDER BY id")]
    check("nested savepoints: released and rolled-back writes as Postgres would", kept == [1001, 1002, 1004, 1006], kept)
    # past 64 MB the rows inside savepoints spill to files of their own; rolling back
    # and releasing still keep exactly the right rows
    full = delta_table("spill", "id bigint, pad text")
    big = "INSERT INTO spill SELECT g, repeat('x', 200) FROM generate_series({0}, {1}) g"
    spill = connect()
    for statement in (
        "BEGIN", "INSERT INTO spill VALUES (0, 'before')", "SAVEPOINT a", big.format(1, 400000),
        "SAVEPOINT b", big.format(400001, 800000), "ROLLBACK TO b", "INSERT INTO spill VALUES (-1, 'after b')",
        "RELEASE a", "SAVEPOINT c", big.format(800001, 1200000), "ROLLBACK TO c", "COMMIT",
    ):
        spill.execute(statement)
    got = q("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM spill")[0]
    check("savepoints past 64 MB: spilled rows rolled back or kept exactly", got == (400002, 400002, -1, 400000), got)
    rows = DeltaTable(full).to_pyarrow_table().num_rows
    check("savepoints past 64 MB: another engine reads the same rows", rows == 400002, rows)
    # two spills inside one savepoint, rolled back: neither spill's rows come back
    for statement in ("BEGIN", "SAVEPOINT d", big.format(2000001, 2800000), "ROLLBACK TO d", "COMMIT"):
        spill.execute(statement)
    got = q("SELECT count(*) FROM spill")[0][0]
    check("a savepoint rolled back across two spills: none of its rows kept", got == 400002, got)


# 13. REPEATABLE READ writes: an UPDATE of rows whose file another session rewrote
#     after the pinned version fails with 40001; a partition DELETE deletes only the
#     rows the snapshot holds; PREPARE TRANSACTION after a write is refused.
def repeatable_read_writes():
    delta_table("rrw", "id bigint, v bigint, p text")
    q("DROP FOREIGN TABLE rrw")
    q(f"CREATE FOREIGN TABLE rrw (id bigint, v bigint, p text) SERVER lake "
      f"OPTIONS (path 'tx/{TAG}_rrw', create_if_missing 'true', partition_by 'p')")
    q("INSERT INTO rrw VALUES (1, 0, 'a'), (2, 0, 'b')")
    writer = connect()
    writer.autocommit = False
    writer.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    writer.execute("SELECT count(*) FROM rrw").fetchone()
    q("UPDATE rrw SET v = 1 WHERE id = 1")
    writer.execute("UPDATE rrw SET v = 2 WHERE id = 1")
    try:
        writer.commit()
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    check("REPEATABLE READ: UPDATE of a row rewritten after the pinned version fails with 40001",
          state == "40001", state)
    check("REPEATABLE READ: the other session's update stays", one("SELECT v FROM rrw WHERE id = 1") == 1)
    writer.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    writer.execute("SELECT count(*) FROM rrw").fetchone()
    q("INSERT INTO rrw VALUES (3, 0, 'b')")
    deleted = writer.execute("DELETE FROM rrw WHERE p = 'b'").rowcount
    writer.commit()
    check("REPEATABLE READ: a partition DELETE deletes only rows of the pinned version",
          (deleted, q("SELECT id FROM rrw WHERE p = 'b'")) == (1, [(3,)]), (deleted, q("SELECT id FROM rrw")))
    writer.execute("INSERT INTO rrw VALUES (4, 0, 'c')")
    try:
        writer.execute("PREPARE TRANSACTION 'odp_tx_check'")
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    writer.rollback()
    check("PREPARE TRANSACTION after a Delta write: refused with 0A000", state == "0A000", state)
    check("PREPARE TRANSACTION refused: nothing written", one("SELECT count(*) FROM rrw WHERE id = 4") == 0)


# 14. A schema or property change by another engine after the transaction's first write
#     conflicts, also when the transaction's UPDATE/DELETE rewrote files at COMMIT.
def metadata_change():
    full = python_table("md", {})
    session = connect()
    session.autocommit = False
    session.execute("DELETE FROM md WHERE id = 1")
    DeltaTable(full).alter.set_table_properties({"delta.logRetentionDuration": "interval 31 days"})
    for root, dirs, files in os.walk(full):
        for entry in dirs + files:
            shutil.chown(os.path.join(root, entry), "postgres", "postgres")
    session.execute("INSERT INTO md VALUES (9, 90)")
    try:
        session.commit()
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    check("a property change between the first write and COMMIT: 40001", state == "40001", state)
    check("after the conflict: nothing of the transaction", one("SELECT count(*) FROM md") == 3)


# 15. A step that fails part-way (Redis applied one block of 10,000 of two) is a
#     WARNING, never a failed COMMIT: the applied block stays.
def partly_applied_step():
    port = os.environ["ODP_REDIS_PORT"]
    q("DROP SERVER IF EXISTS tx_pa_server CASCADE")
    q(f"CREATE SERVER tx_pa_server FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
    q(f"CREATE FOREIGN TABLE tx_pa (id bigint, v text) SERVER tx_pa_server OPTIONS (key_template '{TAG}:pa:{{id}}')")
    session = Session(["INSERT INTO tx_pa SELECT g, 'v' FROM generate_series(1, 15000) g"],
                      fault="redis.between_blocks:error")
    session.run()
    check("Redis failing after its first block: the COMMIT succeeds", session.error is None, session.error)
    check("Redis failing after its first block: a WARNING says what was applied",
          any("applied 10000 of 15000" in n for n in session.notices), session.notices)
    check("Redis failing after its first block: the first block stays", one("SELECT count(*) FROM tx_pa") == 10000)
    q("DELETE FROM tx_pa")
    q("DROP SERVER tx_pa_server CASCADE")


# 16. The graph's Bolt COMMIT is the graph's atomic step: its failure, with nothing
#     landed before it, fails the COMMIT and leaves the graph unchanged.
def graph_commit_fails():
    q("DROP SERVER IF EXISTS tx_graph CASCADE")
    q(f"CREATE SERVER tx_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS "
      f"(uri 'bolt://127.0.0.1:{os.environ['ODP_BOLT_PORT']}', database 'odp')")
    q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER tx_graph OPTIONS "
      f"(user 'root', password '{os.environ['ODP_GRAPH_PASSWORD']}')")
    q("CREATE FOREIGN TABLE tx_g (user_id text, name text) SERVER tx_graph OPTIONS (label 'OdpTxUser', key 'user_id')")
    q("DELETE FROM tx_g")
    session = Session(["INSERT INTO tx_g VALUES ('g1', 'Gee')"], fault="commit.before_shared:error")
    session.run()
    check("graph COMMIT failing with nothing else landed: the COMMIT fails", session.error is not None)
    check("graph COMMIT failing: the graph is unchanged", one("SELECT count(*) FROM tx_g") == 0)
    # after a Delta commit landed, the failed graph step is a WARNING and the graph stays
    # unchanged: nothing of the shared transaction lands after its failure
    delta_table("tx_gd")
    session = Session(
        ["BEGIN", "INSERT INTO tx_gd VALUES (1, 1)", "INSERT INTO tx_g VALUES ('g2', 'Gee')", "COMMIT"],
        fault="commit.before_shared:error",
    )
    session.run()
    check("graph COMMIT failing after Delta landed: the COMMIT succeeds", session.error is None, session.error)
    check("graph COMMIT failing after Delta landed: a WARNING names the lost part",
          any("commit.before_shared" in n for n in session.notices), session.notices)
    check("graph COMMIT failing after Delta landed: the Delta row is there",
          one("SELECT count(*) FROM tx_gd") == 1)
    check("graph COMMIT failing after Delta landed: the graph is unchanged",
          one("SELECT count(*) FROM tx_g") == 0)
    q("DROP SERVER tx_graph CASCADE")


def object_table(name, server="objects"):
    """An object table over a prefix of the seed's S3 bucket of its own."""
    q(f"DROP FOREIGN TABLE IF EXISTS {name}")
    q(
        f"CREATE FOREIGN TABLE {name} (key text, size bigint, content_type text, content bytea) "
        f"SERVER {server} OPTIONS (prefix 'tx/{TAG}/{name}/')"
    )
    return f"tx/{TAG}/{name}/"


def staging_left():
    """Temporary keys under .odp-staging/ in the seed's object bucket (S3 API)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{os.environ['ODP_S3_PORT']}",
        aws_access_key_id="odp",
        aws_secret_access_key="odp",
        region_name="us-east-1",
    )
    listing = s3.list_objects_v2(Bucket="odp-objects", Prefix=".odp-staging/")
    return listing.get("KeyCount", 0)


# 21. Finding 7: object writes are all or nothing as a client sees them. Cancels sent
#     all through the COMMIT of 3,000 S3 inserts leave all of them (the cancel is
#     dropped once the commit's atomic steps began) or none (it came during prepare).
#     A conflict on an object key, or a graph server that is down, fails the COMMIT in
#     prepare, before the Delta log entry of the same transaction. Large content (one
#     20 MB object, uploaded in parts at once) and content past the 64 MB memory budget
#     (65 of 70 1 MB objects) wait under temporary keys, which go away after the commit
#     or the rollback.
def object_writes():
    prefix = object_table("ob")
    for signal in ("pg_cancel_backend", "pg_terminate_backend"):
        q("DELETE FROM ob")
        session = Session(
            [
                "BEGIN",
                f"INSERT INTO ob (key, content) SELECT '{prefix}' || g || '.bin', '\\x01' FROM generate_series(1, 3000) g",
                "COMMIT",
            ]
        )
        session.start()
        # wait for the COMMIT (the INSERT only stages)
        deadline = time.time() + 30
        while time.time() < deadline and one(
            "SELECT coalesce((SELECT query FROM pg_stat_activity WHERE pid = %s AND state = 'active'), '')",
            session.pid,
        ) != "COMMIT":
            time.sleep(0.01)
        sent = 0
        while session.is_alive():
            q(f"SELECT {signal}(%s)", session.pid)
            sent += 1
            time.sleep(0.1)
        session.join()
        landed = one("SELECT count(*) FROM ob")
        check(
            f"objects: {signal} during the COMMIT of 3,000 inserts leaves all or none",
            sent > 0 and ((session.error is None and landed == 3000) or (session.error is not None and landed == 0)),
            (sent, session.sqlstate, landed),
        )
    q("DELETE FROM ob")

    delta_table("obd")
    q(f"INSERT INTO ob (key, content) VALUES ('{prefix}taken.bin', '\\x01')")
    session = Session(
        ["BEGIN", "INSERT INTO obd VALUES (1, 1)",
         f"INSERT INTO ob (key, content) VALUES ('{prefix}taken.bin', '\\x02')", "COMMIT"]
    )
    session.run()
    check("objects: a key taken fails the COMMIT before the Delta commit",
          session.error is not None and one("SELECT count(*) FROM obd") == 0
          and one(f"SELECT content FROM ob WHERE key = '{prefix}taken.bin'") == b"\x01",
          (session.sqlstate, one("SELECT count(*) FROM obd")))

    q("DROP SERVER IF EXISTS tx_down_graph CASCADE")
    q("CREATE SERVER tx_down_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'bolt://127.0.0.1:1', database 'odp')")
    q("CREATE USER MAPPING FOR CURRENT_USER SERVER tx_down_graph OPTIONS (user 'root', password 'x')")
    q("CREATE FOREIGN TABLE tx_dg (user_id text, name text) SERVER tx_down_graph OPTIONS (label 'OdpTxUser', key 'user_id')")
    session = Session(
        ["BEGIN", "INSERT INTO obd VALUES (2, 2)",
         f"INSERT INTO ob (key, content) VALUES ('{prefix}with-graph.bin', '\\x01')",
         "INSERT INTO tx_dg VALUES ('g1', 'Gee')", "COMMIT"]
    )
    session.run()
    check("objects: a graph server down fails the COMMIT with no object and no Delta row",
          session.error is not None and one("SELECT count(*) FROM obd WHERE id = 2") == 0
          and one(f"SELECT count(*) FROM ob WHERE key = '{prefix}with-graph.bin'") == 0,
          session.error)
    q("DROP SERVER tx_down_graph CASCADE")

    big = 20 * 1024 * 1024  # past the server's multipart_mb (16): uploaded at once, in parts
    for ending in ("ROLLBACK", "COMMIT"):
        q("BEGIN")
        q(f"INSERT INTO ob (key, content) VALUES ('{prefix}big.bin', decode(repeat('ab', {big}), 'hex'))")
        q(f"INSERT INTO ob (key, content) SELECT '{prefix}mb' || g, decode(repeat('cd', 1048576), 'hex') FROM generate_series(1, 70) g")
        waiting = staging_left()
        q(ending)
        stored = q(f"SELECT count(*), coalesce(sum(size), 0) FROM ob WHERE key = '{prefix}big.bin' OR key LIKE '{prefix}mb%%'")[0]
        expected = (71, big + 70 * 1048576) if ending == "COMMIT" else (0, 0)
        check(f"objects: 90 MB staged under {waiting} temporary keys, then {ending}: objects as expected, none left",
              waiting == 66 and tuple(stored) == expected and staging_left() == 0, (waiting, stored, staging_left()))
    check("objects: a staged upload keeps its content type",
          one(f"SELECT content_type FROM ob WHERE key = '{prefix}big.bin'") == "application/octet-stream")
    q("DELETE FROM ob")

    # issue 25: a DELETE removes only the version its scan read: an object another
    # writer replaced meanwhile stays, and the DELETE fails with 40001
    q(f"INSERT INTO ob (key, content) VALUES ('{prefix}raced.bin', '\\x01')")
    session = Session(["BEGIN", f"DELETE FROM ob WHERE key = '{prefix}raced.bin'", "COMMIT"],
                      fault="commit.prepare:sleep=1500")
    session.start()
    wait_until_sleeping(session)
    q(f"UPDATE ob SET content = '\\x02' WHERE key = '{prefix}raced.bin'")
    session.join(30)
    check("objects: a DELETE of a version replaced meanwhile fails with 40001 and deletes nothing",
          session.sqlstate == "40001" and one(f"SELECT content FROM ob WHERE key = '{prefix}raced.bin'") == b"\x02",
          (session.sqlstate, session.error))
    q("DELETE FROM ob")


# 22. Finding 11: a transaction reads its own changes to a Delta table, as it would a
#     heap table: pending inserts, updates and deletes, the table read while the same
#     statement writes it (INSERT ... SELECT from itself doubles it exactly), a
#     partition DELETE of rows it inserted, and an aggregate that would otherwise come
#     from the log's statistics.
def read_your_writes():
    delta_table("ry", "id bigint, v bigint, part int4", partition_by="part")
    delta_table("ry_keys", "id bigint")
    keys = "SELECT g * 7 AS id FROM generate_series(1, 20) g UNION ALL SELECT g FROM generate_series(3001, 3010) g"
    q(f"INSERT INTO ry_keys {keys}")
    q("DROP TABLE IF EXISTS ry_heap, ry_keys_heap")
    q("CREATE TABLE ry_heap (id bigint, v bigint, part int4)")
    q(f"CREATE TABLE ry_keys_heap AS {keys}")
    # each step's statements run together, then the table is read
    steps = [
        ["INSERT INTO {t} SELECT g, g, g % 4 FROM generate_series(1001, 2000) g"],
        ["UPDATE {t} SET v = v + 1 WHERE id <= 300"],
        ["DELETE FROM {t} WHERE id % 7 = 0"],
        ["INSERT INTO {t} SELECT id + 5000, v, part FROM {t}"],
        ["UPDATE {t} SET v = -v WHERE id > 5500"],
        ["DELETE FROM {t} WHERE part = 2"],
        # rows written inside a savepoint released before the next read
        ["SAVEPOINT a", "INSERT INTO {t} SELECT g, 7, 5 FROM generate_series(3001, 3100) g", "RELEASE SAVEPOINT a"],
        ["UPDATE {t} SET v = v * 10 WHERE part = 5 AND id % 2 = 0"],
        # a self-join rescanned (nested loop) while the same statement writes
        ["INSERT INTO {t} SELECT a.id + 20000, b.v, 7 FROM {t} a JOIN {t} b ON b.id = a.id WHERE a.id <= 60"],
    ]
    read = "SELECT count(*), sum(v), count(DISTINCT id), min(id), max(id) FROM {t}"
    # the changed table looked up key by key from another table's rows
    lookup = "SELECT count(*), sum(x.v) FROM {k} k JOIN {t} x ON x.id = k.id"
    for isolation in ("READ COMMITTED", "REPEATABLE READ"):
        seen = {}
        for table, key_table in (("ry", "ry_keys"), ("ry_heap", "ry_keys_heap")):
            q(f"DELETE FROM {table}")
            q(f"INSERT INTO {table} SELECT g, g, g % 4 FROM generate_series(1, 1000) g")
            conn = connect()
            for setting in ("enable_hashjoin", "enable_mergejoin", "enable_material"):
                conn.execute(f"SET {setting} = off")
            conn.execute(f"BEGIN ISOLATION LEVEL {isolation}")
            reads = []
            for statements in steps:
                for statement in statements:
                    conn.execute(statement.format(t=table))
                reads.append(conn.execute(read.format(t=table)).fetchone())
                reads.append(conn.execute(lookup.format(t=table, k=key_table)).fetchone())
            reads.append(conn.execute(f"SELECT count(*) FROM {table}").fetchone())
            conn.execute("COMMIT")
            reads.append(conn.execute(read.format(t=table)).fetchone())
            seen[table] = reads
            conn.close()
        mismatch = [
            (i, a, b) for i, (a, b) in enumerate(zip(seen["ry"], seen["ry_heap"])) if a != b
        ]
        check(f"{isolation}: every read after a write equals the heap table's",
              not mismatch, mismatch[:3])
    conn = connect()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO ry VALUES (-1, 0, 9)")
    conn.execute("ROLLBACK")
    check("a rolled-back insert read in its transaction is gone after", one("SELECT count(*) FROM ry WHERE id = -1") == 0)
    conn.close()


# 23. A write into files stopped part-way (here: a cancel while a read of the table
#     writes out the rows waiting per partition), its error caught by a savepoint: the
#     transaction cannot commit the table (55000) instead of committing a part of it.
def unfinished_write():
    delta_table("uw", "id bigint, part int4", partition_by="part")
    conn = connect()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO uw SELECT g, (g % 200)::int4 FROM generate_series(1, 3000000) g")
    conn.execute("SAVEPOINT s")
    # cancels every 50 ms from the start of the read, so one lands while it writes out
    # the pending rows, however fast the machine
    reading = threading.Event()
    reading.set()

    def cancel_while_reading(pid=conn.info.backend_pid):
        while reading.is_set():
            time.sleep(0.05)
            q("SELECT pg_cancel_backend(%s)", pid)

    canceller = threading.Thread(target=cancel_while_reading, daemon=True)
    canceller.start()
    try:
        conn.execute("SELECT count(*) FROM uw")
        cancelled = None
    except psycopg.Error as e:
        cancelled = e.sqlstate
    reading.clear()
    canceller.join()
    conn.execute("ROLLBACK TO SAVEPOINT s")
    try:
        conn.execute("COMMIT")
        committed = None
    except psycopg.Error as e:
        committed = e.sqlstate
    conn.close()
    check("a read cancelled while writing out the rows of 200 partitions, caught by a savepoint: "
          "COMMIT fails with 55000 and nothing is committed",
          (cancelled, committed, one("SELECT count(*) FROM uw")) == ("57014", "55000", 0),
          (cancelled, committed))


# 24. Issue 25: the graph's connect timeout bounds reaching the server, not each reply:
#     a 20,000-node COMMIT longer than connect_timeout_ms (300 ms) goes through; an
#     unreachable server still fails within it.
def graph_long_commit():
    q("DROP SERVER IF EXISTS tx_slow_graph CASCADE")
    q(f"CREATE SERVER tx_slow_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS "
      f"(uri 'bolt://127.0.0.1:{os.environ['ODP_BOLT_PORT']}', database 'odp', connect_timeout_ms '300')")
    q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER tx_slow_graph OPTIONS "
      f"(user 'root', password '{os.environ['ODP_GRAPH_PASSWORD']}')")
    q("CREATE FOREIGN TABLE tx_slow (user_id text, name text) SERVER tx_slow_graph OPTIONS (label 'OdpTxSlow', key 'user_id')")
    q("DELETE FROM tx_slow")
    started = time.time()
    error = None
    try:
        q("INSERT INTO tx_slow SELECT 's' || g, 'n' || g FROM generate_series(1, 20000) g")
    except psycopg.Error as e:
        error = f"{e.sqlstate}: {e}"
    took = time.time() - started
    check("graph: a 20,000-node COMMIT longer than connect_timeout_ms succeeds",
          error is None and one("SELECT count(*) FROM tx_slow") == 20000 and took > 0.3, (error, took))
    q("DELETE FROM tx_slow")
    q("DROP SERVER tx_slow_graph CASCADE")
    q("CREATE SERVER tx_dead_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS "
      "(uri 'bolt://10.255.255.1:7687', connect_timeout_ms '300', query_timeout_ms '30000')")
    q("CREATE USER MAPPING FOR CURRENT_USER SERVER tx_dead_graph OPTIONS (user 'root', password 'x')")
    q("CREATE FOREIGN TABLE tx_dead (user_id text) SERVER tx_dead_graph OPTIONS (label 'X', key 'user_id')")
    started = time.time()
    try:
        q("SELECT * FROM tx_dead")
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    took = time.time() - started
    check("graph: an unreachable server fails within connect_timeout_ms, not the query timeout",
          state is not None and took < 5, (state, took))
    q("DROP SERVER tx_dead_graph CASCADE")


# 25. Issue 25: a key the Redis user may not read (ACL NOPERM) gives a permission error
#     (42501) naming the key, not "holds a Redis , not a hash".
def redis_acl_denied():
    port = os.environ["ODP_REDIS_PORT"]
    user = f"{TAG}_limited"
    subprocess.run(["redis-cli", "-p", port, "ACL", "SETUSER", user, "on", ">secret", "~allowed:*", "+@all"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        q("DROP SERVER IF EXISTS tx_acl CASCADE")
        q(f"CREATE SERVER tx_acl FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
        q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER tx_acl OPTIONS (user '{user}', password 'secret')")
        q("CREATE FOREIGN TABLE tx_acl_t (id text, v text) SERVER tx_acl OPTIONS (key_template 'denied:{id}')")
        try:
            q("SELECT * FROM tx_acl_t WHERE id = 'x'")
            outcome = None
        except psycopg.Error as e:
            outcome = (e.sqlstate, str(e).splitlines()[0])
        check("Redis ACL denial: 42501 naming the key",
              outcome is not None and outcome[0] == "42501" and "denied:x" in outcome[1], outcome)
        q("DROP SERVER tx_acl CASCADE")
    finally:
        subprocess.run(["redis-cli", "-p", port, "ACL", "DELUSER", user], check=False, stdout=subprocess.DEVNULL)


def purchases_table(name):
    """A Delta table of purchases whose inserts feed the feature pipeline's outbox."""
    delta_table(
        name,
        "transaction_id text, user_id text, product_id text, quantity int4, "
        "total_amount float8, transaction_time timestamptz",
    )
    q(f"CREATE TRIGGER publish AFTER INSERT ON {name} FOR EACH ROW EXECUTE FUNCTION odp.publish_transaction()")
    return one("SELECT product_id FROM heap.products ORDER BY product_id LIMIT 1")


def features_of(prefix):
    """user_id -> (purchase_count, avg_order_value) of the hashes of users named prefix*."""
    for attempt in range(3):  # the first Redis statement after a restart may fail once
        try:
            rows = q(
                "SELECT user_id, purchase_count, avg_order_value FROM features.user_features "
                "WHERE user_id = ANY(%s)",
                [f"{prefix}{i}" for i in range(40)] + [prefix],
            )
            return {user: (count, avg) for user, count, avg in rows}
        except psycopg.Error:
            if attempt == 2:
                raise
            time.sleep(0.5)


def outbox_drained(prefix, timeout=60):
    """Waits until the worker applied every purchase of users named prefix*."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = one(
            "SELECT count(*) FROM odp.feature_outbox WHERE user_id LIKE %s AND error IS NULL",
            prefix + "%",
        )
        if left == 0:
            return True
        time.sleep(0.1)
    return False


def refresh(table):
    q(f"SELECT odp.refresh_features(transactions => '{SCHEMA}.{table}')")


# 18. Finding 5: purchases committed while refreshes run are counted exactly once: the
#     refresh pauses the worker's claims, claims the purchases its lake read counted,
#     and writes features and watermark in one HSET. 20,000 purchases from 4 writers,
#     refreshes in a loop meanwhile; a tenth of the amounts are NULL (counted as
#     purchases, left out of the average, as the batch's avg does; two users have only
#     NULL amounts, so no average at all).
def refresh_cut():
    product = purchases_table("fc")
    prefix = f"{TAG}_fc"

    def writer(w):
        conn = connect()
        for c in range(25):
            conn.execute(
                f"INSERT INTO fc SELECT '{TAG}_w{w}_c{c}_' || g, '{prefix}' || (g %% 20), %s, 1, "
                "CASE WHEN g %% 10 = 0 THEN NULL ELSE g %% 7 + 1 END, now() FROM generate_series(1, 200) g",
                (product,),
            )
        conn.close()

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in writers:
        t.start()
    refreshes = 0
    while any(t.is_alive() for t in writers):
        refresh("fc")
        refreshes += 1
    for t in writers:
        t.join()
    check("refresh cut: the worker drains the outbox", outbox_drained(prefix))
    streamed = features_of(prefix)
    expected = {
        user: (count, avg)
        for user, count, avg in q(
            "SELECT user_id, count(*), avg(total_amount::numeric)::float8 FROM fc GROUP BY user_id"
        )
    }
    counts = sum(c for c, _ in streamed.values())
    check(
        f"refresh cut: {refreshes} refreshes during 20,000 purchases count each exactly once",
        refreshes >= 2 and counts == 20000 and {u: c for u, (c, _) in streamed.items()} == {u: c for u, (c, _) in expected.items()},
        (refreshes, counts),
    )
    check(
        "refresh cut: the streamed averages (NULL amounts left out) equal the lake's",
        len(expected) == 20
        and all(
            streamed[u][1] is None if avg is None else abs(streamed[u][1] - avg) <= 1e-9 * avg
            for u, (_, avg) in expected.items()
        ),
        {u: (streamed.get(u), expected[u]) for u in list(expected)[:3]},
    )
    refresh("fc")
    check("refresh cut: a refresh then changes no count", features_of(prefix) and {u: c for u, (c, _) in features_of(prefix).items()} == {u: c for u, (c, _) in expected.items()})


# 19. A purchasing transaction whose Delta commit landed but whose Postgres commit has
#     not happened yet when a refresh reads the lake: the refresh waits for it, so its
#     purchase is counted once (not by the refresh and again by the worker).
def refresh_waits_for_publisher():
    product = purchases_table("fw")
    user = f"{TAG}_fw"
    session = Session(
        ["BEGIN", f"INSERT INTO fw VALUES ('{TAG}_fw1', '{user}', '{product}', 1, 5, now())", "COMMIT"],
        fault="commit.done:sleep=3000",
    )
    session.start()
    wait_until_sleeping(session)
    started = time.time()
    refresh("fw")
    waited = time.time() - started
    session.join()
    check("refresh vs landing publisher: the COMMIT succeeds", session.error is None, session.error)
    check("refresh vs landing publisher: the refresh waited for it", waited > 1.5, waited)
    check("refresh vs landing publisher: the worker drains the outbox", outbox_drained(user))
    check(
        "refresh vs landing publisher: the purchase counts once",
        features_of(user).get(user, (None,))[0] == 1,
        features_of(user),
    )


# 20a. A Redis that refuses writes for a while (OOM, as when maxmemory is reached): the
#      purchases stay claimed, with no error, and are applied once Redis takes writes
#      again (they used to be kept as failed, and lost to the features).
def transient_redis_errors():
    product = purchases_table("te")
    user = f"{TAG}_te"
    port = os.environ["ODP_REDIS_PORT"]
    redis_cli = ["redis-cli", "-p", port]
    subprocess.run(redis_cli + ["CONFIG", "SET", "maxmemory", "1"], check=True, stdout=subprocess.DEVNULL)
    try:
        q(f"INSERT INTO te SELECT '{TAG}_te' || g, '{user}', '{product}', 1, g, now() FROM generate_series(1, 3) g")
        time.sleep(1.5)
        waiting = q("SELECT count(*), count(error) FROM odp.feature_outbox WHERE user_id = %s", user)[0]
    finally:
        subprocess.run(redis_cli + ["CONFIG", "SET", "maxmemory", "0"], check=True, stdout=subprocess.DEVNULL)
    check("Redis refusing writes: the purchases wait in the outbox, not failed", tuple(waiting) == (3, 0), waiting)
    check("Redis refusing writes: applied once it takes them again", outbox_drained(user, timeout=15))
    check("Redis refusing writes: counted once", features_of(user).get(user, (None,))[0] == 3, features_of(user))


# 20b. Issue 25: after a Redis restart, a session's next read and its next write work
#      the first time (the connection it kept is found broken and replaced).
def redis_restart_next_statement():
    services = os.path.join(os.environ["ODP_ROOT"], "scripts", "services.sh")
    port = os.environ["ODP_REDIS_PORT"]
    q("DROP SERVER IF EXISTS tx_rr_server CASCADE")
    q(f"CREATE SERVER tx_rr_server FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
    q(f"CREATE FOREIGN TABLE tx_rr (id bigint, v text) SERVER tx_rr_server OPTIONS (key_template '{TAG}:rr:{{id}}')")
    reader, writer = connect(), connect()
    for conn in (reader, writer):
        conn.execute("SELECT * FROM tx_rr WHERE id = 1").fetchall()
    with open(os.path.join(os.environ["ODP_SERVICES"], "redis.pid")) as pid_file:
        os.kill(int(pid_file.read().strip()), 9)
    time.sleep(0.5)
    subprocess.run(["bash", services, "start", "redis"], check=True, stdout=subprocess.DEVNULL)
    outcomes = []
    for conn, statement in ((reader, "SELECT count(*) FROM tx_rr WHERE id IN (1, 2)"),
                            (writer, "INSERT INTO tx_rr VALUES (1, 'after restart')")):
        try:
            conn.execute(statement)
            outcomes.append("ok")
        except psycopg.Error as e:
            outcomes.append(f"{e.sqlstate}: {e}")
    check("Redis restarted: a session's next read and next write work the first time",
          outcomes == ["ok", "ok"], outcomes)
    check("Redis restarted: the write is there", one("SELECT v FROM tx_rr WHERE id = 1") == "after restart")
    q("DELETE FROM tx_rr")
    q("DROP SERVER tx_rr_server CASCADE")


# 20. Finding 3: Redis is down when a purchase commits. The purchase is in the outbox,
#     the COMMIT succeeds without a warning, and the worker applies it once Redis is
#     back.
def outbox_survives_redis_down():
    product = purchases_table("rd")
    user = f"{TAG}_rd"
    services = os.path.join(os.environ["ODP_ROOT"], "scripts", "services.sh")
    with open(os.path.join(os.environ["ODP_SERVICES"], "redis.pid")) as pid_file:
        os.kill(int(pid_file.read().strip()), 9)
    session = Session(
        [
            "BEGIN",
            f"INSERT INTO rd SELECT '{TAG}_rd' || g, '{user}', '{product}', 1, g, now() FROM generate_series(1, 3) g",
            "COMMIT",
        ]
    )
    session.run()
    waiting = one("SELECT count(*) FROM odp.feature_outbox WHERE user_id = %s", user)
    subprocess.run(["bash", services, "start", "redis"], check=True, stdout=subprocess.DEVNULL)
    check("Redis down: the purchase COMMIT succeeds, without a warning",
          session.error is None and not session.notices, (session.error, session.notices))
    check("Redis down: the purchases wait in the outbox", waiting == 3, waiting)
    check("Redis down: the worker applies them once Redis is back", outbox_drained(user))
    check("Redis down: the features count them once", features_of(user).get(user, (None,))[0] == 3, features_of(user))


def graph_server(name, extra=""):
    q(f"DROP SERVER IF EXISTS {name} CASCADE")
    q(f"CREATE SERVER {name} FOREIGN DATA WRAPPER neo4j_fdw OPTIONS "
      f"(uri 'bolt://127.0.0.1:{os.environ['ODP_BOLT_PORT']}', database 'odp'{extra})")
    q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER {name} OPTIONS "
      f"(user 'root', password '{os.environ['ODP_GRAPH_PASSWORD']}')")


# 26. Issue 25: a graph UPDATE of a node another transaction deleted meanwhile is a
#     serialization failure (40001), as for heap rows, not 0A000 "cannot move"; a
#     nested loop over two graph tables with pool_size 1 does not stall; an abort
#     with a graph write open returns at once and leaves nothing.
def graph_concurrency():
    graph_server("tx_gc", ", pool_size '1', query_timeout_ms '5000'")
    q("CREATE FOREIGN TABLE tx_gc_u (user_id text, name text) SERVER tx_gc OPTIONS (label 'OdpTxGc', key 'user_id')")
    q("CREATE FOREIGN TABLE tx_gc_v (user_id text, name text) SERVER tx_gc OPTIONS (label 'OdpTxGc', key 'user_id')")
    q("DELETE FROM tx_gc_u")
    q("INSERT INTO tx_gc_u VALUES ('a', 'A'), ('b', 'B')")
    session = Session(["BEGIN", "UPDATE tx_gc_u SET name = 'A2' WHERE user_id = 'a'", "COMMIT"],
                      fault="commit.prepare:sleep=2000")
    session.start()
    wait_until_sleeping(session)
    q("SELECT count(*) FROM odp.cypher('tx_gc', 'MATCH (n:OdpTxGc {user_id: \"a\"}) DETACH DELETE n', write => true)")
    session.join(30)
    check("graph UPDATE of a node deleted meanwhile: 40001", session.sqlstate == "40001", session.error)
    q("INSERT INTO tx_gc_u VALUES ('a', 'A')")
    started = time.time()
    try:
        q("SET enable_hashjoin = off")
        q("SET enable_mergejoin = off")
        q("SET enable_material = off")
        rows = one("SELECT count(*) FROM tx_gc_u u JOIN tx_gc_v v ON v.name > u.name")
        error = None
    except psycopg.Error as e:
        rows, error = None, f"{e.sqlstate}: {e}"
    finally:
        q("RESET enable_hashjoin")
        q("RESET enable_mergejoin")
        q("RESET enable_material")
    check("graph: a nested loop over two graph tables with pool_size 1 runs",
          error is None and rows == 1 and time.time() - started < 5, (rows, error, time.time() - started))
    conn = connect()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO tx_gc_u VALUES ('c', 'C')")
    conn.execute("SELECT count(*) FROM odp.cypher('tx_gc', 'CREATE (:OdpTxGc {user_id: \"d\"})', write => true)")
    started = time.time()
    conn.execute("ROLLBACK")
    took = time.time() - started
    conn.close()
    check("graph: a rollback returns at once and leaves nothing of the table's writes",
          took < 1 and one("SELECT count(*) FROM tx_gc_u WHERE user_id = 'c'") == 0, took)
    # a write cancelled mid-way closes its connection (the server rolls it back): no
    # idle connection is left holding an open transaction
    conn = connect()
    pid = conn.info.backend_pid
    conn.execute("SET statement_timeout = '700ms'")
    try:
        conn.execute("SELECT count(*) FROM odp.cypher('tx_gc', "
                     "'UNWIND range(1, 300000) AS i CREATE (:OdpTxGcBulk {i: i}) RETURN i', write => true)")
        cancelled = None
    except psycopg.Error as e:
        cancelled = e.sqlstate
    time.sleep(0.5)
    sockets = subprocess.run(["ss", "-Htnp", "state", "established", "dport", "=", f":{os.environ['ODP_BOLT_PORT']}"],
                             capture_output=True, text=True).stdout
    held = [line for line in sockets.splitlines() if f"pid={pid}," in line]
    conn.close()
    check("graph: a write cancelled mid-way leaves no connection (and no transaction) open",
          cancelled == "57014" and held == [] and one(
              "SELECT (row ->> 'n')::int FROM odp.cypher('tx_gc', 'MATCH (n:OdpTxGcBulk) RETURN count(n) AS n') row") == 0,
          (cancelled, held))
    q("DELETE FROM tx_gc_u")
    q("DROP SERVER tx_gc CASCADE")


# 27. Issue 25: a Redis user the ACL denies MULTI gets 42501 at COMMIT with nothing
#     applied (a denied MULTI would let the block run command by command); ALTER
#     SERVER closes the backend's connection made with the old options.
def redis_multi_denied_and_alter_server():
    port = os.environ["ODP_REDIS_PORT"]
    user = f"{TAG}_nomulti"
    subprocess.run(["redis-cli", "-p", port, "ACL", "SETUSER", user, "on", ">secret", "~*", "+@all", "-multi"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        q("DROP SERVER IF EXISTS tx_nm CASCADE")
        q(f"CREATE SERVER tx_nm FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
        q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER tx_nm OPTIONS (user '{user}', password 'secret')")
        q(f"CREATE FOREIGN TABLE tx_nm_t (id text, v text) SERVER tx_nm OPTIONS (key_template '{TAG}:nm:{{id}}')")
        try:
            q("INSERT INTO tx_nm_t SELECT g::text, 'v' FROM generate_series(1, 3) g")
            outcome = None
        except psycopg.Error as e:
            outcome = (e.sqlstate, str(e).splitlines()[0])
        left = subprocess.run(["redis-cli", "-p", port, "--scan", "--pattern", f"{TAG}:nm:*"],
                              capture_output=True, text=True).stdout.split()
        check("Redis MULTI denied: 42501 at COMMIT, nothing applied",
              outcome is not None and outcome[0] == "42501" and "MULTI" in outcome[1].upper() and left == [],
              (outcome, left))
        def clients():
            listing = subprocess.run(["redis-cli", "-p", port, "CLIENT", "LIST"], capture_output=True, text=True)
            return [line.split()[0] for line in listing.stdout.splitlines() if f" user={user} " in line]
        conn = connect()
        conn.execute("SELECT count(*) FROM tx_nm_t")
        time.sleep(0.3)
        before = clients()
        q("ALTER SERVER tx_nm OPTIONS (ADD connect_timeout_ms '2500')")
        conn.execute("SELECT count(*) FROM tx_nm_t")
        time.sleep(0.3)
        after = clients()
        conn.close()
        check("Redis: ALTER SERVER closes the backend's connection made with the old options",
              len(after) == len(before) and after != before, (before, after))
        q("DROP SERVER tx_nm CASCADE")
    finally:
        subprocess.run(["redis-cli", "-p", port, "ACL", "DELUSER", user], check=False, stdout=subprocess.DEVNULL)


SCENARIOS = [
    update_after_compaction,
    compaction_after_update,
    appends_go_on_top,
    serializable,
    cancel_at_each_step,
    failures_after_landing,
    checkpoint_failure,
    update_from_duplicates,
    protocol_rules,
    redis_renames,
    snapshots,
    savepoints,
    repeatable_read_writes,
    metadata_change,
    partly_applied_step,
    graph_commit_fails,
    refresh_cut,
    refresh_waits_for_publisher,
    transient_redis_errors,
    object_writes,
    read_your_writes,
    unfinished_write,
    graph_long_commit,
    redis_acl_denied,
    redis_killed_at_commit,
    outbox_survives_redis_down,
    redis_restart_next_statement,
    graph_concurrency,
    redis_multi_denied_and_alter_server,
]

if __name__ == "__main__":
    wanted = sys.argv[1:]
    for scenario in SCENARIOS:
        if wanted and scenario.__name__ not in wanted:
            continue
        try:
            scenario()
        except Exception as e:  # a scenario that cannot even run is a failure
            print(f"FAIL {scenario.__name__}: {type(e).__name__}: {e}")
            FAILURES.append(scenario.__name__)
    q(f"DROP SCHEMA {SCHEMA} CASCADE")
    subprocess.run(["rm", "-rf", *[f"{LAKE}/tx/{d}" for d in os.listdir(f"{LAKE}/tx") if d.startswith(TAG)]], check=False)
    if FAILURES:
        print(f"{len(FAILURES)} transaction checks failed: {', '.join(FAILURES)}")
        sys.exit(1)
