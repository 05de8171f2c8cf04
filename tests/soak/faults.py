"""Fault injection soak (issue 25, Reliability): each service stopped, killed (kill -9)
or frozen (SIGSTOP) and brought back before and during reads and writes through ODP's
foreign tables, and the Postgres backend killed (kill -9) at each step of COMMIT.

After every fault the script checks:
- the statement that met the fault fails with a clear error (an SQLSTATE, not XX000)
  within the source's configured time-outs; one that has not returned 10 s after them
  counts as `hung` (it is then cancelled, then terminated);
- no backend crashed but the ones this script killed (the postgres log);
- the next statement of a session that was open across the restart works, with no
  reconnect (`reconnects_needed`);
- every table holds each committed row exactly once and nothing of a failed or killed
  transaction but the parts docs/transactions.md says stay (a step that landed before a
  later one failed, or before the backend died): read through ODP and, independently,
  from the source (Python deltalake, redis-py, boto3, the graph server's HTTP API).

Redis, moto and ArcadeDB keep no state across a restart (scripts/services.sh): the
script stands in for a durable server by snapshotting a server's data just before it
kills or stops it (nothing of this script is in flight then but the transaction parked
at a fault point) and restoring it after the restart, before any session uses it again.
The seed's Redis keys, S3 buckets and graph are therefore the same afterwards (the graph
seed through odp.graph_sync).

usage: faults.py [--fast]   (--fast: a subset, under a minute, run by make test;
       the full run repeats every scenario ODP_SOAK_ROUNDS times, default 2)
Prints one line `RELIABILITY faults_injected=N backend_crashes=N lost_rows=N
wrong_rows=N hung=N unclear_errors=N reconnects_needed=N ambiguous=N` and exits 1 if any
count but faults_injected and ambiguous is not zero (or a scenario could not run).
- a row of a COMMIT that failed is a wrong row, also when it lands only once a frozen
  server resumes and works off what it received before the client gave up;
- `ambiguous` counts rows of a COMMIT that failed with 08007 (transaction resolution
  unknown: the graph server never answered its COMMIT), or rows of a COMMIT that succeeded with a WARNING calling them lost
  (a later step that timed out on a frozen server) that landed anyway: listed as notes,
  not failed on (docs/transactions.md: a step failing part-way is treated as landed).
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import base64
from concurrent.futures import ThreadPoolExecutor

import boto3
import psycopg
import redis as redis_client
from deltalake import DeltaTable

FAST = "--fast" in sys.argv[1:]
ROUNDS = 1 if FAST else int(os.environ.get("ODP_SOAK_ROUNDS", "2"))
ROOT = os.environ["ODP_ROOT"]
SERVICES_SH = os.path.join(ROOT, "scripts", "services.sh")
SERVICES_DIR = os.environ["ODP_SERVICES"]
PG_LOG = os.path.join(os.environ["ODP_RUN"], "postgres.log")
REDIS_PORT = int(os.environ["ODP_REDIS_PORT"])
S3_ENDPOINT = f"http://127.0.0.1:{os.environ['ODP_S3_PORT']}"
BOLT_PORT = os.environ["ODP_BOLT_PORT"]
GRAPH_HTTP = f"http://127.0.0.1:{os.environ['ODP_GRAPH_PORT']}"
GRAPH_PASSWORD = os.environ["ODP_GRAPH_PASSWORD"]

# The time-outs of the servers this script creates; a statement's budget is the sum of
# the time-outs it can meet, and it is `hung` past budget + HANG_SLACK.
REDIS_TIMEOUTS = dict(connect_timeout_ms=1000, command_timeout_ms=2000)
OBJECT_TIMEOUTS = dict(connect_timeout_ms=1000, request_timeout_ms=3000)
GRAPH_TIMEOUTS = dict(connect_timeout_ms=1000, query_timeout_ms=3000)
# delta_fdw has no time-out option for S3: object_store's defaults hold (5 s to connect,
# 30 s per request: a Delta read from a frozen server fails after 30 s; from a stopped
# one within a few seconds). Statements on Delta tables on S3 run under statement_timeout
# here, which docs/delta.md (Cancellation) says stops them.
DELTA_S3_STATEMENT_TIMEOUT_S = 5
HANG_SLACK = 10
BUDGET = {
    "redis": 2 * (1 + 2),  # a broken kept connection is retried once
    "objects": 1 + 3,
    "graph": 1 + 3,
    "delta_s3": DELTA_S3_STATEMENT_TIMEOUT_S,
    # (full mode only, without statement_timeout: object_store's 30 s per request)
    "delta_s3_unbounded": 30,
}

COUNTS = collections.OrderedDict(
    faults_injected=0, backend_crashes=0, lost_rows=0, wrong_rows=0, hung=0,
    unclear_errors=0, reconnects_needed=0, ambiguous=0,
)
FAILURES = []
FINDINGS = []
KILLED_PIDS = set()
FROZEN = set()
SLOWEST = {}  # service -> (seconds, budget) of its failing statement nearest its budget
STARTED = time.time()


def say(line):
    print(f"[{time.time() - STARTED:6.1f}s] {line}", flush=True)


def check(name, condition, detail="", counter=None, amount=1):
    if condition:
        say(f"ok   {name}")
    else:
        say(f"FAIL {name}: {detail}")
        FAILURES.append(name)
        if counter:
            COUNTS[counter] += amount
    return condition


# --- Postgres connections ----------------------------------------------------------


def connect(timeout=90):
    """A new autocommit connection; waits while Postgres restarts (crash recovery)."""
    deadline = time.time() + timeout
    while True:
        try:
            return psycopg.connect("", autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


class Admin:
    """The script's own connection, made again when a crash recovery ended it."""

    conn = None

    def q(self, sql, params=None):
        for attempt in range(3):
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = connect()
            try:
                cursor = self.conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                if not self.conn.broken or attempt == 2:
                    raise
                self.conn = None
        return []

    def one(self, sql, params=None):
        return self.q(sql, params)[0][0]


ADMIN = Admin()


class Outcome:
    def __init__(self):
        self.error = None
        self.sqlstate = None
        self.failed_statement = None
        self.seconds = 0.0
        self.rows = None
        self.hung = False
        self.notices = []

    @property
    def ok(self):
        return self.error is None and not self.hung

    def __repr__(self):
        if self.hung:
            return f"<hung after {self.seconds:.1f}s>"
        if self.error is None:
            return f"<ok {self.seconds:.2f}s{' ' + '; '.join(self.notices) if self.notices else ''}>"
        return f"<{self.sqlstate} in {self.seconds:.2f}s at {self.failed_statement!r}: {self.error}>"


class Session:
    """A client session: its own connection, kept across service restarts."""

    def __init__(self, fault=None):
        self.conn = connect()
        self.pid = self.conn.info.backend_pid
        self.notices = []
        self.conn.add_notice_handler(
            lambda d: self.notices.append(f"{d.severity}: {d.message_primary}"))
        if fault:
            self.conn.execute("SELECT set_config('odp.test_fault', %s, false)", (fault,))
        self.thread = None
        self.outcome = None

    def start(self, statements):
        """Runs statements (stopping at the first error) in the background."""
        statements = [statements] if isinstance(statements, str) else statements
        outcome = self.outcome = Outcome()
        self.notices.clear()

        def work():
            try:
                for statement in statements:
                    outcome.failed_statement = statement
                    cursor = self.conn.execute(statement)
                    if cursor.description:
                        outcome.rows = cursor.fetchall()
                outcome.failed_statement = None
            except psycopg.Error as e:
                outcome.error = (str(e).strip().splitlines() or [type(e).__name__])[0]
                outcome.sqlstate = getattr(e, "sqlstate", None)
            outcome.seconds = time.time() - self.started_at
            outcome.notices = list(self.notices)

        self.started_at = time.time()
        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()
        return self

    def wait(self, budget):
        """Waits for the background statements; past budget + HANG_SLACK they count as
        hung and are cancelled (then terminated)."""
        self.thread.join(max(0.0, self.started_at + budget + HANG_SLACK - time.time()))
        if self.thread.is_alive():
            self.outcome.hung = True
            self.outcome.seconds = time.time() - self.started_at
            COUNTS["hung"] += 1
            say(f"FAIL hung: pid {self.pid} has not returned after {self.outcome.seconds:.1f} s "
                f"(budget {budget} s): cancelling")
            FAILURES.append("hung")
            for signal_function in ("pg_cancel_backend", "pg_terminate_backend"):
                try:
                    ADMIN.q(f"SELECT {signal_function}(%s)", (self.pid,))
                except psycopg.Error:
                    pass
                self.thread.join(10)
                if not self.thread.is_alive():
                    break
        if (not self.conn.closed and not self.conn.broken
                and self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE):
            try:
                self.conn.execute("ROLLBACK")
            except psycopg.Error:
                pass
        return self.outcome

    def run(self, statements, budget):
        return self.start(statements).wait(budget)

    def restart_clock(self):
        """Counts the budget of the running statements from now (the fault)."""
        self.started_at = time.time()

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


def expect_clear_error(name, outcome, service, budget):
    """A statement that met a fault: an error with an SQLSTATE (not XX000), in time."""
    if outcome.hung:
        return False
    if outcome.seconds / budget > SLOWEST.get(service, (0, 1))[0] / SLOWEST.get(service, (0, 1))[1]:
        SLOWEST[service] = (outcome.seconds, budget)
    if outcome.error is None:
        return check(f"{name}: fails", False, outcome, "unclear_errors")
    clear = outcome.sqlstate is not None and outcome.sqlstate != "XX000" and "panick" not in outcome.error
    check(f"{name}: a clear error ({outcome.sqlstate}) in {outcome.seconds:.2f} s "
          f"(time-outs {budget} s)", clear, outcome, "unclear_errors")
    return clear


def expect_works(name, outcome, counter="reconnects_needed"):
    if outcome.hung:
        return False
    return check(f"{name}: works ({outcome.seconds:.2f} s)", outcome.error is None, outcome, counter)


# --- services ----------------------------------------------------------------------


def service_pid(service):
    name = {"redis": "redis.pid", "s3": "moto.pid", "graph": "graph.pid"}[service]
    with open(os.path.join(SERVICES_DIR, name)) as f:
        return int(f.read().strip())


def services(action, service):
    result = subprocess.run(["bash", SERVICES_SH, action, service], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"services.sh {action} {service} failed: {result.stdout}")


def wait_gone(pid, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)


def inject(service, how):
    """Stops (services.sh stop), kills (SIGKILL) or freezes (SIGSTOP) a service."""
    COUNTS["faults_injected"] += 1
    pid = service_pid(service)
    if how == "kill":
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
    elif how == "stop":
        services("stop", service)
    elif how == "freeze":
        os.kill(pid, signal.SIGSTOP)
        FROZEN.add(pid)
    say(f"     {how} {service} (pid {pid})")
    return pid


def recover(service, how, pid, snapshot=None):
    started = time.time()
    if how == "freeze":
        os.kill(pid, signal.SIGCONT)
        FROZEN.discard(pid)
    else:
        services("start", service)
        if snapshot is not None:
            RESTORE[service](snapshot)
    say(f"     {service} back in {time.time() - started:.1f} s")


def thaw_all():
    for pid in list(FROZEN):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    FROZEN.clear()


# Redis: every key of every database, DUMPed and RESTOREd
def redis_snapshot():
    out = {}
    for db in range(16):
        r = redis_client.Redis(port=REDIS_PORT, db=db)
        keys = list(r.scan_iter(count=5000))
        if not keys:
            continue
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
            pipe.pttl(key)
        values = pipe.execute()
        out[db] = [(k, values[2 * i], values[2 * i + 1]) for i, k in enumerate(keys)]
    return out


def redis_restore(snapshot):
    for db, entries in snapshot.items():
        r = redis_client.Redis(port=REDIS_PORT, db=db)
        pipe = r.pipeline(transaction=False)
        for n, (key, payload, ttl) in enumerate(entries, 1):
            if payload is not None:
                pipe.restore(key, max(ttl, 0), payload, replace=True)
            if n % 5000 == 0:
                pipe.execute()
        pipe.execute()


def s3():
    return boto3.client("s3", endpoint_url=S3_ENDPOINT, aws_access_key_id="odp",
                        aws_secret_access_key="odp", region_name="us-east-1")


# S3: every object of every bucket, with its content type and metadata. Objects are
# fetched once (moto answers a request in a few ms): later snapshots fetch only the keys
# whose ETag is new.
S3_FETCHED = {}  # (bucket, key) -> (etag, body, content type, metadata)


def s3_snapshot():
    client = s3()
    listed = []
    for bucket in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        listed.append((bucket, None, None))
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed += [(bucket, e["Key"], e["ETag"]) for e in page.get("Contents", [])]

    def get(item):
        bucket, key, etag = item
        if key is None or S3_FETCHED.get((bucket, key), (None,))[0] == etag:
            return
        try:
            got = client.get_object(Bucket=bucket, Key=key)
        except client.exceptions.NoSuchKey:  # (deleted since the listing)
            return
        S3_FETCHED[(bucket, key)] = (got["ETag"], got["Body"].read(), got.get("ContentType"),
                                     got.get("Metadata", {}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, listed))
    return [(bucket, None) if key is None else (bucket, key, *S3_FETCHED[(bucket, key)][1:])
            for bucket, key, _ in listed if key is None or (bucket, key) in S3_FETCHED]


def s3_restore(snapshot):
    client = s3()
    for item in snapshot:
        if item[1] is None:
            client.create_bucket(Bucket=item[0])

    def put(item):
        bucket, key, body, content_type, metadata = item
        extra = {"ContentType": content_type} if content_type else {}
        client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata, **extra)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [item for item in snapshot if item[1] is not None]))


def graph_query(command, params=None, language="cypher", write=False):
    body = json.dumps({"language": language, "command": command, "params": params or {}}).encode()
    request = urllib.request.Request(
        f"{GRAPH_HTTP}/api/v1/{'command' if write else 'query'}/odp", data=body,
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(f"root:{GRAPH_PASSWORD}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["result"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"graph server: {e.code} {e.read().decode(errors='replace')[:300]}") from None


def ensure_soak_type():
    graph_query("CREATE VERTEX TYPE SoakNode IF NOT EXISTS", language="sql", write=True)


# the graph: the soak's nodes only (the seed's graph is made again by odp.graph_sync)
def graph_snapshot():
    return [(r["id"], r["v"]) for r in graph_query("MATCH (n:SoakNode) RETURN n.id AS id, n.v AS v")]


def graph_restore(snapshot):
    ensure_soak_type()
    for i in range(0, len(snapshot), 500):
        rows = [{"id": k, "v": v} for k, v in snapshot[i:i + 500]]
        graph_query("UNWIND $rows AS r CREATE (:SoakNode {id: r.id, v: r.v})", {"rows": rows}, write=True)


SNAPSHOT = {"redis": redis_snapshot, "s3": s3_snapshot, "graph": graph_snapshot}
RESTORE = {"redis": redis_restore, "s3": s3_restore, "graph": graph_restore}


# --- the soak's tables and what they must hold ------------------------------------

SCHEMA = "soak"
LAKE = None
IDS = iter(range(1, 10**9))


def next_id():
    return next(IDS)


def clean_up():
    """Drops the soak's tables and servers and deletes its rows in every source."""
    ADMIN.q("SET client_min_messages = warning")
    ADMIN.q(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    for server in ("soak_redis", "soak_graph", "soak_objects"):
        ADMIN.q(f"DROP SERVER IF EXISTS {server} CASCADE")
    shutil.rmtree(f"{LAKE}/soak/d", ignore_errors=True)
    for db in range(16):
        r = redis_client.Redis(port=REDIS_PORT, db=db)
        for key in r.scan_iter(match="soak:[rb]*", count=5000):
            r.delete(key)
    client = s3()
    for bucket, prefix in (("odp-lake", "lake/soak/ds3/"), ("odp-objects", "soak/o/")):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=entry["Key"])
    ensure_soak_type()
    graph_query("MATCH (n:SoakNode) DELETE n", write=True)


def setup():
    global LAKE
    ADMIN.q("SET client_min_messages = warning")
    LAKE = ADMIN.one(
        "SELECT option_value FROM pg_options_to_table((SELECT srvoptions FROM pg_foreign_server "
        "WHERE srvname = 'lake')) WHERE option_name = 'root'")
    clean_up()  # (an earlier run's leftovers)

    os.makedirs(f"{LAKE}/soak", exist_ok=True)
    shutil.chown(f"{LAKE}/soak", "postgres", "postgres")
    redis_options = ", ".join(f"{k} '{v}'" for k, v in REDIS_TIMEOUTS.items())
    object_options = ", ".join(f"{k} '{v}'" for k, v in OBJECT_TIMEOUTS.items())
    graph_options = ", ".join(f"{k} '{v}'" for k, v in GRAPH_TIMEOUTS.items())
    for statement in (
        f"CREATE SCHEMA {SCHEMA}",
        f"CREATE SERVER soak_redis FOREIGN DATA WRAPPER redis_fdw OPTIONS "
        f"(url 'redis://127.0.0.1:{REDIS_PORT}', {redis_options})",
        f"CREATE SERVER soak_objects FOREIGN DATA WRAPPER object_fdw OPTIONS (root 's3://odp-objects', "
        f"endpoint '{S3_ENDPOINT}', allow_http 'true', path_style 'true', {object_options})",
        "CREATE USER MAPPING FOR PUBLIC SERVER soak_objects OPTIONS (access_key_id 'odp', secret_access_key 'odp')",
        f"CREATE SERVER soak_graph FOREIGN DATA WRAPPER neo4j_fdw OPTIONS "
        f"(uri 'bolt://127.0.0.1:{BOLT_PORT}', database 'odp', {graph_options})",
        f"CREATE USER MAPPING FOR PUBLIC SERVER soak_graph OPTIONS (user 'root', password '{GRAPH_PASSWORD}')",
        f"CREATE FOREIGN TABLE {SCHEMA}.d (id bigint, v bigint) SERVER lake "
        f"OPTIONS (path 'soak/d', create_if_missing 'true')",
        f"CREATE FOREIGN TABLE {SCHEMA}.ds3 (id bigint, v bigint) SERVER s3lake "
        f"OPTIONS (path 'soak/ds3', create_if_missing 'true')",
        f"CREATE FOREIGN TABLE {SCHEMA}.r (id bigint, v bigint) SERVER soak_redis OPTIONS (key_template 'soak:r:{{id}}')",
        f"CREATE FOREIGN TABLE {SCHEMA}.rbig (id bigint, v bigint) SERVER soak_redis "
        f"OPTIONS (key_template 'soak:rb:{{id}}')",
        f"CREATE FOREIGN TABLE {SCHEMA}.o (key text, size bigint, content bytea) SERVER soak_objects "
        f"OPTIONS (prefix 'soak/o/')",
        f"CREATE FOREIGN TABLE {SCHEMA}.g (id text, v bigint) SERVER soak_graph OPTIONS (label 'SoakNode', key 'id')",
        f"CREATE TABLE {SCHEMA}.h (id bigint, v bigint)",
        # a read that keeps reading, statement after statement, inside one statement
        f"""CREATE FUNCTION {SCHEMA}.read_loop(statement text, n int, pause float8) RETURNS bigint
            LANGUAGE plpgsql AS $$
            DECLARE total bigint := 0; c bigint;
            BEGIN
              FOR i IN 1..n LOOP
                EXECUTE statement INTO c USING i;
                total := total + coalesce(c, 0);
                PERFORM pg_sleep(pause);
              END LOOP;
              RETURN total;
            END $$""",
    ):
        ADMIN.q(statement)
    # the tables exist (and Delta's logs) before any fault
    ADMIN.q(f"INSERT INTO {SCHEMA}.d VALUES (0, 0)")
    ADMIN.q(f"INSERT INTO {SCHEMA}.ds3 VALUES (0, 0)")
    ADMIN.q(f"DELETE FROM {SCHEMA}.d")
    ADMIN.q(f"DELETE FROM {SCHEMA}.ds3")
    s3_snapshot()  # (fetches every object once: later snapshots fetch what changed)


class Ledger:
    """What a table must hold (id -> v) and what it may hold (documented or ambiguous
    outcomes, resolved at the next check)."""

    def __init__(self, table):
        self.table = table
        self.must = {}
        self.maybe = {}
        self.ambiguous = set()  # ids whose presence is an ambiguous outcome

    def add(self, rows):
        self.must.update(rows)

    def may(self, rows, ambiguous=False):
        self.maybe.update(rows)
        if ambiguous:
            self.ambiguous.update(dict(rows))


LEDGERS = {t: Ledger(t) for t in ("d", "ds3", "r", "o", "g", "h")}


def rows_through_odp(table):
    if table == "o":
        rows = ADMIN.q(f"SELECT key, convert_from(content, 'UTF8') FROM {SCHEMA}.o")
        return [(int(k.rsplit("/", 1)[1].split(".")[0]), int(v)) for k, v in rows]
    if table == "g":
        return [(int(i), v) for i, v in ADMIN.q(f"SELECT id, v FROM {SCHEMA}.g")]
    return [tuple(r) for r in ADMIN.q(f"SELECT id, v FROM {SCHEMA}.{table}")]


DELTA_S3_OPTIONS = {
    "AWS_ENDPOINT_URL": S3_ENDPOINT, "AWS_ACCESS_KEY_ID": "odp", "AWS_SECRET_ACCESS_KEY": "odp",
    "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
}


def rows_from_source(table):
    """The same rows read without ODP."""
    if table == "h":
        return None
    if table in ("d", "ds3"):
        if table == "d":
            dt = DeltaTable(f"{LAKE}/soak/d")
        else:
            dt = DeltaTable("s3://odp-lake/lake/soak/ds3", storage_options=DELTA_S3_OPTIONS)
        data = dt.to_pyarrow_table(columns=["id", "v"]).to_pydict()
        return list(zip(data["id"], data["v"]))
    if table == "r":
        r = redis_client.Redis(port=REDIS_PORT)
        keys = list(r.scan_iter(match="soak:r:*", count=5000))
        values = [r.hget(k, "v") for k in keys]
        return [(int(k.decode().rsplit(":", 1)[1]), int(v)) for k, v in zip(keys, values) if v is not None]
    if table == "o":
        client, out = s3(), []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="odp-objects", Prefix="soak/o/"):
            for entry in page.get("Contents", []):
                body = client.get_object(Bucket="odp-objects", Key=entry["Key"])["Body"].read()
                out.append((int(entry["Key"].rsplit("/", 1)[1].split(".")[0]), int(body)))
        return out
    if table == "g":
        return [(int(i), v) for i, v in graph_snapshot()]
    raise ValueError(table)


def verify(label, tables):
    """Compares each table with its ledger, through ODP and from the source."""
    for table in tables:
        ledger = LEDGERS[table]
        readings = {}
        try:
            readings["odp"] = rows_through_odp(table)
        except psycopg.Error as e:
            check(f"{label}: {table} reads through ODP", False, e, "reconnects_needed")
            continue
        source = rows_from_source(table)
        if source is not None:
            readings["source"] = source
        worst_lost, worst_wrong, details, present = 0, 0, [], set()
        for reader, rows in readings.items():
            seen = collections.Counter(i for i, _ in rows)
            values = dict(rows)
            lost = [i for i in ledger.must if seen[i] == 0]
            wrong = [(i, f"x{n}") for i, n in seen.items() if n > 1]
            wrong += [(i, values[i], ledger.must[i]) for i in ledger.must if seen[i] and values[i] != ledger.must[i]]
            wrong += [(i, values[i]) for i in seen if i not in ledger.must and i not in ledger.maybe]
            wrong += [(i, values[i], ledger.maybe[i]) for i in ledger.maybe if seen[i] and values[i] != ledger.maybe[i]]
            worst_lost, worst_wrong = max(worst_lost, len(lost)), max(worst_wrong, len(wrong))
            if lost or wrong:
                details.append(f"{reader}: lost {sorted(lost)[:5]} wrong {sorted(wrong)[:5]}")
            present |= {i for i in seen if i in ledger.maybe}
        if len(readings) == 2 and not details:
            same = sorted(readings["odp"]) == sorted(readings["source"])
            check(f"{label}: {table}: ODP reads what the source holds", same,
                  (len(readings["odp"]), len(readings["source"])), "wrong_rows")
        COUNTS["lost_rows"] += worst_lost
        COUNTS["wrong_rows"] += worst_wrong
        landed_ambiguous = sorted(present & ledger.ambiguous)
        if landed_ambiguous:
            COUNTS["ambiguous"] += len(landed_ambiguous)
            FINDINGS.append(f"{label}: {table}: rows {landed_ambiguous[:5]} of a COMMIT reported failed "
                            f"(or lost in a WARNING) landed after the frozen server resumed")
        check(f"{label}: {table} holds its {len(ledger.must)} committed rows exactly once, nothing else"
              + (f" ({len(landed_ambiguous)} ambiguous landed)" if landed_ambiguous else ""),
              not details, "; ".join(details))
        # what may have landed is settled now: it stays, or stays away; and a row
        # counted lost or wrong once is not counted again at the next check
        for i, v in ledger.maybe.items():
            if i in present:
                ledger.must[i] = v
        ledger.maybe.clear()
        ledger.ambiguous.clear()
        if details:
            ledger.must = {i: v for i, v in readings["odp"]}


# --- statements of the scenarios ----------------------------------------------------


def bounded(table, statement):
    """A statement on a Delta table on S3 runs under statement_timeout (delta_fdw has no
    time-out option of its own); others as they are."""
    if table != "ds3":
        return statement
    return ["BEGIN", f"SET LOCAL statement_timeout = '{DELTA_S3_STATEMENT_TIMEOUT_S}s'", statement, "COMMIT"]


def insert(table, i):
    if table == "o":
        return f"INSERT INTO {SCHEMA}.o (key, content) VALUES ('soak/o/{i}.bin', convert_to('{i}', 'UTF8'))"
    if table == "g":
        return f"INSERT INTO {SCHEMA}.g VALUES ('{i}', {i})"
    return f"INSERT INTO {SCHEMA}.{table} VALUES ({i}, {i})"


def lookup(table, i=1):
    if table == "o":
        return f"SELECT count(*) FROM {SCHEMA}.o WHERE key = 'soak/o/{i}.bin'"
    if table == "g":
        return f"SELECT count(*) FROM {SCHEMA}.g WHERE id = '{i}'"
    return f"SELECT count(*) FROM {SCHEMA}.{table} WHERE id = {i}"


def read_loop(table, n=2000, pause=0.05):
    statement = {
        "o": f"SELECT count(*) FROM {SCHEMA}.o WHERE key = ''soak/o/'' || $1 || ''.bin''",
        "g": f"SELECT count(*) FROM {SCHEMA}.g WHERE id = $1::text",
    }.get(table, f"SELECT count(*) FROM {SCHEMA}.{table} WHERE id = $1")
    return f"SELECT {SCHEMA}.read_loop('{statement}', {n}, {pause})"


SERVICE_OF = {"r": "redis", "o": "objects", "ds3": "delta_s3", "g": "graph"}
SERVER_OF = {"r": "redis", "o": "s3", "ds3": "s3", "g": "graph"}


def service_outage(service, how, tables):
    """A service stopped, killed or frozen while a read runs, then reads and writes of
    each of its tables during the outage, a transaction writing the local Delta table
    and the service's table, and the service back: the sessions' next statements work
    and every table holds what committed."""
    name = f"{service} {how}"
    budget = max(BUDGET[SERVICE_OF[t]] for t in tables)
    session = Session()
    reader = Session()
    for table in tables:  # connections to the source exist before the fault
        expect_works(f"{name}: {table} before the fault", session.run(bounded(table, lookup(table)), budget),
                     "unclear_errors")
    expect_works(f"{name}: reader before the fault", reader.run(lookup(tables[0]), budget), "unclear_errors")
    reader.start(read_loop(tables[0]))
    time.sleep(0.5)
    snapshot = SNAPSHOT[service]() if how != "freeze" else None
    pid = inject(service, how)
    reader.restart_clock()
    try:
        expect_clear_error(f"{name}: a running read of {tables[0]}", reader.wait(budget), SERVICE_OF[tables[0]], budget)
        for table in tables:
            expect_clear_error(f"{name}: a read of {table}", session.run(bounded(table, lookup(table)), budget),
                               SERVICE_OF[table], BUDGET[SERVICE_OF[table]])
            i = next_id()
            out = session.run(bounded(table, insert(table, i)), budget)
            if out.ok:  # (it cannot be: then it is there)
                LEDGERS[table].add({i: i})
            expect_clear_error(f"{name}: an INSERT into {table}", out, SERVICE_OF[table], BUDGET[SERVICE_OF[table]])
        # a transaction with a local Delta row and a row of the service
        table = tables[0]
        i = next_id()
        out = session.run(["BEGIN", insert("d", i), insert(table, i), "COMMIT"], budget + 2)
        if table in ("o", "ds3", "g"):
            # checked or sent at prepare, before any atomic step (object HEAD checks,
            # the graph's changes through its Bolt transaction): the COMMIT fails and
            # nothing lands, the Delta row neither
            expect_clear_error(f"{name}: a COMMIT of a Delta row and a {table} row", out,
                               SERVICE_OF[table], budget + 2)
            if out.ok:
                LEDGERS["d"].add({i: i})
                LEDGERS[table].add({i: i})
        else:
            # Redis commits after the Delta log entry: the COMMIT goes ahead with a
            # WARNING that the later part is lost (docs/transactions.md)
            check(f"{name}: a COMMIT of a Delta row and a {table} row goes ahead with a WARNING "
                  f"naming the lost part", out.ok and any("later part failed" in n for n in out.notices),
                  out, "unclear_errors")
            if out.ok:
                LEDGERS["d"].add({i: i})
            if how == "freeze":
                LEDGERS[table].may({i: i}, ambiguous=True)
    finally:
        recover(SERVER_OF[tables[0]], how, pid, snapshot)
    for table in tables:
        expect_works(f"{name}: the session's next read of {table} after the restart",
                     session.run(bounded(table, lookup(table)), budget))
    expect_works(f"{name}: the reader's next read after the restart", reader.run(lookup(tables[0]), budget))
    for table in tables:
        i = next_id()
        out = session.run(bounded(table, insert(table, i)), budget)
        if expect_works(f"{name}: the session's next INSERT into {table}", out):
            LEDGERS[table].add({i: i})
    session.close()
    reader.close()
    verify(name, tables + ["d"])


def fault_at_commit(service, how, table, point, sleep_ms=2000):
    """A COMMIT parked at a fault point while the service goes down, and back."""
    name = f"{service} {how} at {point} ({table})"
    budget = BUDGET[SERVICE_OF[table]] + sleep_ms / 1000
    session = Session(fault=f"{point}:sleep={sleep_ms}")
    expect_works(f"{name}: before", session.run(lookup(table), budget), "unclear_errors")
    i = next_id()
    statements = ["BEGIN", insert(table, i), "COMMIT"]
    if point == "commit.between_writers":
        statements.insert(1, insert("d", i))
    session.start(statements)
    wait_for_commit(session)
    time.sleep(0.5)
    snapshot = SNAPSHOT[SERVER_OF[table]]() if how != "freeze" else None
    pid = inject(SERVER_OF[table], how)
    try:
        if table == "ds3" and how != "freeze":
            # the log entry's put is retried (a refused connection, up to about a minute):
            # the server is back meanwhile
            time.sleep(1)
            recover(SERVER_OF[table], how, pid, snapshot)
            pid = None
        out = session.wait(budget + (70 if table == "ds3" else 0))
    finally:
        if pid is not None:
            recover(SERVER_OF[table], how, pid, snapshot)
    if point == "commit.between_writers":
        # the Delta row landed first: the COMMIT goes ahead with a WARNING; what the
        # WARNING calls lost may still land once a frozen server resumes (ambiguous)
        check(f"{name}: the COMMIT goes ahead with a WARNING naming the lost part",
              out.ok and any("later part failed" in n for n in out.notices), out, "unclear_errors")
        if out.ok:
            LEDGERS["d"].add({i: i})
        if how == "freeze":
            LEDGERS[table].may({i: i}, ambiguous=True)
    failed_commit = None
    if point == "commit.between_writers":
        pass
    elif table == "ds3" and how != "freeze":
        # the put of the log entry either got through after the restart or failed
        check(f"{name}: the COMMIT ends ({out})", not out.hung)
        if out.ok:
            LEDGERS[table].add({i: i})
    else:
        # the COMMIT fails: nothing of it may land, also not once a frozen server
        # resumes and works off what it received before the client gave up
        expect_clear_error(f"{name}: the COMMIT", out, SERVICE_OF[table], budget)
        if out.sqlstate == "08007":
            # "transaction resolution unknown": the COMMIT was sent and never answered
            # (a frozen graph server), so its row may land once the server resumes
            LEDGERS[table].may({i: i}, ambiguous=True)
        failed_commit = (i, out) if out.error is not None and out.sqlstate != "08007" else None
    session.conn.execute("RESET odp.test_fault")
    i = next_id()
    out = session.run(insert(table, i), budget)
    if expect_works(f"{name}: the session's next INSERT", out):
        LEDGERS[table].add({i: i})
    session.close()
    verify(name, [table, "d"] if point == "commit.between_writers" else [table])
    if failed_commit and failed_commit[0] in dict(rows_from_source(table)):
        FINDINGS.append(f"{name}: the COMMIT failed ({failed_commit[1].sqlstate}: {failed_commit[1].error}) "
                        f"but its row landed once the server resumed")


def wait_for_commit(session, timeout=20):
    """Waits until the session's COMMIT runs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        row = ADMIN.q("SELECT state, query FROM pg_stat_activity WHERE pid = %s", (session.pid,))
        if row and row[0][0] == "active" and row[0][1].strip().upper() == "COMMIT":
            return
        if not session.thread.is_alive():
            raise RuntimeError(f"the session ended before its COMMIT: {session.outcome}")
        time.sleep(0.02)
    raise RuntimeError("the COMMIT never started")


def redis_partly_applied(how):
    """Redis down between two blocks of 10,000 changes: the first block stays, the
    COMMIT goes ahead with a WARNING saying how much was applied."""
    name = f"redis {how} between blocks"
    first = next_id() * 100000
    session = Session(fault="redis.between_blocks:sleep=2000")
    session.start(f"INSERT INTO {SCHEMA}.rbig SELECT g, g FROM generate_series({first}, {first + 14999}) g")
    # (autocommit: the statement itself commits; wait for the first block)
    r = redis_client.Redis(port=REDIS_PORT)
    deadline = time.time() + 20
    while time.time() < deadline and r.exists(f"soak:rb:{first}") == 0:
        time.sleep(0.02)
    time.sleep(0.3)
    snapshot = redis_snapshot() if how != "freeze" else None
    pid = inject("redis", how)
    try:
        out = session.wait(BUDGET["redis"] + 2)
    finally:
        recover("redis", how, pid, snapshot)
    check(f"{name}: the COMMIT goes ahead with a WARNING of 10000 of 15000 applied",
          out.ok and any("applied 10000 of 15000" in n for n in out.notices), out, "unclear_errors")
    keys = [f"soak:rb:{g}" for g in range(first, first + 15000)]
    present = sum(r.exists(*keys[i:i + 1000]) for i in range(0, 15000, 1000))
    through = ADMIN.one(f"SELECT count(*) FROM {SCHEMA}.rbig WHERE id BETWEEN {first} AND {first + 14999}")
    first_block = sum(r.exists(*keys[i:i + 1000]) for i in range(0, 10000, 1000))
    ok = first_block == 10000 and present == through and (present == 10000 or how == "freeze")
    if how == "freeze" and present > 10000:
        COUNTS["ambiguous"] += present - 10000
        FINDINGS.append(f"{name}: the second block ({present - 10000} rows) the WARNING reported lost "
                        f"landed after Redis resumed")
    lost, wrong = max(0, 10000 - first_block), (present - 10000 if how != "freeze" else 0)
    check(f"{name}: the first block is there, once ({first_block}, {present} in all, {through} through ODP)",
          ok and lost == 0 and wrong >= 0, (first_block, present, through))
    COUNTS["lost_rows"] += lost
    COUNTS["wrong_rows"] += max(0, wrong) + (0 if present == through else abs(present - through))
    for i in range(0, 15000, 1000):
        r.delete(*keys[i:i + 1000])
    session.close()


# --- the Postgres backend killed at each step of COMMIT -----------------------------

# What stays of a transaction writing a heap row and a Delta, object, Redis and graph
# row when its backend dies at each step (docs/transactions.md): nothing before the
# first atomic step; from it on the steps that landed (the heap row never: Postgres's
# commit record is never written).
COMMIT_STEPS = [
    ("commit.prepare", set()),
    ("delta.before_log_entry", set()),
    ("commit.between_writers", {"d"}),
    ("commit.before_shared", {"d", "o", "r"}),
    ("commit.done", {"d", "o", "r", "g"}),
]


def postgres_log_offset():
    try:
        return os.path.getsize(PG_LOG)
    except OSError:
        return 0


def wait_for_postgres(killed, timeout=90):
    """Waits until Postgres restarted every backend (crash recovery) and accepts a
    connection again; the seconds it took."""
    started = time.time()
    # (until the postmaster noticed the death, connections still succeed)
    while time.time() - started < 10:
        try:
            with psycopg.connect("", autocommit=True, connect_timeout=2) as c:
                if c.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (killed,)).fetchone()[0] == 0:
                    break
        except psycopg.OperationalError:
            break
        time.sleep(0.1)
    conn = connect(timeout)
    conn.close()
    return time.time() - started


def backend_killed_at(step, lands):
    name = f"backend kill -9 at {step}"
    i = next_id()
    session = Session(fault=f"{step}:sleep=4000")
    session.start(["BEGIN", insert("h", i), insert("d", i), insert("o", i), insert("r", i), insert("g", i), "COMMIT"])
    wait_for_commit(session)
    time.sleep(1.0)  # into the sleep of the point (the steps before it take milliseconds)
    COUNTS["faults_injected"] += 1
    KILLED_PIDS.add(session.pid)
    os.kill(session.pid, signal.SIGKILL)
    out = session.wait(10)
    check(f"{name}: the client sees its connection end", out.error is not None and not out.hung, out)
    recovery = wait_for_postgres(session.pid)
    check(f"{name}: Postgres accepts connections again after crash recovery ({recovery:.1f} s)",
          recovery < 60, recovery, "hung")
    for table in ("h", "d", "o", "r", "g"):
        if table in lands:
            LEDGERS[table].add({i: i})
    verify(name, ["h", "d", "o", "r", "g"])
    # the next session works on every source at once
    after = Session()
    i = next_id()
    out = after.run(["BEGIN", insert("h", i), insert("d", i), insert("o", i), insert("r", i), insert("g", i), "COMMIT"], 15)
    if expect_works(f"{name}: a new session's COMMIT to every source", out, "unclear_errors"):
        for table in ("h", "d", "o", "r", "g"):
            LEDGERS[table].add({i: i})
    after.close()


def backend_crashes(offset):
    """Backends that died of a signal (or exit code > 1) and were not killed here."""
    try:
        with open(PG_LOG, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError as e:
        say(f"FAIL cannot read the postgres log {PG_LOG}: {e}")
        return 1, []
    crashes = []
    for line in text.splitlines():
        m = re.search(r"\(PID (\d+)\) (was terminated by signal (\d+)|exited with exit code (\d+))", line)
        if not m:
            continue
        pid = int(m.group(1))
        if m.group(4) is not None and int(m.group(4)) <= 1:
            continue
        if pid in KILLED_PIDS and m.group(3) == "9":
            continue
        crashes.append(line.strip())
    return len(crashes), crashes


# --- the seed, as it was ----------------------------------------------------------


def graph_seed_state():
    """(users, products, purchases, oldest purchase) of the seed's graph, through ODP."""
    try:
        return tuple(ADMIN.q(
            "SELECT (SELECT count(*) FROM graph.users), (SELECT count(*) FROM graph.products), "
            "count(*), min(date) FROM graph.purchased")[0])
    except psycopg.Error as e:
        say(f"note the seed's graph cannot be read ({e}): not restored")
        return None


def restore_graph_seed(before):
    """odp.graph_sync from the oldest purchase the graph held: the same graph again."""
    if not before or not before[0]:
        return
    if graph_seed_state()[:3] == before[:3]:
        return
    ADMIN.q("SET client_min_messages = warning")
    ADMIN.q("SELECT * FROM odp.graph_sync(since => %s)", (before[3] or "infinity",))
    after = graph_seed_state()
    # (lake.transactions may have grown since the graph was synced: a note, not a failure)
    say(f"{'ok  ' if after[:3] == before[:3] else 'note'} the seed's graph made again by odp.graph_sync: "
        f"{before[:3]} -> {after[:3]}")


# --- the run -------------------------------------------------------------------------


def main():
    offset = postgres_log_offset()
    setup()
    graph_before = graph_seed_state()
    say(f"soak faults ({'fast' if FAST else f'full, {ROUNDS} rounds'}); graph seed {graph_before}")
    scenarios = []
    # the Postgres backend killed at each step of COMMIT
    scenarios += [(backend_killed_at, step, lands) for step, lands in COMMIT_STEPS]
    if FAST:
        scenarios += [
            (service_outage, "redis", "kill", ["r"]),
            (service_outage, "redis", "freeze", ["r"]),
            (service_outage, "s3", "kill", ["o", "ds3"]),
            (service_outage, "graph", "kill", ["g"]),
        ]
    else:
        for how in ("kill", "stop", "freeze"):
            scenarios += [
                (service_outage, "redis", how, ["r"]),
                (fault_at_commit, "redis", how, "r", "commit.prepare"),
                (fault_at_commit, "redis", how, "r", "commit.between_writers"),
                (redis_partly_applied, how),
                (service_outage, "s3", how, ["o", "ds3"]),
                (fault_at_commit, "s3", how, "o", "commit.between_writers", 4000),
                (service_outage, "graph", how, ["g"]),
                (fault_at_commit, "graph", how, "g", "commit.before_shared"),
            ]
        scenarios += [(fault_at_commit, "s3", "kill", "ds3", "delta.before_log_entry", 3000)]
    for round_number in range(ROUNDS):
        for scenario, *args in scenarios:
            try:
                scenario(*args)
            except Exception as e:  # a scenario that cannot even run is a failure
                say(f"FAIL {scenario.__name__}{tuple(args)}: {type(e).__name__}: {e}")
                FAILURES.append(scenario.__name__)
            finally:
                thaw_all()
    if not FAST:
        try:
            delta_s3_unbounded()
        except Exception as e:
            say(f"FAIL delta_s3_unbounded: {type(e).__name__}: {e}")
            FAILURES.append("delta_s3_unbounded")
        finally:
            thaw_all()
    restore_graph_seed(graph_before)
    crashes, lines = backend_crashes(offset)
    COUNTS["backend_crashes"] = crashes
    for line in lines:
        say(f"FAIL backend crash: {line}")
    for finding in FINDINGS:
        say(f"note {finding}")
    say("failing statement nearest its time-outs, per source: "
        + ", ".join(f"{s} {t:.2f} s of {b:g} s" for s, (t, b) in sorted(SLOWEST.items())))
    # the soak's tables go; its rows in the sources too
    try:
        clean_up()
    except Exception as e:
        say(f"(clean-up: {type(e).__name__}: {e})")
    print("RELIABILITY " + " ".join(f"{k}={v}" for k, v in COUNTS.items()), flush=True)
    bad = any(COUNTS[k] for k in COUNTS if k not in ("faults_injected", "ambiguous")) or FAILURES
    if FAILURES:
        say(f"{len(FAILURES)} checks failed: {', '.join(sorted(set(FAILURES)))[:500]}")
    return 1 if bad else 0


def delta_s3_unbounded():
    """A Delta read on S3 with the server killed and no statement_timeout: how long
    object_store's retries take to give up (delta_fdw has no time-out option)."""
    session = Session()
    expect_works("delta on S3, no statement_timeout: before", session.run(lookup("ds3"), 10), "unclear_errors")
    snapshot = s3_snapshot()
    pid = inject("s3", "kill")
    try:
        out = session.run(lookup("ds3"), BUDGET["delta_s3_unbounded"])
    finally:
        recover("s3", "kill", pid, snapshot)
    expect_clear_error("delta on S3 with the server down and no statement_timeout: a read", out, "delta_s3_unbounded",
                       BUDGET["delta_s3_unbounded"])
    say(f"note a Delta read on S3 with the server down and no statement_timeout fails after {out.seconds:.1f} s")
    expect_works("delta on S3: the next read after the restart", session.run(lookup("ds3"), 10))
    session.close()


if __name__ == "__main__":
    try:
        code = main()
    finally:
        thaw_all()
    sys.exit(code)
