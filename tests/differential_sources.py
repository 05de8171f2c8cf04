#!/usr/bin/env python3
"""Differential tests of the non-Delta sources: Redis (redis_fdw), S3 and local-directory
objects and data files (object_fdw) and the graph (neo4j_fdw) against heap tables holding
the same rows, as tests/differential.py does for Delta.

Each source creates its own data under fresh names (Redis keys `diff<tag>:...`, S3 keys
under `s3://odp-objects/diff_<tag>[_files]/`, a directory `$ODP_DATA/diff-objects-<tag>`,
graph labels `Diff...<tag>`, schemas `diff_f_<tag>` for the foreign tables and
`diff_h_<tag>` for the heap copies, servers `diff_*_<tag>`), written partly through ODP
and partly as another client would (redis-py with other valid spellings such as `yes`,
`inf`, `+05:00` offsets and leading zeros; boto3; files; odp.cypher), and drops all of it
at the end:
- redis: hashes under a one-column key template with a suffix (every codec type but
  numeric; a column reading a hash field of another name), a four-column template
  (text, bigint, boolean, date keys), a narrower table over the same hashes, strings,
  sorted sets and sets; key values with glob characters, `:`, unicode, empty strings;
- objects: S3 objects under a prefix (keys such as `data/a`, `data/a-b`, `data/a/1.txt`
  that list around each other, unicode, `%2F`, `+`, spaces; content types and metadata),
  a second table over a narrower prefix, and a local-directory table;
- files: Parquet files (several row groups, sorted and dictionary-encoded columns, a
  file lacking columns, int64 for an integer column, millisecond timestamps, an all-NULL
  row group, NaN and -0), JSON lines and CSV files with differing headers;
- graph: two node tables (text and bigint keys) and a relationship table between them,
  and a label holding mistyped properties.

It runs generated queries on both copies and compares the rows as multisets of their
text (so -0, NaN, float digits and timestamp precision count), or as sequences under a
total ORDER BY:
- random WHERE clauses: `=`, `<>`, `<`, `<=`, `>`, `>=`, `IN`, `NOT IN`, `= ANY`,
  `<> ALL`, `LIKE`/`NOT LIKE`/`ILIKE` prefixes (with `%`, `_`, escapes), `IS [NOT] NULL`,
  `BETWEEN`, boolean columns and `IS TRUE`..., combined with AND/OR/NOT, on every column
  type the table has, with constants of the other numeric/float type, NULLs, unicode,
  empty strings, big integers and float specials;
- LIMIT/OFFSET with and without ORDER BY (without: the rows must be a sub-multiset of
  the heap's, of the right count), DISTINCT, aggregates (count/sum/avg/min/max,
  bool_and/or, GROUP BY);
- joins foreign-foreign (within a source and across sources), foreign-heap and
  heap-foreign, under the default plan or forced nested loops (`enable_hashjoin` and
  `enable_mergejoin` off: parameterized and batched lookups, `odp.lookup_batch_size` 1,
  2, 7 or 1000), semi-joins, EXISTS, LATERAL, joins on expressions (`key = 'data/' || x`);
- key lookups with bound parameters under `plan_cache_mode = force_generic_plan`, and
  lookups of more keys than one round trip reads;
- writes: INSERT/UPDATE/DELETE with random WHERE clauses, key-moving UPDATEs,
  transactions with SAVEPOINT/ROLLBACK, applied to the foreign table and, with the
  store's documented semantics, to the heap copy (a Redis INSERT overwrites the declared
  fields: `ON CONFLICT DO UPDATE`; a set ignores duplicates; a graph INSERT merges on the
  key, a node table with `detach` deletes its relationships: `ON DELETE CASCADE`; object
  sizes follow the content...). Both outcomes (error or not, row counts) are compared,
  then the whole contents;
- mistyped graph properties (docs/graph.md: a full read reports them, a pushed qual may
  skip them unread): a query that works with `odp.graph_pushdown = off` must give the
  same rows with it on; one that fails without may give, with pushdown, rows between
  those of the nodes whose referenced properties are well typed and those with the
  mistyped values read as NULL.

Not compared, by design (documented refusals and semantics):
- reading a Redis, object or graph table after writing it in the same transaction
  (`0A000`): the transactions here read first;
- Redis has no numeric encoding (refused, `42804`); an INSERT or UPDATE leaving a hash
  row with every declared field NULL is refused (`23502`; a narrower table counts its own
  fields): the heap decides, with RETURNING, whether a written row would be such a row,
  and the refusal must happen exactly then; NULL string values, set members, zset
  members and scores are refused (`23502`), a NaN score `22023` (accepted as refusals,
  the heap statement then skipped); a string row UPDATEd to NULL is deleted (mirrored on
  the heap); Redis keeps no -0 zset score (mirrored); list and stream tables are not
  covered;
- a local object root keeps no content type other than the one the key's extension
  gives (a rename to another extension is refused, `0A000`) and no metadata;
- object writes compare key, size, content type, metadata and content (etag and
  last_modified are the store's); inserting an existing key is `23505` on both sides;
- graph relationships cannot move to other end nodes (`0A000`); nodes with
  relationships are not deleted without `detach` (the heap's foreign key refuses too);
- data-file tables are read-only; CSV text has no empty strings (arrow reads an empty
  field as NULL); Parquet numerics are declared with their precision and scale;
- float NaN, infinities, -0 and whole floats past 2^63 (1e308) do not travel as JSON
  parameters of odp.cypher: such graph values are written through the FDW only.

Environment: ODP_DIFF_SEED (default: random, printed), ODP_DIFF_SOURCE_QUERIES (reads
per source, default 150; writes are a quarter of it, cross-source joins a third),
ODP_DIFF_SOURCES (comma list of redis, objects, files, graph, cross; default all),
ODP_DIFF_ALL_TRIGGERS=1 (generate the triggers of KNOWN_BUGS too, to check a fix),
ODP_DIFF_SLOW=seconds (print slower reads). Output: one `DIFFERENTIAL source=...` line
per source; each failing query is printed with the rows only one side has. Exit status
1 on any failure.

KNOWN_BUGS below lists ODP bugs this test found that are not fixed yet: while an entry
is there, the generator leaves out the data or statement that triggers it (each use is
marked `known("name")`). Remove the entry once the bug is fixed, so the test covers it.
"""
import collections
import datetime
import decimal
import io
import json
import math
import os
import random
import re
import sys
import time
import traceback

import psycopg

SEED = int(os.environ.get("ODP_DIFF_SEED") or random.SystemRandom().randrange(1 << 31))
N_QUERIES = int(os.environ.get("ODP_DIFF_SOURCE_QUERIES", "150"))
SOURCES = [s.strip() for s in os.environ.get("ODP_DIFF_SOURCES", "redis,objects,files,graph,cross").split(",") if s.strip()]
TAG = f"{os.getpid()}{random.SystemRandom().randrange(1 << 16):04x}"
F = f"diff_f_{TAG}"   # schema of the foreign tables
H = f"diff_h_{TAG}"   # schema of the heap copies

# KNOWN_BUGS: name -> description. While listed, the generator leaves the trigger out
# (guard it with `if not known("name")`). Found by this test and fixed since: an object
# scan ending at a round of objects that all failed the size/time hints; a Redis direct
# DELETE of absent set/zset keys failing; a hash UPDATE leaving every field NULL deleting
# the row; Redis timestamps past microseconds truncated, not rounded; odp.cypher refusing
# whole floats (3.0) in JSON parameters.
KNOWN_BUGS = {}


# ODP_DIFF_ALL_TRIGGERS=1 generates the known bugs' triggers too (to check a fix)
if os.environ.get("ODP_DIFF_ALL_TRIGGERS") == "1":
    KNOWN_BUGS = {}


def known(name):
    """Whether a known bug's trigger must be left out (see KNOWN_BUGS)."""
    return name in KNOWN_BUGS



def fill(sql, schema):
    """A statement for one side: {s} is the side's schema, {h} the heap schema (not
    str.format: literals hold braces)."""
    return sql.replace("{s}", schema).replace("{h}", H)


def quote(v):
    return "'" + str(v).replace("'", "''") + "'"


def bytea_lit(b):
    return "'\\x" + b.hex() + "'::bytea"


# ---------------------------------------------------------------------------------
# connection
# ---------------------------------------------------------------------------------

class Db:
    """One autocommit connection; waits for Postgres when it is down (the extension may
    be reinstalled meanwhile) and retries a read once after the connection broke."""

    def __init__(self):
        self.conn = None
        self.connect()

    def connect(self, wait=600):
        deadline = time.time() + wait
        while True:
            try:
                self.conn = psycopg.connect(host="127.0.0.1", port=os.environ["ODP_PG_PORT"], user="postgres",
                                            dbname="odp", autocommit=True)
                self.conn.execute("SET client_min_messages = warning")
                return
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(2)

    def alive(self):
        return self.conn is not None and not self.conn.closed and not self.conn.broken

    def execute(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def rows(self, sql, params=None):
        cur = self.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def one(self, sql, params=None):
        return self.rows(sql, params)[0][0]

    def read_text(self, sql, settings=(), params=None, retry=True):
        """Rows of `sql` as their text, in the order returned, under SET LOCAL settings."""
        try:
            with self.conn.transaction():
                cur = self.conn.cursor()
                for s in settings:
                    cur.execute(s)
                cur.execute(f"SELECT diff_row_::text FROM ({sql}) diff_row_", params)
                return [r[0] for r in cur.fetchall()]
        except (psycopg.OperationalError, psycopg.InterfaceError):
            if self.alive() or not retry:
                raise
            print("  (connection lost: waiting for Postgres)", flush=True)
            self.connect()
            return self.read_text(sql, settings, params, retry=False)

    def statements(self, statements):
        """Runs statements in order; returns (None, rowcounts) or (error, rowcounts so far).
        An open transaction is rolled back after an error."""
        counts = []
        cur = self.conn.cursor()
        try:
            for s in statements:
                cur.execute(s)
                counts.append(cur.rowcount)
            return None, counts
        except psycopg.Error as e:
            if not self.alive():
                self.connect()
            else:
                try:
                    self.conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass
            return e, counts


# ---------------------------------------------------------------------------------
# columns, literals and predicates
# ---------------------------------------------------------------------------------

class Col:
    """A column: SQL type, kind (how literals and predicates are made), sample values."""

    def __init__(self, name, sqltype, kind, pool, key=False):
        self.name, self.sqltype, self.kind, self.pool, self.key = name, sqltype, kind, list(pool), key

    def lit(self, v, rng=None):
        k = self.kind
        if v is None:
            return f"NULL::{self.sqltype}"
        if k == "text":
            return quote(v) if rng is None or rng.random() < 0.8 else f"{quote(v)}::text"
        if k == "int":
            s = str(v)
            if rng is not None and rng.random() < 0.2:
                return f"({s})::{self.sqltype}" if self.sqltype != "smallint" or -32768 <= v <= 32767 else s
            return f"({s})" if v < 0 else s
        if k in ("float8", "float4"):
            t = "float8" if k == "float8" else "real"
            if isinstance(v, str):
                text = v
            elif math.isnan(v):
                text = "NaN"
            elif math.isinf(v):
                text = "Infinity" if v > 0 else "-Infinity"
            else:
                text = repr(v)
            special = text.lower().lstrip("-+") in ("nan", "infinity", "inf") or text.startswith("-0")
            r = rng.random() if rng is not None else 0
            if special or r < 0.3:
                return f"{quote(text)}::{t}"
            if r < 0.5:
                return quote(text)          # unknown: the column's type
            if r < 0.7 and (t == "real" or fits_real(text)):
                return f"{quote(text)}::{'real' if t == 'float8' else 'float8'}"   # the other float type
            return f"({text})"               # numeric literal
        if k == "bool":
            return "true" if v else "false"
        if k in ("date", "timestamptz", "timestamp"):
            return f"{quote(v)}::{self.sqltype}" if rng is None or rng.random() < 0.6 else quote(v)
        if k == "numeric":
            return f"{v}::numeric" if rng is None or rng.random() < 0.5 else str(v)
        if k == "textarr":
            if not v:
                return "'{}'::text[]"
            return "ARRAY[" + ", ".join("NULL" if x is None else quote(x) for x in v) + "]::text[]"
        if k == "jsonb":
            return f"{quote(v)}::jsonb"
        if k == "bytea":
            return bytea_lit(v)
        raise ValueError(k)


def fits_real(text):
    f = float(text)
    return f == 0 or 1.2e-38 <= abs(f) <= 3.4e38


ORDERED = ("text", "int", "float8", "float4", "bool", "date", "timestamptz", "timestamp", "numeric")


def like_prefix(rng, value):
    """A LIKE pattern from a value: a prefix of it with `%`, sometimes `_` or escapes."""
    s = value or ""
    n = rng.randint(0, len(s)) if rng.random() < 0.5 else rng.randint(0, min(len(s), 6))
    p = s[:n]
    r = rng.random()
    esc = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if r < 0.55:
        return esc + "%"
    if r < 0.7:
        return p + "%"                         # unescaped: its % and _ are wildcards
    if r < 0.8:
        return esc + "_%"
    if r < 0.9:
        return esc + "%" + rng.choice(["a", "1", "", "/", "."])
    return rng.choice(["%", "%%", "_", "", "%a%", "_b%", "\\%"])


def sample(rng, col, null_p=0.05):
    if rng.random() < null_p:
        return None
    return rng.choice(col.pool)


def atom(rng, col, alias=""):
    """One predicate on a column."""
    c = (alias + "." if alias else "") + col.name
    k = col.kind
    v = lambda: sample(rng, col)  # noqa: E731
    lit = lambda x: col.lit(x, rng)  # noqa: E731
    r = rng.random()
    if r < 0.07:
        return f"{c} IS {rng.choice(['', 'NOT '])}NULL"
    if k in ORDERED:
        choices = ["cmp", "cmp", "cmp", "in", "any", "between", "notin", "commuted"]
        if k == "text":
            choices += ["like", "like", "like", "notlike", "ilike"]
        if k == "bool":
            choices += ["bare", "bare", "is"]
        what = rng.choice(choices)
        if what == "cmp":
            return f"{c} {rng.choice(['=', '=', '<>', '<', '<=', '>', '>='])} {lit(v())}"
        if what == "commuted":
            return f"{lit(v())} {rng.choice(['=', '<', '<=', '>', '>='])} {c}"
        if what == "in":
            vals = [lit(v()) for _ in range(rng.randint(1, 4))]
            return f"{c} IN ({', '.join(vals)})"
        if what == "notin":
            vals = [lit(sample(rng, col, 0.02)) for _ in range(rng.randint(1, 3))]
            return f"{c} NOT IN ({', '.join(vals)})"
        if what == "any":
            vals = [lit(v()) for _ in range(rng.randint(0, 4))]
            arr = f"ARRAY[{', '.join(vals)}]::{col.sqltype}[]" if vals else f"'{{}}'::{col.sqltype}[]"
            return f"{c} {rng.choice(['= ANY', '= ANY', '<> ALL'])}({arr})"
        if what == "between":
            a, b = v(), v()
            return f"{c} {rng.choice(['', '', 'NOT '])}BETWEEN {lit(a)} AND {lit(b)}"
        if what == "like":
            return f"{c} LIKE {quote(like_prefix(rng, v()))}"
        if what == "notlike":
            return f"{c} NOT LIKE {quote(like_prefix(rng, v()))}"
        if what == "ilike":
            return f"{c} ILIKE {quote(like_prefix(rng, v()))}"
        if what == "bare":
            return rng.choice([c, f"NOT {c}"])
        if what == "is":
            return f"{c} IS {rng.choice(['', 'NOT '])}{rng.choice(['TRUE', 'FALSE', 'UNKNOWN'])}"
    if k == "textarr":
        x = v()
        return rng.choice([
            f"{c} = {lit(x)}", f"{c} <> {lit(x)}",
            f"{quote(rng.choice((x or ['a']) + [None]) or 'a')} = ANY({c})",
            f"cardinality({c}) {rng.choice(['=', '>', '<'])} {rng.randint(0, 2)}",
            f"{c} @> {lit([y for y in (x or []) if y is not None][:1])}",
        ])
    if k == "jsonb":
        x = v()
        return rng.choice([
            f"{c} = {lit(x)}", f"{c} ->> 'a' = {quote(rng.choice(['1', 'x', 'y', '']))}",
            f"{c} ? 'a'", f"jsonb_typeof({c}) = {quote(rng.choice(['object', 'array', 'null', 'number', 'string']))}",
        ])
    if k == "bytea":
        x = v()
        pattern = bytea_lit((x or b"")[:2].replace(b"\\", b"") + b"%")
        return rng.choice([f"{c} = {lit(x)}", f"length({c}) {rng.choice(['<', '>', '='])} {rng.randint(0, 64)}",
                           f"{c} LIKE {pattern}"])
    raise ValueError(k)


def term(rng, cols, alias="", depth=0):
    """A predicate: an atom, or AND/OR/NOT of terms."""
    r = rng.random()
    if depth >= 2 or r < 0.6:
        col = pick_col(rng, cols)
        return atom(rng, col, alias)
    if r < 0.8:
        return f"({term(rng, cols, alias, depth + 1)} OR {term(rng, cols, alias, depth + 1)})"
    if r < 0.9:
        return f"NOT ({term(rng, cols, alias, depth + 1)})"
    return f"({term(rng, cols, alias, depth + 1)} AND {term(rng, cols, alias, depth + 1)})"


def pick_col(rng, cols):
    keys = [c for c in cols if c.key]
    if keys and rng.random() < 0.4:
        return rng.choice(keys)
    return rng.choice(cols)


def narrow_where(rng, cols):
    """A WHERE for DELETEs: an atom on a key column or two conditions, so that a DELETE
    rarely empties a table."""
    keys = [c for c in cols if c.key]
    if keys and rng.random() < 0.4:
        return atom(rng, rng.choice(keys))
    return f"{where(rng, cols, '', 1)} AND {where(rng, cols, '', 1)}"


def where(rng, cols, alias="", max_terms=3):
    n = rng.choice([1, 1, 1, 2, 2, 3][: max(1, max_terms * 2)])
    return " AND ".join(term(rng, cols, alias) for _ in range(n))


# ---------------------------------------------------------------------------------
# queries and comparison
# ---------------------------------------------------------------------------------

class Query:
    """A read: `sql` with {s} for the side's schema and {h} for the heap schema.
    mode: 'multiset', 'ordered', or 'subset' (the foreign rows must be a sub-multiset of
    the heap rows of `subset_of`, `expect` of them)."""

    def __init__(self, sql, mode="multiset", settings=(), params=None, subset_of=None, expect=None,
                 pushdown_check=False):
        self.sql, self.mode, self.settings, self.params = sql, mode, list(settings), params
        self.subset_of, self.expect, self.pushdown_check = subset_of, expect, pushdown_check

    def text(self, schema):
        return fill(self.sql, schema)


class Table:
    def __init__(self, name, cols, order, writable=True):
        self.name, self.cols, self.order, self.writable = name, cols, order, writable

    def col(self, name):
        return next(c for c in self.cols if c.name == name)

    def select_list(self, rng, alias=""):
        a = alias + "." if alias else ""
        if rng.random() < 0.4:
            return f"{alias}.*" if alias else "*"
        cols = rng.sample(self.cols, rng.randint(1, len(self.cols)))
        return ", ".join(a + c.name for c in cols)


class Report:
    def __init__(self, source):
        self.source = source
        self.queries = 0
        self.rows = 0          # rows the foreign side returned, over all reads
        self.empty = 0         # reads returning no row on either side
        self.writes = 0
        self.refused = collections.Counter()
        self.failures = 0
        self.seconds = 0.0

    def timed(self, f, *args):
        started = time.time()
        try:
            return f(*args)
        finally:
            self.seconds += time.time() - started

    def fail(self, statement, detail):
        self.failures += 1
        print(f"DIFF [{self.source}] {statement}\n{detail}", flush=True)

    def line(self):
        refused = sum(self.refused.values())
        return (f"DIFFERENTIAL source={self.source} queries={self.queries} writes={self.writes} "
                f"failures={self.failures} rows={self.rows} empty_reads={self.empty} refused_writes={refused} "
                f"seconds={self.seconds:.1f}")


def show(rows, limit=8):
    out = [f"      {r}" for r in rows[:limit]]
    if len(rows) > limit:
        out.append(f"      ... {len(rows) - limit} more")
    return "\n".join(out)


def multiset_diff(a, b):
    ca, cb = collections.Counter(a), collections.Counter(b)
    key = lambda r: (r is None, r or "")  # noqa: E731
    return sorted((ca - cb).elements(), key=key), sorted((cb - ca).elements(), key=key)


SLOW = float(os.environ.get("ODP_DIFF_SLOW", "0"))


# a store that cannot be reached, or the test's tables dropped behind its back (the
# extension re-created): the rest of the source's statements are skipped
UNREACHABLE = {"HV00N", "08006", "08001", "08000", "42P01"}


class Unreachable(Exception):
    pass


def check_reachable(e):
    if getattr(e, "sqlstate", None) in UNREACHABLE or "NoSuchBucket" in str(e):
        raise Unreachable(f"{getattr(e, 'sqlstate', '')}: {str(e).strip().splitlines()[0]}")


def run_read(db, report, q):
    started = time.time()
    try:
        run_read_inner(db, report, q)
    finally:
        if SLOW and time.time() - started > SLOW:
            print(f"  slow ({time.time() - started:.2f}s): {q.text(F)[:200]} {q.settings}")


def run_read_inner(db, report, q):
    report.queries += 1
    fsql, hsql = q.text(F), q.text(H)
    label = f"{fsql}" + (f"  [settings: {'; '.join(q.settings)}]" if q.settings else "") + \
        (f"  [params: {q.params}]" if q.params is not None else "")
    if q.pushdown_check:
        return run_pushdown_check(db, report, q, fsql, label.split("  [params")[0])
    try:
        frows = db.read_text(fsql, q.settings, q.params)
    except psycopg.Error as e:
        check_reachable(e)
        try:
            db.read_text(hsql, q.settings, q.params)
            report.fail(label, f"  fdw error {e.sqlstate}: {str(e).strip()}\n  heap: no error")
        except psycopg.Error as e2:
            report.fail(label, f"  both sides fail (generator bug?): fdw {e.sqlstate} {str(e).strip()} / "
                               f"heap {e2.sqlstate} {str(e2).strip()}")
        return
    try:
        if q.mode == "subset":
            hrows = db.read_text(fill(q.subset_of, H), q.settings)
        else:
            hrows = db.read_text(hsql, q.settings, q.params)
    except psycopg.Error as e:
        report.fail(label, f"  heap error (generator bug?) {e.sqlstate}: {str(e).strip()}")
        return
    report.rows += len(frows)
    if not frows and not hrows:
        report.empty += 1
    if q.mode == "subset":
        only_f, _ = multiset_diff(frows, hrows)
        want = min(q.expect[0], max(0, len(hrows) - q.expect[1])) if q.expect else None
        if only_f or (want is not None and len(frows) != want):
            report.fail(label, f"  {len(frows)} rows, expected {want} rows from the heap's {len(hrows)}\n"
                               f"    rows the heap does not have:\n{show(only_f)}")
        return
    if q.mode == "ordered":
        if frows != hrows:
            only_f, only_h = multiset_diff(frows, hrows)
            first = next((i for i, (x, y) in enumerate(zip(frows, hrows)) if x != y), min(len(frows), len(hrows)))
            report.fail(label, f"  ordered rows differ (fdw {len(frows)}, heap {len(hrows)}, first difference at "
                               f"row {first})\n    only in fdw:\n{show(only_f)}\n    only in heap:\n{show(only_h)}")
        return
    only_f, only_h = multiset_diff(frows, hrows)
    if only_f or only_h:
        report.fail(label, f"  fdw {len(frows)} rows, heap {len(hrows)} rows\n    only in fdw:\n{show(only_f)}\n"
                           f"    only in heap:\n{show(only_h)}")


def run_pushdown_check(db, report, q, fsql, label):
    """Mistyped graph properties (docs/graph.md): with odp.graph_pushdown off every
    needed value is read, so a mistyped one is an error (42804); a pushed qual may skip
    the node unread. So: when the query works without pushdown, it must give the same
    rows with it; when it fails without, it may fail with pushdown too, or give rows
    that lie between those of the nodes whose referenced properties are all well typed
    (`dirty` lists a node's mistyped ones) and those with the mistyped values read as
    NULL (the heap copy)."""
    outcomes = []
    for setting in ("on", "off"):
        try:
            outcomes.append(("rows", sorted(db.read_text(fsql, [f"SET LOCAL odp.graph_pushdown = {setting}"]),
                                            key=lambda r: (r is None, r or ""))))
        except psycopg.Error as e:
            outcomes.append(("error", e.sqlstate, str(e).strip().splitlines()[0]))
    on, off = outcomes

    def desc(o):
        return f"error {o[1]}: {o[2]}" if o[0] == "error" else f"{len(o[1])} rows {o[1][:6]}"
    if off[0] == "rows":
        if on != off:
            report.fail(label, f"  pushdown on: {desc(on)}\n  pushdown off: {desc(off)}")
        return
    if on[0] == "error":
        return
    sel, w, referenced = q.params
    upper = db.read_text(f"SELECT {sel} FROM {H}.gd WHERE {w}")
    lower = db.read_text(f"SELECT {sel} FROM {H}.gd WHERE ({w}) AND NOT (dirty && {quote('{' + ','.join(referenced) + '}')}::text[])")
    extra, _ = multiset_diff(on[1], upper)
    missing, _ = multiset_diff(lower, on[1])
    if extra or missing:
        report.fail(label, f"  pushdown off: {desc(off)}\n  pushdown on: {desc(on)}\n"
                           f"    rows no reading of the mistyped values gives:\n{show(extra)}\n"
                           f"    rows of well-typed nodes missing:\n{show(missing)}")


class Write:
    """A write: statements for the foreign side and for the heap side ({s}/{h} as in
    Query). `refusals`: SQLSTATEs the foreign side may answer by design, the heap side
    then not run. `compare_counts`: whether row counts must agree."""

    def __init__(self, fdw, heap=None, refusals=(), compare_counts=True, empty_when=None):
        self.fdw = list(fdw) if isinstance(fdw, list) else [fdw]
        heap = self.fdw if heap is None else heap
        self.heap = list(heap) if isinstance(heap, list) else [heap]
        self.refusals, self.compare_counts = set(refusals), compare_counts
        # a Redis hash write (one heap statement): `empty_when` is the boolean expression
        # over a written row that says it would have every declared field NULL; the
        # foreign side must then refuse the statement (23502) and otherwise not
        self.empty_when = empty_when


def run_write(db, report, w, contents, refused):
    """Applies a write to both sides, then compares the outcome and the contents
    (`contents`: queries with {s} over the written tables)."""
    report.writes += 1
    fst = [fill(s, F) for s in w.fdw]
    hst = [fill(s, H) for s in w.heap]
    label = "; ".join(fst)
    fe, fc = db.statements(fst)
    if fe is not None:
        check_reachable(fe)
    if w.empty_when is not None:
        return run_checked_write(db, report, w, fst, hst, fe, fc, contents, refused)
    if fe is not None and fe.sqlstate in w.refusals:
        refused[fe.sqlstate] += 1
        he, hc = None, None
    else:
        he, hc = db.statements(hst)
        if (fe is None) != (he is None):
            detail = lambda e: "ok" if e is None else f"error {e.sqlstate}: {str(e).strip().splitlines()[0]}"  # noqa
            report.fail(label, f"  fdw: {detail(fe)}\n  heap: {detail(he)}  ({'; '.join(hst)})")
        elif fe is None and w.compare_counts and fc != hc[:len(fc)]:
            report.fail(label, f"  row counts differ: fdw {fc}, heap {hc}")
    return check_contents(db, report, label, contents)


def check_contents(db, report, label, contents):
    """Whether the written tables hold the same rows on both sides (printed if not)."""
    for c in contents:
        try:
            frows = db.read_text(fill(c, F))
            hrows = db.read_text(fill(c, H))
        except psycopg.Error as e:
            check_reachable(e)
            report.fail(f"{c} after {label}", f"  error {e.sqlstate}: {str(e).strip()}")
            return False
        only_f, only_h = multiset_diff(frows, hrows)
        if only_f or only_h:
            report.fail(f"contents {fill(c, F)} after: {label}",
                        f"    only in fdw:\n{show(only_f)}\n    only in heap:\n{show(only_h)}")
            # resynchronise the heap from the foreign side so later writes stay meaningful
            return False
    return True


def run_checked_write(db, report, w, fst, hst, fe, fc, contents, refused):
    """A Redis hash write whose refusal the heap decides: the heap statement runs with
    RETURNING the `empty_when` flag of each written row; when one is true the heap rolls
    back and the foreign side must have refused with 23502, else both must succeed."""
    label = "; ".join(fst)
    (statement,) = hst
    try:
        with db.conn.transaction():
            cur = db.conn.cursor()
            cur.execute(f"{statement} RETURNING ({w.empty_when})")
            flags = [r[0] for r in cur.fetchall()]
            if any(flags):
                raise psycopg.Rollback()
    except psycopg.Error as e:
        detail = "ok" if fe is None else f"error {fe.sqlstate}: {str(fe).strip().splitlines()[0]}"
        if fe is None:
            report.fail(label, f"  fdw: {detail}\n  heap: error {e.sqlstate}: {str(e).strip().splitlines()[0]}")
        return check_contents(db, report, label, contents)
    if any(flags):
        if fe is None or fe.sqlstate != "23502":
            got = "ok" if fe is None else f"error {fe.sqlstate}: {str(fe).strip().splitlines()[0]}"
            report.fail(label, f"  a written row has every declared field NULL: expected a refusal (23502), got {got}")
        else:
            refused[fe.sqlstate] += 1
    elif fe is not None:
        report.fail(label, f"  fdw: error {fe.sqlstate}: {str(fe).strip().splitlines()[0]}\n  heap: ok ({statement})")
    elif w.compare_counts and fc[-1:] != [len(flags)]:
        report.fail(label, f"  row counts differ: fdw {fc}, heap {len(flags)}")
    return check_contents(db, report, label, contents)


def resync(db, table_names, cols_of):
    """After a difference in writes: make the heap copies equal to the foreign tables
    (deleted in reverse order, for the heap's foreign keys), so that one difference does
    not fail every later write."""
    for t in reversed(table_names):
        db.execute(f"DELETE FROM {H}.{t}")
    for t in table_names:
        cols = cols_of[t]
        db.execute(f"INSERT INTO {H}.{t} ({cols}) SELECT {cols} FROM {F}.{t}")


# ---------------------------------------------------------------------------------
# generic read queries over a set of tables
# ---------------------------------------------------------------------------------

JOIN_SETTINGS = [
    [],
    ["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"],
    ["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off", "SET LOCAL enable_memoize = off",
     "SET LOCAL enable_material = off"],
    ["SET LOCAL enable_nestloop = off"],
]


def join_settings(rng):
    s = list(rng.choice(JOIN_SETTINGS))
    if rng.random() < 0.6:
        s.append(f"SET LOCAL odp.lookup_batch_size = {rng.choice([1, 2, 7, 1000])}")
    return s


def unsigned_zero(c):
    return f"({c.name} + '0')" if c.kind in ("float8", "float4") else c.name


def agg_query(rng, t, alias="t"):
    cols = [c for c in t.cols if c.kind in ORDERED]
    ints = [c for c in t.cols if c.kind == "int"]
    parts = ["count(*)"]
    for _ in range(rng.randint(1, 3)):
        c = rng.choice(cols)
        if c.kind == "bool":
            parts.append(f"bool_or({c.name}), bool_and({c.name})")
        else:
            # (-0 and 0 are equal: which one min/max/DISTINCT keep depends on row order)
            parts.append(f"{rng.choice(['min', 'max'])}({unsigned_zero(c)}), count({c.name})")
    if ints:
        c = rng.choice(ints)
        parts.append(f"sum({c.name}), avg({c.name})")
    w = f" WHERE {where(rng, t.cols)}" if rng.random() < 0.7 else ""
    if rng.random() < 0.5:
        g = rng.choice([c for c in cols if c.kind in ("text", "bool", "int", "date")] or cols)
        return Query(f"SELECT {g.name}, {', '.join(parts)} FROM {{s}}.{t.name}{w} GROUP BY {g.name}")
    return Query(f"SELECT {', '.join(parts)} FROM {{s}}.{t.name}{w}")


def table_queries(rng, t, probes):
    """Generators of queries over one table. probes: {column name: heap probe table}."""
    order = ", ".join(t.order)
    gens = [
        (6, lambda: Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} WHERE {where(rng, t.cols)}")),
        (1, lambda: Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name}")),
        (2, lambda: Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} WHERE {where(rng, t.cols)} "
                          f"ORDER BY {order} LIMIT {rng.randint(0, 30)} OFFSET {rng.randint(0, 20)}", "ordered")),
        (1, lambda: Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} ORDER BY {order} "
                          f"LIMIT {rng.randint(1, 40)}", "ordered")),
        (2, lambda: agg_query(rng, t)),
        (1, lambda: (lambda c: Query(f"SELECT DISTINCT {unsigned_zero(c)} FROM {{s}}.{t.name} WHERE {where(rng, t.cols)}"))(
            rng.choice(t.cols))),
    ]

    def limit_only():
        n, m = rng.randint(0, 40), rng.choice([0, 0, rng.randint(0, 30)])
        cols = t.select_list(rng)
        off = f" OFFSET {m}" if m else ""
        return Query(f"SELECT {cols} FROM {{s}}.{t.name} LIMIT {n}{off}", "subset",
                     subset_of=f"SELECT {cols} FROM {{s}}.{t.name}", expect=(n, m))

    def limit_where():
        n = rng.randint(0, 20)
        cols, w = t.select_list(rng), where(rng, t.cols)
        return Query(f"SELECT {cols} FROM {{s}}.{t.name} WHERE {w} LIMIT {n}", "subset",
                     subset_of=f"SELECT {cols} FROM {{s}}.{t.name} WHERE {w}", expect=(n, 0))

    gens += [(2, limit_only), (1, limit_where)]
    for colname, probe in probes.items():
        col = t.col(colname)

        def probe_join(col=col, probe=probe):
            kind = rng.choice(["JOIN", "JOIN", "LEFT JOIN"])
            extra = f" AND {atom(rng, rng.choice(t.cols), 't')}" if rng.random() < 0.3 else ""
            w = f" WHERE {where(rng, t.cols, 't')}" if rng.random() < 0.3 else ""
            return Query(f"SELECT p.k, {t.select_list(rng, 't')} FROM {{h}}.{probe} p {kind} {{s}}.{t.name} t "
                         f"ON t.{col.name} = p.k{extra}{w}", settings=join_settings(rng))

        def probe_semi(col=col, probe=probe):
            r = rng.random()
            if r < 0.4:
                return Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} WHERE {col.name} IN "
                             f"(SELECT k FROM {{h}}.{probe} WHERE k IS NOT NULL)", settings=join_settings(rng))
            if r < 0.7:
                return Query(f"SELECT p.k FROM {{h}}.{probe} p WHERE {rng.choice(['', 'NOT '])}EXISTS (SELECT 1 FROM "
                             f"{{s}}.{t.name} t WHERE t.{col.name} = p.k AND {where(rng, t.cols, 't', 1)})",
                             settings=join_settings(rng))
            return Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} WHERE {col.name} = ANY(ARRAY(SELECT k FROM "
                         f"{{h}}.{probe} ORDER BY k LIMIT {rng.randint(0, 8)}))")

        def lateral(col=col, probe=probe):
            return Query(f"SELECT p.k, x.* FROM {{h}}.{probe} p, LATERAL (SELECT {t.select_list(rng)} FROM {{s}}.{t.name} t "
                         f"WHERE t.{col.name} = p.k ORDER BY {', '.join('t.' + o for o in t.order)} LIMIT 2) x",
                         settings=join_settings(rng))

        def self_join(col=col):
            return Query(f"SELECT a.{t.order[0]}, b.{t.order[0]} FROM {{s}}.{t.name} a JOIN {{s}}.{t.name} b "
                         f"ON a.{col.name} = b.{col.name} WHERE {where(rng, t.cols, 'a', 1)}",
                         settings=join_settings(rng))

        def prepared(col=col, probe=probe):
            # a bound parameter: generic plans look up keys at run time
            if rng.random() < 0.5:
                value = sample(rng, col, 0.05)
                return Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} WHERE {col.name} = %s::{col.sqltype}",
                             settings=["SET LOCAL plan_cache_mode = force_generic_plan"], params=[value])
            values = [sample(rng, col, 0.05) for _ in range(rng.randint(0, 4))]
            return Query(f"SELECT {t.select_list(rng)} FROM {{s}}.{t.name} WHERE {col.name} = ANY(%s::{col.sqltype}[])",
                         settings=["SET LOCAL plan_cache_mode = force_generic_plan"], params=[values])

        gens += [(3, probe_join), (2, probe_semi), (1, lateral), (1, self_join)]
        if col.kind in ("text", "int"):
            gens.append((1, prepared))
    return gens


def weighted(rng, gens):
    total = sum(w for w, _ in gens)
    x = rng.uniform(0, total)
    for w, g in gens:
        x -= w
        if x <= 0:
            return g
    return gens[-1][1]


def make_probe(db, name, sqltype, values):
    db.execute(f"CREATE TABLE {H}.{name} (k {sqltype})")
    with db.conn.cursor() as cur:
        with cur.copy(f"COPY {H}.{name} (k) FROM STDIN") as copy:
            for v in values:
                copy.write_row([v])
    db.execute(f"ANALYZE {H}.{name}")


# ---------------------------------------------------------------------------------
# value pools
# ---------------------------------------------------------------------------------

TEXTS = ["", "a", "A", "ab", "abc", "b", "é", "e\u0301", "ß", "straße", "日本語", "🙂", "a b", "a%b", "a_b", "a\\b",
         "o'hara", "x*y", "[z]", "q?", "colon:sep", "line\nbreak", "NULL", " lead", "trail ", "Z", "z", "~", ":f", "x:f"]
INT2S = [0, 1, -1, 7, 32767, -32768, 255, -16]
INT4S = [0, 1, -1, 2, 3, 7, 42, -16, -17, 2147483647, -2147483648, 100, 255, 256]
INT8S = [0, 1, -1, 7, 9007199254740992, 9007199254740993, -9007199254740993, 9223372036854775807,
         -9223372036854775808, 4294967296, 123456789012, -16]
FLOAT8S = [0.0, -0.0, 1.5, -2.5, 0.1, 0.30000000000000004, 1e308, -1e308, 5e-324, 2.2250738585072014e-308, 1e-10, 100.0,
           float("nan"), float("inf"), float("-inf"), 3.0, 9007199254740992.0, 123456.789, 7.0]
FLOAT4S = ["0", "-0", "0.1", "1.5", "3.4e+38", "1e-45", "NaN", "Infinity", "-Infinity", "16777217", "0.33333334", "-2.5",
           "100", "7"]
DATES = ["2024-01-01", "2024-02-29", "1970-01-01", "0001-01-01", "9999-12-31", "2000-01-01", "1999-12-31", "2024-12-31",
         "2023-06-15", "2024-01-02"]
TSTZS = ["2024-01-01 00:00:00+00", "2024-01-01 00:00:00.000001+00", "2024-06-30 23:59:59.999999+00",
         "1970-01-01 00:00:00+00", "1969-12-31 23:59:59.5+00", "2000-02-29 12:00:00+05:30", "0001-01-01 00:00:00+00",
         "9999-12-31 23:59:59+00", "2024-01-01 05:00:00+05"]
LTSS = ["2024-01-01 00:00:00", "2024-01-01 12:34:56.789", "1970-01-01 00:00:00", "0001-01-01 00:00:00",
        "2024-02-29 23:59:59.999999", "1999-12-31 23:59:59"]
TAGS = [[], ["a"], ["a", "b"], ["b", "a"], ["a", None], ["", "é"], ["x,y", '"q"', "{}"], ["日本"]]
JSONS = ["{}", "[]", '{"a": 1}', '{"a": "x", "b": [1, 2.50]}', '{"n": 12345678901234567890.5}', "null", '"str"', "true",
         '{"a": "y"}', '[1, "a", null]']
BOOL_SPELLINGS = {True: ["true", "t", "1", "yes", "on", "y", "TRUE", "True"],
                  False: ["false", "f", "0", "no", "off", "n", "FALSE"]}
# Redis: stored spellings another client may write, and how Postgres reads the same text
RAW_TSTZ = ["2024-01-01T00:00:00Z", "2024-01-01T05:00:00+05:00", "2024-01-01T00:00:00.000001Z",
            "2024-06-30T23:59:59.999999+00:00", "1969-12-31T23:59:59.5Z", "2024-03-10T02:30:00-08:00",
            "2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.9999995Z"]
RAW_LTS = ["2024-01-01T00:00:00", "2024-01-01 12:34:56.789", "1970-01-01T00:00:00", "2024-02-29T23:59:59.999999",
           "2024-01-01T00:00:00.0000005"]


def float_raw(rng, v):
    if math.isnan(v):
        return rng.choice(["NaN", "nan", "NAN"])
    if math.isinf(v):
        return rng.choice(["Infinity", "inf", "infinity", "INF"]) if v > 0 else rng.choice(["-Infinity", "-inf"])
    return rng.choice([repr(v), repr(v), f"{v:.17e}", f"{v:.17g}"])


def redis_client():
    import redis
    return redis.Redis(host="127.0.0.1", port=int(os.environ["ODP_REDIS_PORT"]))


class Source:
    name = ""
    tables = []       # Table objects
    probes = {}       # table name -> {column: probe table}

    def __init__(self, db, rng):
        self.db, self.rng = db, rng
        self.report = Report(self.name)
        self.refused = self.report.refused
        self.counter = 0

    def next_id(self):
        self.counter += 1
        return self.counter

    def read_generators(self):
        gens = []
        for t in self.tables:
            gens += table_queries(self.rng, t, self.probes.get(t.name, {}))
        return gens

    def avoid(self, sql):
        """Whether a generated statement would trigger a known bug (see KNOWN_BUGS)."""
        return False

    def generate(self, gens):
        for _ in range(50):
            x = weighted(self.rng, gens)()
            if x is None or not self.avoid(x.sql if isinstance(x, Query) else " ".join(x.fdw)):
                return x
        return None

    def intact(self):
        """Raises Unreachable when a table lost all its rows behind the test's back (a
        service restarted: moto keeps nothing), rather than failing every query."""
        for t in self.tables:
            try:
                f = self.db.one(f"SELECT count(*) FROM {F}.{t.name}")
            except psycopg.Error as e:
                check_reachable(e)
                continue
            if f == 0 and self.db.one(f"SELECT count(*) FROM {H}.{t.name}") > 0:
                raise Unreachable(f"{t.name} lost all its rows (was a service restarted?)")

    def reads(self, n):
        gens = self.read_generators()
        try:
            self.intact()
            for i in range(n):
                q = self.generate(gens)
                if q is not None:
                    before = self.report.failures
                    run_read(self.db, self.report, q)
                    if self.report.failures > before:
                        self.intact()
        except Unreachable as e:
            self.unreachable(e)

    def unreachable(self, e):
        self.broken = True
        self.report.fail("(a store of this source cannot be reached: its remaining statements are skipped)", f"  {e}")

    def write_generators(self):
        return []

    def contents(self):
        return [f"SELECT * FROM {{s}}.{t.name}" for t in self.tables if t.writable]

    def columns_of(self):
        return {t.name: ", ".join(c.name for c in t.cols) for t in self.tables if t.writable}

    def writes(self, n):
        gens = self.write_generators()
        if not gens:
            return
        if getattr(self, "broken", False):
            return
        try:
            self.intact()
            for _ in range(n):
                w = self.generate(gens)
                if w is None:
                    continue
                if not run_write(self.db, self.report, w, self.contents(), self.refused):
                    try:
                        resync(self.db, list(self.columns_of()), self.columns_of())
                    except psycopg.Error as e:
                        check_reachable(e)
                        raise
        except Unreachable as e:
            self.unreachable(e)

    def heap_values(self, sql):
        return [r[0] for r in self.db.rows(fill(sql, H))]


def insert_rows(db, table, cols, rows):
    """INSERT of rows of SQL literals, in chunks."""
    for i in range(0, len(rows), 200):
        chunk = rows[i:i + 200]
        db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES " +
                   ", ".join("(" + ", ".join(r) + ")" for r in chunk))


class RedisSource(Source):
    name = "redis"

    def setup(self):
        db, rng = self.db, self.rng
        port = os.environ["ODP_REDIS_PORT"]
        self.prefix = P = f"diff{TAG}"
        self.server = f"diff_redis_{TAG}"
        db.execute(f"CREATE SERVER {self.server} FOREIGN DATA WRAPPER redis_fdw OPTIONS (url 'redis://127.0.0.1:{port}')")
        r = redis_client()
        uids = ["", "a", "ab", "abc", "a*", "a?", "a[b]", "{x}", "a%", "a_", "a\\", "é", "e\u0301", "日本", "🙂", "x:f",
                ":f", "sp ace", "o'q", "A", "B", "a:b", "*"]
        for i in range(170):
            uids.append(f"{rng.choice(['u', 'u', 'v', 'ü', 'a', 'w_', 'x%'])}{i:03d}")
        self.uids = uids
        c = lambda *a, **k: Col(*a, **k)  # noqa: E731
        rh_cols = [c("uid", "text", "text", uids + ["nope", "u", "a%%", "U000"], key=True),
                   c("i2", "smallint", "int", INT2S), c("i4", "integer", "int", INT4S), c("i8", "bigint", "int", INT8S),
                   c("f4", "real", "float4", FLOAT4S), c("f8", "double precision", "float8", FLOAT8S),
                   c("b", "boolean", "bool", [True, False]), c("t", "text", "text", TEXTS),
                   c("d", "date", "date", DATES + ["10000-01-01", "0044-03-15 BC"]),
                   c("ts", "timestamptz", "timestamptz", TSTZS), c("lts", "timestamp", "timestamp", LTSS),
                   c("tags", "text[]", "textarr", TAGS), c("j", "jsonb", "jsonb", JSONS),
                   c("tf", "text", "text", TEXTS)]
        # a column reading a hash field of another name
        self.fields = fields_of = {"tf": "T f:1"}
        orgs = ["acme", "", "é", "x*", "a%", "b_c", "日本", "Acme", "a b"]
        rk_cols = [c("org", "text", "text", orgs + ["zzz", "ac"], key=True),
                   c("n", "bigint", "int", [-5, -1, 0, 1, 2, 3, 5, 9223372036854775807, -9223372036854775808, 10], key=True),
                   c("flag", "boolean", "bool", [True, False], key=True),
                   c("day", "date", "date", DATES[:6], key=True),
                   c("v", "text", "text", TEXTS), c("x", "double precision", "float8", FLOAT8S)]
        rs_cols = [c("id", "integer", "int", INT4S + list(range(-3, 40)), key=True), c("val", "text", "text", TEXTS)]
        rz_cols = [c("board", "text", "text", ["b1", "b2", "", "é", "b*", "none"], key=True),
                   c("member", "text", "text", TEXTS + ["m1", "m2"]),
                   c("score", "double precision", "float8",
                                 [f for f in FLOAT8S if not math.isnan(f) and math.copysign(1, f) > 0] + [-2.5, float("-inf")])]
        rset_cols = [c("user_id", "text", "text", ["u1", "u2", "", "ü", "u?", "none"], key=True),
                     c("tag", "text", "text", TEXTS)]
        self.tables = [Table("rh", rh_cols, ["uid"]), Table("rk", rk_cols, ["org", "n", "flag", "day"]),
                       Table("rs", rs_cols, ["id"]), Table("rz", rz_cols, ["board", "member"]),
                       Table("rset", rset_cols, ["user_id", "tag"])]
        specs = {
            "rh": (f"{P}:u:{{uid}}:f", "hash", "PRIMARY KEY (uid)"),
            "rk": (f"{P}:k:{{org}}:{{n}}:{{flag}}:{{day}}", "hash", "PRIMARY KEY (org, n, flag, day)"),
            "rs": (f"{P}:s:{{id}}", "string", "PRIMARY KEY (id)"),
            "rz": (f"{P}:z:{{board}}", "zset", "PRIMARY KEY (board, member)"),
            "rset": (f"{P}:set:{{user_id}}", "set", "PRIMARY KEY (user_id, tag)"),
        }
        for t in self.tables:
            template, kind, pk = specs[t.name]
            cols = ", ".join(f"{c.name} {c.sqltype}" for c in t.cols)
            fcols = ", ".join(f"{c.name} {c.sqltype}" + (f" OPTIONS (field {quote(fields_of[c.name])})"
                                                         if t.name == "rh" and c.name in fields_of else "")
                              for c in t.cols)
            db.execute(f"CREATE FOREIGN TABLE {F}.{t.name} ({fcols}) SERVER {self.server} "
                       f"OPTIONS (key_template {quote(template)}, kind '{kind}', scan_count '{rng.choice([7, 50, 1000])}')")
            db.execute(f"CREATE TABLE {H}.{t.name} ({cols}, {pk})")

        # rh: half through ODP, half as another client writes them (other spellings)
        odp_rows, raw = [], []
        names = [c.name for c in rh_cols]
        for uid in uids:
            vals = {}
            sparse = rng.random() < 0.1
            keep = rng.choice(names[1:])
            for col in rh_cols[1:]:
                if sparse and col.name != keep:
                    vals[col.name] = None
                elif col.name != keep and rng.random() < 0.15:
                    vals[col.name] = None
                else:
                    vals[col.name] = rng.choice(col.pool)
            if rng.random() < 0.5:
                odp_rows.append([quote(uid)] + [col.lit(vals[col.name]) for col in rh_cols[1:]])
            else:
                fields, lits = {}, [quote(uid)]
                for col in rh_cols[1:]:
                    v = vals[col.name]
                    if v is None:
                        lits.append(col.lit(None))
                        continue
                    k = col.kind
                    if k == "int":
                        s = str(v) if rng.random() < 0.8 or v < 0 else "00" + str(v)
                    elif k == "float8":
                        s = float_raw(rng, v)
                    elif k == "float4":
                        s = v
                    elif k == "bool":
                        s = rng.choice(BOOL_SPELLINGS[v])
                    elif k == "date":
                        v = rng.choice(DATES)
                        s = v
                    elif k == "timestamptz":
                        s = v = rng.choice(RAW_TSTZ)
                    elif k == "timestamp":
                        s = v = rng.choice(RAW_LTS)
                    elif k == "textarr":
                        s = json.dumps(v, ensure_ascii=rng.random() < 0.5)
                    else:
                        s = v
                    fields[col.name] = s
                    if k in ("int", "float8", "float4", "bool", "date", "timestamptz", "timestamp"):
                        lits.append(f"{quote(s)}::{col.sqltype}")
                    else:
                        lits.append(col.lit(v))
                if not fields:
                    fields["t"] = "filled"
                    lits[names.index("t")] = "'filled'"
                raw.append((f"{P}:u:{uid}:f", {fields_of.get(k, k): v for k, v in fields.items()}))
                insert_rows(db, f"{H}.rh", names, [lits])
        insert_rows(db, f"{H}.rh", names, odp_rows)
        if odp_rows:
            db.execute(f"INSERT INTO {F}.rh SELECT * FROM {H}.rh WHERE uid = ANY(%s)",
                       [[row[0][1:-1].replace("''", "'") for row in odp_rows]])
        pipe = r.pipeline(transaction=False)
        for key, fields in raw:
            pipe.hset(key, mapping={k: v.encode() for k, v in fields.items()})
        pipe.execute()

        # rk: compound keys
        rows, seen = [], set()
        for _ in range(150):
            key = (rng.choice(orgs), rng.choice(rk_cols[1].pool), rng.choice([True, False]), rng.choice(DATES[:6]))
            if key in seen:
                continue
            seen.add(key)
            v, x = rng.choice(TEXTS + [None]), rng.choice(FLOAT8S + [None])
            if v is None and x is None:
                v = "v"
            rows.append([quote(key[0]), str(key[1]), "true" if key[2] else "false", quote(key[3]),
                         rk_cols[4].lit(v), rk_cols[5].lit(x)])
        insert_rows(db, f"{H}.rk", [c.name for c in rk_cols], rows)
        db.execute(f"INSERT INTO {F}.rk SELECT * FROM {H}.rk")
        # rs: strings, some written by redis-py
        rows = []
        for i in sorted(set(rng.sample(rs_cols[0].pool, 35))):
            v = rng.choice(TEXTS)
            if rng.random() < 0.5:
                r.set(f"{P}:s:{i}", v.encode())
            else:
                db.execute(f"INSERT INTO {F}.rs VALUES ({i}, {quote(v)})")
            rows.append([str(i), quote(v)])
        insert_rows(db, f"{H}.rs", ["id", "val"], rows)
        # rz, rset: a row per member
        rows = set()
        for _ in range(60):
            board, member = rng.choice(["b1", "b2", "", "é", "b*"]), rng.choice(rz_cols[1].pool)
            if any(x[0] == board and x[1] == member for x in rows):
                continue
            rows.add((board, member, rng.choice(rz_cols[2].pool)))
        for board, member, score in rows:
            if rng.random() < 0.5:
                r.zadd(f"{P}:z:{board}", {member.encode(): score})
            else:
                db.execute(f"INSERT INTO {F}.rz VALUES ({quote(board)}, {quote(member)}, {rz_cols[2].lit(score)})")
        insert_rows(db, f"{H}.rz", ["board", "member", "score"],
                    [[quote(b), quote(m), rz_cols[2].lit(s)] for b, m, s in rows])
        rows = {(rng.choice(["u1", "u2", "", "ü", "u?"]), rng.choice(TEXTS)) for _ in range(50)}
        for u, tag in rows:
            r.sadd(f"{P}:set:{u}", tag.encode())
        insert_rows(db, f"{H}.rset", ["user_id", "tag"], [[quote(u), quote(t)] for u, t in rows])

        # a narrower table over the same hashes: rows are the keys, whichever fields they hold
        db.execute(f"CREATE FOREIGN TABLE {F}.rhn (uid text, t text, i4 integer) SERVER {self.server} "
                   f"OPTIONS (key_template {quote(specs['rh'][0])})")
        db.execute(f"CREATE VIEW {H}.rhn AS SELECT uid, t, i4 FROM {H}.rh")
        self.tables.append(Table("rhn", [rh_cols[0], rh_cols[7], rh_cols[2]], ["uid"], writable=False))
        make_probe(db, "probe_uid", "text", rng.sample(uids, 25) + ["nope", None, "a", "a", "", "u"])
        make_probe(db, "probe_org", "text", orgs + ["zzz", None, "acme"])
        make_probe(db, "probe_n", "bigint", [-5, 0, 1, 3, 9223372036854775807, 42, None, 1])
        make_probe(db, "probe_id", "integer", rng.sample(rs_cols[0].pool, 12) + [None, 99999])
        make_probe(db, "probe_board", "text", ["b1", "b2", "", "é", "b*", "none", None])
        make_probe(db, "probe_user", "text", ["u1", "u2", "", "ü", "u?", "none", None])
        self.probes = {"rh": {"uid": "probe_uid"}, "rhn": {"uid": "probe_uid"}, "rk": {"org": "probe_org", "n": "probe_n"},
                       "rs": {"id": "probe_id"}, "rz": {"board": "probe_board"}, "rset": {"user_id": "probe_user"}}
        for t in self.tables:
            db.execute(f"ANALYZE {H}.{t.name}")

    def read_generators(self):
        rng = self.rng
        gens = super().read_generators()
        rh, rk, rs, rz, rset, rhn = self.tables

        def ff(a, acol, b, bcol):
            def g():
                kind = rng.choice(["JOIN", "JOIN", "LEFT JOIN"])
                return Query(f"SELECT {a.select_list(rng, 'a')}, {b.select_list(rng, 'b')} FROM {{s}}.{a.name} a {kind} "
                             f"{{s}}.{b.name} b ON b.{bcol} = a.{acol} WHERE {where(rng, a.cols, 'a', 1)}",
                             settings=join_settings(rng))
            return (2, g)
        gens += [ff(rh, "uid", rz, "board"), ff(rz, "board", rh, "uid"), ff(rh, "uid", rset, "user_id"),
                 ff(rk, "org", rh, "uid"), ff(rh, "t", rk, "org"), ff(rh, "i8", rk, "n"), ff(rk, "n", rs, "id"),
                 ff(rs, "val", rh, "uid"), ff(rh, "i4", rs, "id")]
        # more keys than one round trip reads (1000 per batch), most of them missing
        gens.append((1, lambda: Query(
            f"SELECT {rh.select_list(rng)} FROM {{s}}.rh WHERE uid = ANY(%s::text[])",
            params=[rng.sample(self.uids, 40) + [f"miss{i}" for i in range(rng.randint(900, 2100))]])))
        # key lookups of values that are keys of other shapes, ambiguous or not canonical
        gens.append((2, lambda: Query(
            f"SELECT * FROM {{s}}.rk WHERE org = {quote(rng.choice(['ac:me', 'acme:1', '', 'é', 'acme']))} AND n "
            f"{rng.choice(['= 1', 'IN (1, 2, 3)', '= -5', 'IN (0)', '= ANY(ARRAY[3, 5])'])} AND flag = {rng.choice(['true', 'false'])}"
            f"{rng.choice(['', ' AND day = ' + quote(rng.choice(DATES[:6]))])}")))
        return gens

    def write_generators(self):
        rng = self.rng
        rh, rk, rs, rz, rset, rhn = self.tables
        value_cols = rh.cols[1:]

        def rh_values(uid):
            vals = []
            for col in value_cols:
                vals.append(col.lit(None if rng.random() < 0.25 else rng.choice(col.pool)))
            if rng.random() < 0.05:
                vals = [col.lit(None) for col in value_cols]
            return [quote(uid)] + vals

        names = ", ".join(c.name for c in rh.cols)
        upsert = f" ON CONFLICT (uid) DO UPDATE SET ({', '.join(c.name for c in value_cols)}) = " \
                 f"ROW({', '.join('EXCLUDED.' + c.name for c in value_cols)})"

        def existing(sql, k):
            vals = self.heap_values(sql)
            return rng.sample(vals, min(k, len(vals)))

        def insert():
            n = self.next_id()
            uids = [f"w{n}{rng.choice(['', '*', 'é', ':f', '%'])}{i}" for i in range(rng.randint(1, 4))]
            if rng.random() < 0.4:
                uids = uids[:1] + existing("SELECT uid FROM {s}.rh", rng.randint(1, 2))
                uids = list(dict.fromkeys(uids))
            values = ", ".join("(" + ", ".join(rh_values(u)) + ")" for u in uids)
            return Write(f"INSERT INTO {{s}}.rh ({names}) VALUES {values}",
                         f"INSERT INTO {{s}}.rh ({names}) VALUES {values}{upsert}", empty_when=all_null(value_cols))

        def assignment(col):
            r = rng.random()
            if r < 0.3:
                return f"{col.name} = NULL"
            if r < 0.7:
                return f"{col.name} = {col.lit(rng.choice(col.pool))}"
            return {"int": f"{col.name} = {col.name} - 1", "float8": f"{col.name} = {col.name} * 2",
                    "float4": f"{col.name} = -{col.name}", "bool": f"{col.name} = NOT {col.name}",
                    "text": f"{col.name} = {col.name} || 'é'", "date": f"{col.name} = {col.name} + 1",
                    "timestamptz": f"{col.name} = {col.name} + interval '90 minutes'",
                    "timestamp": f"{col.name} = {col.name} - interval '1 day'",
                    "textarr": f"{col.name} = array_append({col.name}, 'z')",
                    "jsonb": f"{col.name} = {col.name} || '{{\"w\": 1}}'"}[col.kind]

        def all_null(cols):
            return " AND ".join(f"{c.name} IS NULL" for c in cols)

        def hash_update(table, sets, w, value_cols):
            # (an UPDATE leaving every field NULL is refused like the INSERT: Redis has no
            # empty hash; a narrower table's UPDATE counts its own fields only)
            return Write(f"UPDATE {{s}}.{table} SET {sets} WHERE {w}", empty_when=all_null(value_cols))

        def update():
            sets = ", ".join(assignment(c) for c in rng.sample(value_cols, rng.randint(1, 4)))
            return hash_update("rh", sets, where(rng, rh.cols), value_cols)

        def update_key():
            n = self.next_id()
            return Write(f"UPDATE {{s}}.rh SET uid = uid || '~{n}' WHERE {where(rng, rh.cols)}")

        def delete():
            return Write(f"DELETE FROM {{s}}.rh WHERE {narrow_where(rng, rh.cols)}")

        def delete_keys():
            keys = existing("SELECT uid FROM {s}.rh", rng.randint(0, 3)) + rng.sample(["nope", "", "a", "*"], 1)
            op = rng.choice(["IN", "= ANY"])
            lst = f"({', '.join(quote(k) for k in keys)})" if op == "IN" else \
                f"(ARRAY[{', '.join(quote(k) for k in keys)}])"
            return Write(f"DELETE FROM {{s}}.rh WHERE uid {op} {lst}")

        def transaction():
            n = self.next_id()
            a = f"INSERT INTO {{s}}.rh ({names}) VALUES ({', '.join(rh_values(f't{n}a'))})"
            b = f"INSERT INTO {{s}}.rh ({names}) VALUES ({', '.join(rh_values(f't{n}b'))})"
            keys = existing("SELECT uid FROM {s}.rh", 2)
            d = f"DELETE FROM {{s}}.rh WHERE uid IN ({', '.join(quote(k) for k in keys + ['nope'])})"
            shape = rng.choice([
                ["BEGIN", a, "SAVEPOINT s", b, "ROLLBACK TO SAVEPOINT s", d, "COMMIT"],
                ["BEGIN", a, d, "ROLLBACK"],
                ["BEGIN", f"UPDATE {{s}}.rh SET t = 'in txn' WHERE {where(rng, rh.cols)}", "SAVEPOINT s", b, "COMMIT"],
                ["BEGIN", f"UPDATE {{s}}.rh SET b = NOT b WHERE {where(rng, rh.cols)}", "ROLLBACK"],
                ["BEGIN", d, "SAVEPOINT s", a, "RELEASE SAVEPOINT s", "COMMIT"],
            ])
            return Write(shape, refusals=["23502", "0A000"], compare_counts=False)

        def rk_write():
            r = rng.random()
            if r < 0.3:
                n = self.next_id()
                org = rng.choice(["acme", "", "é", "w"])
                vals = f"({quote(org)}, {n * 1000}, {rng.choice(['true', 'false'])}, {quote(rng.choice(DATES))}, " \
                       f"{rk.cols[4].lit(rng.choice(TEXTS))}, {rk.cols[5].lit(rng.choice(FLOAT8S + [None]))})"
                return Write(f"INSERT INTO {{s}}.rk VALUES {vals}")
            if r < 0.55:
                return hash_update("rk", assignment(rng.choice(rk.cols[4:])), where(rng, rk.cols), rk.cols[4:])
            if r < 0.7:
                n = self.next_id()
                return Write(f"UPDATE {{s}}.rk SET n = n % 1000000000 + {n * 1000000000}, org = org || 'm' "
                             f"WHERE {where(rng, rk.cols)}")
            return Write(f"DELETE FROM {{s}}.rk WHERE {narrow_where(rng, rk.cols)}")

        def rs_write():
            r = rng.random()
            if r < 0.3:
                ids = list(dict.fromkeys(rng.choice(rs.cols[0].pool + [1000 + self.next_id()]) for _ in range(rng.randint(1, 3))))
                vals = ", ".join(f"({i}, {rs.cols[1].lit(rng.choice(TEXTS + [None]))})" for i in ids)
                return Write(f"INSERT INTO {{s}}.rs VALUES {vals}",
                             f"INSERT INTO {{s}}.rs VALUES {vals} ON CONFLICT (id) DO UPDATE SET val = EXCLUDED.val",
                             refusals=["23502"])
            if r < 0.6:
                v = rs.cols[1].lit(rng.choice(TEXTS + [None, None]))
                w = where(rng, rs.cols)
                # SET of NULL deletes a string key
                return Write(f"UPDATE {{s}}.rs SET val = {v} WHERE {w}",
                             [f"UPDATE {{s}}.rs SET val = {v} WHERE {w}", "DELETE FROM {s}.rs WHERE val IS NULL"])
            if r < 0.7:
                n = self.next_id()
                return Write(f"UPDATE {{s}}.rs SET id = id % 100000 + {n * 100000} WHERE {where(rng, rs.cols)}")
            return Write(f"DELETE FROM {{s}}.rs WHERE {narrow_where(rng, rs.cols)}")

        def collection_delete_by_key(table, key, t):
            # a direct delete (by key, no read), of present and absent keys
            keys = existing(f"SELECT DISTINCT {key} FROM {{s}}.{table}", rng.randint(0, 2))
            keys += rng.sample(["none", "nope", "*"], rng.randint(0 if keys else 1, 2))
            return Write(f"DELETE FROM {{s}}.{table} WHERE {key} IN ({', '.join(quote(k) for k in keys)})")

        def rz_write():
            w = rz_write_inner()
            w.heap.append("UPDATE {s}.rz SET score = 0 WHERE score = 0 AND score::text = '-0'")
            return w

        def rz_write_inner():
            r = rng.random()
            if r < 0.35:
                board = rng.choice(["b1", "b2", "", "é", "b*", "new"])
                members = list(dict.fromkeys(rng.choice(rz.cols[1].pool) for _ in range(rng.randint(1, 3))))
                vals = ", ".join(f"({quote(board)}, {quote(m)}, {rz.cols[2].lit(rng.choice(FLOAT8S + [None]))})"
                                 for m in members)
                return Write(f"INSERT INTO {{s}}.rz VALUES {vals}",
                             f"INSERT INTO {{s}}.rz VALUES {vals} ON CONFLICT (board, member) DO UPDATE SET score = EXCLUDED.score",
                             refusals=["23502", "22023"])
            if r < 0.6:
                return Write(f"UPDATE {{s}}.rz SET score = {rng.choice(['score + 1', 'score * -1', '0', '-0', '1e308'])} "
                             f"WHERE {where(rng, rz.cols)}", refusals=["22023"])
            if r < 0.7:
                n = self.next_id()
                return Write(f"UPDATE {{s}}.rz SET member = member || '~{n}' WHERE {where(rng, rz.cols)}")
            if r < 0.8:
                return collection_delete_by_key("rz", "board", rz)
            return Write(f"DELETE FROM {{s}}.rz WHERE {narrow_where(rng, rz.cols)}")

        def rset_write():
            r = rng.random()
            if r < 0.4:
                u = rng.choice(["u1", "u2", "", "ü", "u?", "new"])
                tags = list(dict.fromkeys(rng.choice(TEXTS) for _ in range(rng.randint(1, 3))))
                vals = ", ".join(f"({quote(u)}, {quote(t)})" for t in tags)
                return Write(f"INSERT INTO {{s}}.rset VALUES {vals}",
                             f"INSERT INTO {{s}}.rset VALUES {vals} ON CONFLICT DO NOTHING", compare_counts=False)
            if r < 0.55:
                n = self.next_id()
                return Write(f"UPDATE {{s}}.rset SET tag = tag || '~{n}' WHERE {where(rng, rset.cols)}")
            if r < 0.75:
                return collection_delete_by_key("rset", "user_id", rset)
            return Write(f"DELETE FROM {{s}}.rset WHERE {narrow_where(rng, rset.cols)}")

        def narrow_write():
            # through the narrower table: the fields it does not declare survive
            r = rng.random()
            if r < 0.4:
                n = self.next_id()
                uids = list(dict.fromkeys([f"nw{n}"] + existing("SELECT uid FROM {s}.rh", rng.randint(0, 2))))
                vals = ", ".join(f"({quote(u)}, {rhn.cols[1].lit(rng.choice(TEXTS + [None]))}, "
                                 f"{rhn.cols[2].lit(rng.choice(INT4S + [None]))})" for u in uids)
                return Write(f"INSERT INTO {{s}}.rhn VALUES {vals}",
                             f"INSERT INTO {{s}}.rhn VALUES {vals} ON CONFLICT (uid) DO UPDATE SET (t, i4) = "
                             f"ROW(EXCLUDED.t, EXCLUDED.i4)", empty_when=all_null(rhn.cols[1:]))
            if r < 0.8:
                sets = ", ".join(assignment(c) for c in rng.sample(rhn.cols[1:], rng.randint(1, 2)))
                return hash_update("rhn", sets, where(rng, rhn.cols), rhn.cols[1:])
            return Write(f"DELETE FROM {{s}}.rhn WHERE {narrow_where(rng, rhn.cols)}")

        return [(3, insert), (3, update), (1, update_key), (2, delete), (2, delete_keys), (2, transaction),
                (2, rk_write), (2, rs_write), (2, rz_write), (1, rset_write), (2, narrow_write)]

    def teardown(self):
        self.db.execute(f"DROP SERVER IF EXISTS {self.server} CASCADE")
        r = redis_client()
        keys = list(r.scan_iter(match=f"{self.prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            r.delete(*keys[i:i + 500])


def s3_client():
    import boto3
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{os.environ['ODP_S3_PORT']}", aws_access_key_id="odp",
                      aws_secret_access_key="odp", region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    return s3


BUCKET = "odp-objects"


def guess_content_type(key):
    ext = key.rsplit(".", 1)[1].lower() if "." in key else ""
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
            "svg": "image/svg+xml", "pdf": "application/pdf", "json": "application/json",
            "jsonl": "application/x-ndjson", "ndjson": "application/x-ndjson", "csv": "text/csv", "txt": "text/plain",
            "md": "text/plain", "html": "text/html", "htm": "text/html", "xml": "application/xml",
            "parquet": "application/vnd.apache.parquet", "zip": "application/zip",
            "gz": "application/gzip"}.get(ext, "application/octet-stream")


class ObjectsSource(Source):
    """object_fdw over S3 (moto): one row per object."""
    name = "objects"
    OB_COLS = "key, size, etag, last_modified, content_type, metadata, content"

    def setup(self):
        db, rng = self.db, self.rng
        self.base = f"diff_{TAG}"
        self.server = f"diff_obj_{TAG}"
        endpoint = f"http://127.0.0.1:{os.environ['ODP_S3_PORT']}"
        db.execute(f"CREATE SERVER {self.server} FOREIGN DATA WRAPPER object_fdw OPTIONS (root 's3://{BUCKET}/{self.base}', "
                   f"endpoint '{endpoint}', allow_http 'true', path_style 'true')")
        db.execute(f"CREATE USER MAPPING FOR PUBLIC SERVER {self.server} OPTIONS (access_key_id 'odp', secret_access_key 'odp')")
        cols = "key text, size bigint, etag text, last_modified timestamptz, content_type text, metadata jsonb, content bytea"
        db.execute(f"CREATE FOREIGN TABLE {F}.ob ({cols}) SERVER {self.server} OPTIONS (prefix 'data/', estimated_objects '80')")
        db.execute(f"CREATE FOREIGN TABLE {F}.ob_sub ({cols}) SERVER {self.server} OPTIONS (prefix 'data/a/')")
        db.execute(f"CREATE TABLE {H}.ob ({cols}, PRIMARY KEY (key))")
        db.execute(f"CREATE VIEW {H}.ob_sub AS SELECT * FROM {H}.ob WHERE starts_with(key, 'data/a/')")
        s3 = s3_client()
        names = ["a", "a-b", "a.b", "a/1.txt", "a/2.json", "a/b/c.csv", "a/b/d", "a0", "a%2Fb", "a+b", "a b.txt", "a=b",
                 "ü/ß.txt", "日本/語.md", "é", "e\u0301", "🙂.png", "b/x.jpg", "B/x.jpg", "_u", "%", "~x", "z/z/z/z.gz",
                 "a/", "a/a", "ab", "a!", "a(1)", "a'q", "a&b"]
        names = [n for n in names if not n.endswith("/")]
        for p in ["a", "ab", "u"]:
            for i in range(rng.randint(1, 4)):
                names.append(f"{p}/{i}.{rng.choice(['txt', 'json', 'bin', 'jpg', 'CSV', ''])}".rstrip("."))
        names = list(dict.fromkeys(names))
        self.keys = ["data/" + n for n in names]
        rng.shuffle(self.keys)
        waves = [self.keys[i::3] for i in range(3)]
        for w, keys in enumerate(waves):
            odp_rows = []
            for key in keys:
                size = rng.choice([0, 1, 2, 5, 17, 100, 333, rng.randint(0, 1000)])
                content = bytes(rng.randrange(256) for _ in range(size)) if rng.random() < 0.5 else \
                    ("é" * size)[:size].encode()[:size]
                meta = {}
                if rng.random() < 0.5:
                    for _ in range(rng.randint(1, 3)):
                        meta[rng.choice(["owner", "kind", "a", "x-y", "n"])] = rng.choice(["ann", "doc", "1", "", "x y"])
                ctype = rng.choice([None, "text/plain", "application/json", "image/png", "application/x-custom; charset=utf-8"])
                if rng.random() < 0.5:
                    kwargs = {"ContentType": ctype} if ctype else {}
                    s3.put_object(Bucket=BUCKET, Key=f"{self.base}/{key}", Body=content, Metadata=meta, **kwargs)
                else:
                    md = json.dumps({(k.upper() if rng.random() < 0.3 else k): v for k, v in meta.items()}) if meta or \
                        rng.random() < 0.5 else None
                    odp_rows.append(f"({quote(key)}, {bytea_lit(content)}, {quote(ctype) if ctype else 'NULL'}, "
                                    f"{quote(md) + '::jsonb' if md else 'NULL'})")
            if odp_rows:
                db.execute(f"INSERT INTO {F}.ob (key, content, content_type, metadata) VALUES {', '.join(odp_rows)}")
            if w < 2:
                time.sleep(1.1)
        # another client's view of the bucket: the heap copy
        rows = []
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET, Prefix=f"{self.base}/data/"):
            for o in page.get("Contents", []):
                key = o["Key"][len(self.base) + 1:]
                head = s3.head_object(Bucket=BUCKET, Key=o["Key"])
                body = s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                rows.append((key, head["ContentLength"], head["ETag"], head["LastModified"], head.get("ContentType"),
                             json.dumps(head.get("Metadata", {})), body))
        with db.conn.cursor() as cur:
            with cur.copy(f"COPY {H}.ob ({self.OB_COLS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        db.execute(f"ANALYZE {H}.ob")
        sizes = sorted({r[1] for r in rows})
        stamps = sorted({r[3] for r in rows})
        stamp_texts = []
        for s in stamps:
            for delta in (-1, 0, 0.5, 1):
                stamp_texts.append((s + datetime.timedelta(seconds=delta)).isoformat())
        ctypes = sorted({r[4] for r in rows if r[4]})
        contents = [r[6] for r in rows][:10] + [b"", b"x"]
        keypool = self.keys + ["data/nope", "data", "data/", "data/a/", "other/x", "data//x", "data/./a", "data/A",
                               "data/a/1.TXT", "data/a/b"]
        c = Col
        cols = [c("key", "text", "text", keypool, key=True), c("size", "bigint", "int", sizes + [0, 1, -1, 100, 10000]),
                c("etag", "text", "text", [r[2] for r in rows][:8] + ["x"]),
                c("last_modified", "timestamptz", "timestamptz", stamp_texts),
                c("content_type", "text", "text", ctypes + ["image/jpeg", "application/octet-stream"]),
                c("metadata", "jsonb", "jsonb", ["{}", '{"owner": "ann"}', '{"a": "1"}', '{"kind": "doc"}']),
                c("content", "bytea", "bytea", contents)]
        self.tables = [Table("ob", cols, ["key"]), Table("ob_sub", cols, ["key"], writable=False)]
        names_probe = [k[len("data/"):] for k in rng.sample(self.keys, 8)] + ["nope", "a", None, "", "a/1.txt"]
        make_probe(db, "probe_key", "text", rng.sample(self.keys, 8) + ["data/nope", "other/x", None, "data/a"])
        make_probe(db, "probe_name", "text", names_probe)
        self.probes = {"ob": {"key": "probe_key"}, "ob_sub": {"key": "probe_key"}}
        self.setup_local()

    def setup_local(self):
        """The same kind of table over a local directory (no content type kept: guessed
        from the key; no metadata), written partly through ODP, partly as files."""
        import pwd
        db, rng = self.db, self.rng
        self.local_root = os.path.join(os.environ["ODP_DATA"], f"diff-objects-{TAG}")
        pw = pwd.getpwnam("postgres")
        os.makedirs(os.path.join(self.local_root, "data"), exist_ok=True)
        for d in (self.local_root, os.path.join(self.local_root, "data")):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        self.local_server = f"diff_objl_{TAG}"
        db.execute(f"CREATE SERVER {self.local_server} FOREIGN DATA WRAPPER object_fdw OPTIONS (root {quote(self.local_root)})")
        cols = "key text, size bigint, etag text, last_modified timestamptz, content_type text, content bytea"
        db.execute(f"CREATE FOREIGN TABLE {F}.ol ({cols}) SERVER {self.local_server} OPTIONS (prefix 'data/')")
        db.execute(f"CREATE TABLE {H}.ol ({cols}, PRIMARY KEY (key))")
        # (a key cannot be both a file and a directory here)
        odp_names = ["a", "a-b", "a.b", "ab/1.txt", "ab/2.json", "ab/c/d.csv", "a0", "a%2Fb", "a+b", "a b.txt", "a=b",
                     "ü/ß.txt", "日本/語.md", "é", "e\u0301", "🙂.png", "B/x.jpg", "_u", "%", "~x", "a(1)", "a'q"]
        file_names = ["b/x.jpg", "b/y.txt", "b/z/1.csv", "c.txt", "c0", "c/1", "c/2.JSON", "bé/ü.txt"]
        for i in range(rng.randint(3, 8)):
            name = f"{rng.choice(['u', 'v', 'ab'])}/{i}.{rng.choice(['txt', 'bin', 'md'])}"
            if name not in odp_names + file_names:
                (odp_names if rng.random() < 0.5 else file_names).append(name)
        rows = []
        for name in odp_names:
            body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 7, 100, rng.randint(0, 300)])))
            rows.append(("data/" + name, body))
        insert_rows(db, f"{F}.ol", ["key", "content"], [[quote(k), bytea_lit(b)] for k, b in rows])
        for name in file_names:
            body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 7, 100, rng.randint(0, 300)])))
            path = os.path.join(self.local_root, "data", name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
            rows.append(("data/" + name, body))
        for dirpath, dirs, files in os.walk(self.local_root):
            for x in dirs + files:
                os.chown(os.path.join(dirpath, x), pw.pw_uid, pw.pw_gid)
        insert_rows(db, f"{H}.ol", ["key", "size", "content_type", "content"],
                    [[quote(k), str(len(b)), quote(guess_content_type(k)), bytea_lit(b)] for k, b in rows])
        # the store's version tags and times, as ODP reports them
        db.execute(f"UPDATE {H}.ol h SET etag = f.etag, last_modified = f.last_modified FROM {F}.ol f WHERE f.key = h.key")
        db.execute(f"ANALYZE {H}.ol")
        keys = [k for k, _ in rows]
        stamps = self.heap_values("SELECT DISTINCT last_modified::text FROM {s}.ol WHERE last_modified IS NOT NULL")
        cols = [Col("key", "text", "text", keys + ["data/nope", "data", "data/", "data/b", "data/ab/"], key=True),
                Col("size", "bigint", "int", [len(b) for _, b in rows] + [0, 1, 100]),
                Col("etag", "text", "text", self.heap_values("SELECT etag FROM {s}.ol LIMIT 5") + ["x"]),
                Col("last_modified", "timestamptz", "timestamptz", stamps or ["2024-01-01 00:00:00+00"]),
                Col("content_type", "text", "text", ["text/plain", "image/jpeg", "application/octet-stream", "text/csv"]),
                Col("content", "bytea", "bytea", [b for _, b in rows][:6] + [b""])]
        self.tables.append(Table("ol", cols, ["key"]))
        self.local_keys = keys
        make_probe(db, "probe_lkey", "text", rng.sample(keys, min(10, len(keys))) + ["data/nope", None])
        self.probes["ol"] = {"key": "probe_lkey"}

    def read_generators(self):
        rng = self.rng
        gens = super().read_generators()
        ob = self.tables[0]
        narrow = lambda: rng.choice(["key, size", "key, content", "key, content_type, metadata", "*", "key, last_modified",  # noqa
                                     "size, md5(content)", "count(*)"])

        def expr_join():
            cols = rng.choice(["o.size", "o.content", "o.content_type", "o.metadata", "o.last_modified", "o.*"])
            extra = f" AND {atom(rng, rng.choice(ob.cols), 'o')}" if rng.random() < 0.4 else ""
            return Query(f"SELECT p.k, {cols} FROM {{h}}.probe_name p {rng.choice(['JOIN', 'LEFT JOIN'])} {{s}}.ob o "
                         f"ON o.key = 'data/' || p.k{extra}", settings=join_settings(rng))

        def shaped():
            # the column set decides listing only / HEAD / GET: cross it with key, size and time quals
            sel = narrow()
            w = " AND ".join(atom(rng, ob.col(n)) for n in rng.sample(["key", "key", "size", "last_modified", "content_type"],
                                                                        rng.randint(1, 3)))
            return Query(f"SELECT {sel} FROM {{s}}.{rng.choice(['ob', 'ob', 'ob_sub'])} WHERE {w}")

        def sub_vs_all():
            return Query(f"SELECT a.key FROM {{s}}.ob a FULL JOIN {{s}}.ob_sub b USING (key) WHERE "
                         f"{where(rng, ob.cols, 'a', 1)}", settings=join_settings(rng))
        gens += [(3, expr_join), (6, shaped), (1, sub_vs_all)]
        return gens

    def contents(self):
        return ["SELECT key, size, content_type, metadata, md5(content) FROM {s}.ob",
                "SELECT key, size, content_type, md5(content) FROM {s}.ol"]

    def columns_of(self):
        return {"ob": "key, size, content_type, metadata, content", "ol": "key, size, content_type, content"}

    def write_generators(self):
        rng = self.rng
        ob = self.tables[0]
        wcols = [ob.col(n) for n in ("key", "size", "content_type", "metadata", "content")]

        def content():
            n = rng.choice([0, 1, 3, 50, rng.randint(0, 500)])
            return bytes(rng.randrange(256) for _ in range(n))

        def insert():
            rows_f, rows_h = [], []
            for _ in range(rng.randint(1, 3)):
                n = self.next_id()
                key = f"data/{rng.choice(['w', 'a', 'a/w', 'ü'])}/{n}{rng.choice(['.txt', '.json', '.JPG', '', '.bin', '.csv'])}"
                if rng.random() < 0.1:
                    key = rng.choice(self.keys)                       # exists: 23505 on both
                body = content()
                ctype = rng.choice([None, None, "text/plain", "application/x-diff"])
                meta = rng.choice([None, {}, {"owner": "ann"}, {"Kind": "Doc", "n": "1"}])
                md = json.dumps(meta) if meta is not None else None
                rows_f.append(f"({quote(key)}, {bytea_lit(body)}, {quote(ctype) if ctype else 'NULL'}, "
                              f"{quote(md) + '::jsonb' if md is not None else 'NULL'})")
                lower = json.dumps({k.lower(): v for k, v in (meta or {}).items()})
                rows_h.append(f"({quote(key)}, {bytea_lit(body)}, {quote(ctype or guess_content_type(key))}, "
                              f"{quote(lower)}::jsonb, {len(body)})")
            return Write(f"INSERT INTO {{s}}.ob (key, content, content_type, metadata) VALUES {', '.join(rows_f)}",
                         f"INSERT INTO {{s}}.ob (key, content, content_type, metadata, size) VALUES {', '.join(rows_h)}")

        def update_content():
            body = bytea_lit(content())
            w = where(rng, wcols)
            return Write(f"UPDATE {{s}}.ob SET content = {body} WHERE {w}",
                         f"UPDATE {{s}}.ob SET content = {body}, size = length({body}) WHERE {w}")

        def update_other():
            a = rng.choice([f"content_type = {quote(rng.choice(['text/csv', 'application/x-diff']))}",
                            f"metadata = {quote(json.dumps(rng.choice([{}, {'owner': 'bob'}, {'k': 'v', 'n': '2'}])))}::jsonb",
                            "content = content || '\\x00'::bytea"])
            w = where(rng, wcols)
            extra = ", size = size + 1" if "content =" in a else ""
            return Write(f"UPDATE {{s}}.ob SET {a} WHERE {w}", f"UPDATE {{s}}.ob SET {a}{extra} WHERE {w}")

        def rename():
            n = self.next_id()
            return Write(f"UPDATE {{s}}.ob SET key = key || '.m{n}' WHERE {where(rng, wcols)}")

        def delete():
            return Write(f"DELETE FROM {{s}}.ob WHERE {narrow_where(rng, wcols)}")

        def transaction():
            n = self.next_id()
            a = f"INSERT INTO {{s}}.ob (key, content, content_type, metadata) VALUES ('data/t/{n}a.txt', '\\x41', 'text/plain', '{{}}')"
            ah = f"INSERT INTO {{s}}.ob (key, content, content_type, metadata, size) VALUES ('data/t/{n}a.txt', '\\x41', 'text/plain', '{{}}', 1)"
            d = f"DELETE FROM {{s}}.ob WHERE {narrow_where(rng, wcols)}"
            # (a transaction cannot read an object table it changed: reads come first)
            shape = rng.choice([(["BEGIN", d, "SAVEPOINT s", a, "ROLLBACK TO SAVEPOINT s", "COMMIT"],
                                 ["BEGIN", d, "SAVEPOINT s", ah, "ROLLBACK TO SAVEPOINT s", "COMMIT"]),
                                (["BEGIN", d, a, "ROLLBACK"], ["BEGIN", d, ah, "ROLLBACK"]),
                                (["BEGIN", d, "SAVEPOINT s", a, "RELEASE SAVEPOINT s", "COMMIT"],
                                 ["BEGIN", d, "SAVEPOINT s", ah, "RELEASE SAVEPOINT s", "COMMIT"])])
            return Write(shape[0], shape[1], compare_counts=False)

        ol = self.tables[-1]
        lcols = [ol.col(n) for n in ("key", "size", "content_type", "content")]

        def local_write():
            r = rng.random()
            if r < 0.35:
                rows = []
                for _ in range(rng.randint(1, 3)):
                    n = self.next_id()
                    key = f"data/{rng.choice(['w', 'ab', 'ü', 'b'])}/{n}{rng.choice(['.txt', '.json', '', '.bin'])}"
                    if rng.random() < 0.1:
                        key = rng.choice(self.local_keys)            # exists: 23505 on both
                    rows.append((key, content()))
                f = ", ".join(f"({quote(k)}, {bytea_lit(b)})" for k, b in rows)
                h = ", ".join(f"({quote(k)}, {bytea_lit(b)}, {len(b)}, {quote(guess_content_type(k))})" for k, b in rows)
                return Write(f"INSERT INTO {{s}}.ol (key, content) VALUES {f}",
                             f"INSERT INTO {{s}}.ol (key, content, size, content_type) VALUES {h}")
            if r < 0.6:
                body = bytea_lit(content())
                w = where(rng, lcols)
                return Write(f"UPDATE {{s}}.ol SET content = {body} WHERE {w}",
                             f"UPDATE {{s}}.ol SET content = {body}, size = length({body}) WHERE {w}")
            if r < 0.7:
                # a new key keeps the content type the row had (read from the old key's extension)
                n = self.next_id()
                return Write(f"UPDATE {{s}}.ol SET key = key || '.m{n}' WHERE {where(rng, lcols)}", refusals=["0A000"])
            return Write(f"DELETE FROM {{s}}.ol WHERE {narrow_where(rng, lcols)}")

        return [(3, insert), (2, update_content), (2, update_other), (1, rename), (2, delete), (1, transaction),
                (4, local_write)]

    def teardown(self):
        import shutil
        self.db.execute(f"DROP SERVER IF EXISTS {self.server} CASCADE")
        if getattr(self, "local_server", None):
            self.db.execute(f"DROP SERVER IF EXISTS {self.local_server} CASCADE")
            shutil.rmtree(self.local_root, ignore_errors=True)
        s3 = s3_client()
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET, Prefix=f"{self.base}/"):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                s3.delete_objects(Bucket=BUCKET, Delete={"Objects": objs})


class FilesSource(Source):
    """object_fdw data-file tables (Parquet, JSON lines, CSV) on S3: read-only."""
    name = "files"

    def setup(self):
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
        db, rng = self.db, self.rng
        self.base = f"diff_{TAG}_files"
        self.server = f"diff_files_{TAG}"
        endpoint = f"http://127.0.0.1:{os.environ['ODP_S3_PORT']}"
        db.execute(f"CREATE SERVER {self.server} FOREIGN DATA WRAPPER object_fdw OPTIONS (root 's3://{BUCKET}/{self.base}', "
                   f"endpoint '{endpoint}', allow_http 'true', path_style 'true')")
        db.execute(f"CREATE USER MAPPING FOR PUBLIC SERVER {self.server} OPTIONS (access_key_id 'odp', secret_access_key 'odp')")
        s3 = s3_client()
        utc = datetime.timezone.utc
        f4 = lambda s: float(np.float32(float(s)))  # noqa: E731
        # --- parquet
        fp_defs = [("id", "bigint", "int"), ("i4", "integer", "int"), ("i8", "bigint", "int"),
                   ("f8", "double precision", "float8"), ("f4", "real", "float4"), ("t", "text", "text"),
                   ("b", "boolean", "bool"), ("d", "date", "date"), ("ts", "timestamptz", "timestamptz"),
                   ("lts", "timestamp", "timestamp"), ("dec", "numeric(18,4)", "numeric")]
        decs = [decimal.Decimal(x) for x in ["0.0000", "1.5000", "-1.5000", "12345678901234.5678", "-0.0001", "100.0000",
                                             "99999999999999.9999", "3.1416"]]
        dates = [datetime.date(2024, 1, 1), datetime.date(2024, 2, 29), datetime.date(1970, 1, 1), datetime.date(1, 1, 1),
                 datetime.date(9999, 12, 31), datetime.date(1999, 12, 31), datetime.date(2024, 1, 2)]
        stamps = [datetime.datetime(2024, 1, 1, tzinfo=utc), datetime.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=utc),
                  datetime.datetime(1970, 1, 1, tzinfo=utc), datetime.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=utc),
                  datetime.datetime(2024, 6, 30, 23, 59, 59, 999000, tzinfo=utc), datetime.datetime(1, 1, 1, tzinfo=utc),
                  datetime.datetime(2000, 2, 29, 6, 30, tzinfo=utc)]
        pools = {"i4": INT4S, "i8": INT8S, "f8": FLOAT8S, "f4": [f4(s) for s in FLOAT4S], "t": TEXTS, "b": [True, False],
                 "d": dates, "ts": stamps, "lts": [s.replace(tzinfo=None) for s in stamps], "dec": decs}
        rows, next_id = [], 0
        files = []
        for fno in range(4):
            frows = []
            for _ in range(rng.randint(40, 80)):
                next_id += 1
                row = {"id": next_id}
                for name, _, _ in fp_defs[1:]:
                    row[name] = None if rng.random() < 0.15 else rng.choice(pools[name])
                frows.append(row)
            if fno == 1:
                frows.sort(key=lambda r: (r["f8"] is None, r["f8"] if r["f8"] is not None and not math.isnan(r["f8"]) else 0))
            if fno == 3:
                frows.sort(key=lambda r: (r["t"] is None, r["t"] or ""))
                for r in frows[:20]:
                    r["t"] = None              # a row group without any text
            if fno == 2:
                for r in frows:
                    r["f4"] = None             # the file lacks these columns
                    r["dec"] = None
            if fno == 3:
                for r in frows:               # stored in milliseconds
                    for k in ("ts", "lts"):
                        if r[k] is not None:
                            r[k] = r[k].replace(microsecond=r[k].microsecond // 1000 * 1000)
            files.append(frows)
            rows += frows
        for fno, frows in enumerate(files):
            col = lambda n: [r[n] for r in frows]  # noqa: E731
            arrays = {"id": pa.array(col("id"), pa.int64()),
                      "i4": pa.array(col("i4"), pa.int64() if fno == 2 else pa.int32()),
                      "i8": pa.array(col("i8"), pa.int64()), "f8": pa.array(col("f8"), pa.float64()),
                      "f4": pa.array(col("f4"), pa.float32()),
                      "t": pa.array(col("t"), pa.large_string() if fno == 2 else pa.string()),
                      "b": pa.array(col("b"), pa.bool_()), "d": pa.array(col("d"), pa.date32()),
                      "ts": pa.array(col("ts"), pa.timestamp("ms" if fno == 3 else "us", tz="UTC")),
                      "lts": pa.array(col("lts"), pa.timestamp("ms" if fno == 3 else "us")),
                      "dec": pa.array(col("dec"), pa.decimal128(18, 4))}
            if fno == 2:
                del arrays["f4"], arrays["dec"]
            table = pa.table(arrays)
            buf = io.BytesIO()
            pq.write_table(table, buf, row_group_size=rng.choice([7, 10, 16, 25]),
                           use_dictionary=fno != 1, compression=rng.choice(["snappy", "none", "zstd"]))
            s3.put_object(Bucket=BUCKET, Key=f"{self.base}/files/parquet/{'sub/' if fno == 3 else ''}part-{fno}.parquet",
                          Body=buf.getvalue())
        s3.put_object(Bucket=BUCKET, Key=f"{self.base}/files/parquet/_SUCCESS", Body=b"")
        s3.put_object(Bucket=BUCKET, Key=f"{self.base}/files/parquet/.hidden/x.parquet", Body=b"not parquet")
        s3.put_object(Bucket=BUCKET, Key=f"{self.base}/files/parquet/notes.txt", Body=b"not a data file")
        cols = ", ".join(f"{n} {t}" for n, t, _ in fp_defs)
        db.execute(f"CREATE FOREIGN TABLE {F}.fp ({cols}) SERVER {self.server} OPTIONS (prefix 'files/parquet/', format 'parquet')")
        db.execute(f"CREATE TABLE {H}.fp ({cols})")
        with db.conn.cursor() as cur:
            with cur.copy(f"COPY {H}.fp ({', '.join(n for n, _, _ in fp_defs)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row([r[n] for n, _, _ in fp_defs])
        lit_pools = {"id": list(range(0, next_id + 3)), "i4": INT4S, "i8": INT8S, "f8": FLOAT8S, "f4": FLOAT4S, "t": TEXTS,
                     "b": [True, False], "d": [d.isoformat() for d in dates] + ["2024-01-03"],
                     "ts": [s.isoformat() for s in stamps] + ["2024-06-30 23:59:59.999+00"],
                     "lts": [s.replace(tzinfo=None).isoformat() for s in stamps], "dec": [str(d) for d in decs] + ["1.5", "0"]}
        fp_cols = [Col(n, t, k, lit_pools[n], key=n in ("id", "t")) for n, t, k in fp_defs]
        # --- JSON lines
        fj_defs = [("id", "bigint", "int"), ("t", "text", "text"), ("f8", "double precision", "float8"),
                   ("b", "boolean", "bool"), ("d", "date", "date"), ("ts", "timestamptz", "timestamptz"), ("i4", "integer", "int")]
        jrows, lines = [], {0: [], 1: []}
        tz_texts = ["2024-01-01T00:00:00Z", "2024-01-01T05:00:00+05:00", "2024-06-30T23:59:59.999999Z",
                    "1970-01-01T00:00:00Z", "2024-03-10T02:30:00-08:00"]
        finite = [f for f in FLOAT8S if math.isfinite(f)]
        for i in range(1, rng.randint(50, 80)):
            row = {"id": i, "t": rng.choice(TEXTS + [None]), "f8": rng.choice(finite + [None, 3]), "b": rng.choice([True, False, None]),
                   "d": rng.choice([d.isoformat() for d in dates] + [None]), "ts": rng.choice(tz_texts + [None]),
                   "i4": rng.choice(INT4S + [None])}
            obj = {k: v for k, v in row.items() if v is not None or rng.random() < 0.5}
            lines[i % 2].append(json.dumps(obj, ensure_ascii=rng.random() < 0.5))
            jrows.append(row)
        for fno, ls in lines.items():
            s3.put_object(Bucket=BUCKET, Key=f"{self.base}/files/json/part-{fno}.{'jsonl' if fno else 'json'}",
                          Body=("\n".join(ls) + "\n").encode())
        cols = ", ".join(f"{n} {t}" for n, t, _ in fj_defs)
        db.execute(f"CREATE FOREIGN TABLE {F}.fj ({cols}) SERVER {self.server} OPTIONS (prefix 'files/json/', format 'json')")
        db.execute(f"CREATE TABLE {H}.fj ({cols})")
        for r in jrows:
            db.execute(f"INSERT INTO {H}.fj VALUES (%s, %s, %s, %s, %s::date, %s::timestamptz, %s)",
                       [r["id"], r["t"], r["f8"], r["b"], r["d"], r["ts"], r["i4"]])
        fj_pools = {"id": list(range(0, 85)), "t": TEXTS, "f8": finite, "b": [True, False],
                    "d": [d.isoformat() for d in dates], "ts": tz_texts, "i4": INT4S}
        fj_cols = [Col(n, t, k, fj_pools[n], key=n == "id") for n, t, k in fj_defs]
        # --- CSV: header order differs between files; one file lacks a column
        fc_defs = [("id", "bigint", "int"), ("name", "text", "text"), ("price", "double precision", "float8"),
                   ("flag", "boolean", "bool"), ("d", "date", "date")]
        names = [t for t in TEXTS if t] + ['with "quotes"', "comma, inside"]
        prices = ["1.5", "-0", "0", "NaN", "1e308", "-inf", "0.1", "100", "2.5e-7"]
        crows = []
        import csv as csvmod
        for fno, header in enumerate([["id", "name", "price", "flag", "d"], ["d", "price", "name", "id"],
                                      ["flag", "id", "extra", "name", "price", "d"]]):
            out = io.StringIO()
            w = csvmod.writer(out, lineterminator="\n")
            w.writerow(header)
            for _ in range(rng.randint(20, 40)):
                row = {"id": len(crows) + 1, "name": rng.choice(names + [None]), "price": rng.choice(prices + [None]),
                       "flag": rng.choice([True, False, None]) if "flag" in header else None,
                       "d": rng.choice([d.isoformat() for d in dates] + [None]), "extra": "ignored"}
                crows.append(row)
                w.writerow(["" if row[h] is None else ("true" if row[h] is True else "false" if row[h] is False else row[h])
                            for h in header])
            s3.put_object(Bucket=BUCKET, Key=f"{self.base}/files/csv/part-{fno}.csv", Body=out.getvalue().encode())
        cols = ", ".join(f"{n} {t}" for n, t, _ in fc_defs)
        db.execute(f"CREATE FOREIGN TABLE {F}.fc ({cols}) SERVER {self.server} OPTIONS (prefix 'files/csv/', format 'csv')")
        db.execute(f"CREATE TABLE {H}.fc ({cols})")
        for r in crows:
            db.execute(f"INSERT INTO {H}.fc VALUES (%s, %s, %s::float8, %s, %s::date)",
                       [r["id"], r["name"], r["price"], r["flag"], r["d"]])
        fc_pools = {"id": list(range(0, 130)), "name": names, "price": [float(p) for p in prices], "flag": [True, False],
                    "d": [d.isoformat() for d in dates]}
        fc_cols = [Col(n, t, k, fc_pools[n], key=n == "id") for n, t, k in fc_defs]
        self.tables = [Table("fp", fp_cols, ["id"], writable=False), Table("fj", fj_cols, ["id"], writable=False),
                       Table("fc", fc_cols, ["id"], writable=False)]
        for t in self.tables:
            db.execute(f"ANALYZE {H}.{t.name}")
        make_probe(db, "probe_fid", "bigint", rng.sample(range(0, next_id + 3), 8) + [None])
        make_probe(db, "probe_ft", "text", rng.sample(TEXTS, 6) + [None, "nope"])
        self.probes = {"fp": {"id": "probe_fid", "t": "probe_ft"}, "fj": {"id": "probe_fid"}, "fc": {"id": "probe_fid"}}

    def read_generators(self):
        rng = self.rng
        gens = super().read_generators()
        fp, fj, fc = self.tables

        def ff():
            a, b, on = rng.choice([(fp, fj, "b.id = a.id"), (fj, fp, "b.t = a.t"), (fp, fc, "b.id = a.i4"),
                                   (fc, fp, "b.id = a.id AND b.d = a.d")])
            return Query(f"SELECT {a.select_list(rng, 'a')}, {b.select_list(rng, 'b')} FROM {{s}}.{a.name} a "
                         f"{rng.choice(['JOIN', 'LEFT JOIN'])} {{s}}.{b.name} b ON {on} WHERE {where(rng, a.cols, 'a', 1)}",
                         settings=join_settings(rng))
        return gens + [(4, ff)]

    def teardown(self):
        self.db.execute(f"DROP SERVER IF EXISTS {self.server} CASCADE")
        s3 = s3_client()
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET, Prefix=f"{self.base}/"):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                s3.delete_objects(Bucket=BUCKET, Delete={"Objects": objs})


def json_safe(f):
    """Whether a float survives a trip through jsonb to odp.cypher: no NaN, infinities or
    -0, and no whole float beyond 64 bits (jsonb writes 1e308 without a fraction or an
    exponent, so odp.cypher refuses it as an integer too large, docs/graph.md)."""
    if not math.isfinite(f) or (f == 0 and math.copysign(1, f) < 0):
        return False
    return f != int(f) or abs(f) < 2.0 ** 63


def cypher(db, server, query, params=None):
    return db.rows("SELECT count(*) FROM odp.cypher(%s, %s, %s::jsonb, write => true)",
                   [server, query, json.dumps(params or {})])


class GraphSource(Source):
    """neo4j_fdw over ArcadeDB: node tables, a relationship table, a table of mistyped
    properties (pushdown on vs off)."""
    name = "graph"

    def setup(self):
        db, rng = self.db, self.rng
        self.server = f"diff_graph_{TAG}"
        self.N, self.M, self.D, self.R = f"DiffN{TAG}", f"DiffM{TAG}", f"DiffD{TAG}", f"DIFF_R{TAG}"
        db.execute(f"CREATE SERVER {self.server} FOREIGN DATA WRAPPER neo4j_fdw OPTIONS "
                   f"(uri 'bolt://127.0.0.1:{os.environ['ODP_BOLT_PORT']}', database 'odp')")
        db.execute(f"CREATE USER MAPPING FOR PUBLIC SERVER {self.server} OPTIONS (user 'root', password "
                   f"{quote(os.environ['ODP_GRAPH_PASSWORD'])})")
        c = Col
        nids = ["", "a", "ab", "abc", "A", "é", "e\u0301", "日本", "🙂", "a%", "a_", "a\\b", "o'q", "`x`", "sp ace", "ü1"]
        nids += [f"{rng.choice(['n', 'n', 'a', 'ü'])}{i:03d}" for i in range(110)]
        nids = list(dict.fromkeys(nids))
        self.nids = nids
        graph_floats = FLOAT8S
        gn_cols = [c("nid", "text", "text", nids + ["nope", "n", "N000"], key=True),
                   c("i8", "bigint", "int", INT8S), c("i4", "integer", "int", INT4S),
                   c("f8", "double precision", "float8", graph_floats), c("b", "boolean", "bool", [True, False]),
                   c("t", "text", "text", TEXTS), c("d", "date", "date", DATES),
                   c("ts", "timestamptz", "timestamptz", [t for t in TSTZS if not t.startswith(("0001", "9999"))]),
                   c("tags", "text[]", "textarr", [t for t in TAGS if None not in t])]
        mids = sorted(set(rng.sample(range(-50, 200), 30) + [0, -1, 9223372036854775807, -9223372036854775808,
                                                                9007199254740993, 4294967296]))
        gm_cols = [c("mid", "bigint", "int", mids + [12345, 1], key=True), c("name", "text", "text", TEXTS),
                   c("score", "double precision", "float8", graph_floats)]
        gr_cols = [c("nid", "text", "text", nids, key=True), c("mid", "bigint", "int", mids, key=True),
                   c("k", "bigint", "int", list(range(0, 300))), c("w", "bigint", "int", INT8S),
                   c("at", "date", "date", DATES), c("note", "text", "text", TEXTS),
                   c("f", "double precision", "float8", graph_floats)]
        self.gn_cols, self.gm_cols, self.gr_cols = gn_cols, gm_cols, gr_cols
        ddl = lambda cols: ", ".join(f"{x.name} {x.sqltype}" for x in cols)  # noqa: E731
        db.execute(f"CREATE FOREIGN TABLE {F}.gn ({ddl(gn_cols)}, _id text) SERVER {self.server} "
                   f"OPTIONS (label {quote(self.N)}, key 'nid', detach 'true')")
        db.execute(f"CREATE FOREIGN TABLE {F}.gm ({ddl(gm_cols)}, _id text) SERVER {self.server} "
                   f"OPTIONS (label {quote(self.M)}, key 'mid')")
        db.execute(f"CREATE FOREIGN TABLE {F}.gr ({ddl(gr_cols)}) SERVER {self.server} OPTIONS (type {quote(self.R)}, "
                   f"start_label {quote(self.N)}, start_key 'nid', end_label {quote(self.M)}, end_key 'mid', merge_on 'k')")
        db.execute(f"CREATE TABLE {H}.gn ({ddl(gn_cols)}, _id text, PRIMARY KEY (nid))")
        db.execute(f"CREATE TABLE {H}.gm ({ddl(gm_cols)}, _id text, PRIMARY KEY (mid))")
        db.execute(f"CREATE TABLE {H}.gr ({ddl(gr_cols)}, PRIMARY KEY (nid, mid, k), "
                   f"FOREIGN KEY (nid) REFERENCES {H}.gn (nid) ON UPDATE CASCADE ON DELETE CASCADE, "
                   f"FOREIGN KEY (mid) REFERENCES {H}.gm (mid) ON UPDATE CASCADE)")

        def value(col, p=0.15):
            return None if rng.random() < p else rng.choice(col.pool)

        # nodes: half through the FDW (any value), half with CREATE through odp.cypher
        # (JSON parameters: finite floats, dates and datetimes as strings)
        for cols, table, label in ((gm_cols, "gm", self.M), (gn_cols, "gn", self.N)):
            keys = mids if table == "gm" else nids
            odp, cyp = [], []
            for k in keys:
                vals = [k] + [value(x) for x in cols[1:]]
                finite = all(not (isinstance(v, float) and not json_safe(v)) for v in vals)
                (cyp if finite and rng.random() < 0.5 else odp).append(vals)
            lits = lambda rows: [[x.lit(v) for x, v in zip(cols, r)] for r in rows]  # noqa: E731
            names = [x.name for x in cols]
            insert_rows(db, f"{H}.{table}", names, lits(odp) + lits(cyp))
            if odp:
                keylist = [r[0] for r in odp]
                db.execute(f"INSERT INTO {F}.{table} ({', '.join(names)}) SELECT {', '.join(names)} FROM {H}.{table} "
                           f"WHERE {names[0]} = ANY(%s)", [keylist])
            if cyp:
                sets = []
                for x in cols:
                    src = f"r.{x.name}"
                    if x.kind == "date":
                        src = f"CASE WHEN r.{x.name} IS NULL THEN null ELSE date(r.{x.name}) END"
                    elif x.kind == "timestamptz":
                        src = f"CASE WHEN r.{x.name} IS NULL THEN null ELSE datetime(r.{x.name}) END"
                    elif x.kind == "int":
                        src = f"toInteger(r.{x.name})"
                    sets.append(f"n.`{x.name}` = {src}")
                payload = []
                for r in cyp:
                    obj = {}
                    for x, v in zip(cols, r):
                        if v is None:
                            continue
                        if x.kind == "int":
                            v = str(v)
                        elif x.kind == "timestamptz":
                            v = db.one("SELECT to_char(%s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", [v])
                        obj[x.name] = v
                    payload.append(obj)
                cypher(db, self.server, f"UNWIND $rows AS r CREATE (n:`{label}`) SET {', '.join(sets)}", {"rows": payload})
        # relationships
        rels = []
        for k in range(rng.randint(150, 220)):
            nid, mid = rng.choice(nids), rng.choice(mids)
            rels.append([nid, mid, k] + [value(x) for x in gr_cols[3:]])
        names = [x.name for x in gr_cols]
        insert_rows(db, f"{H}.gr", names, [[x.lit(v) for x, v in zip(gr_cols, r)] for r in rels])
        odp = [r for r in rels if rng.random() < 0.5 or any(isinstance(v, float) and not json_safe(v) for v in r)]
        odp_k = {r[2] for r in odp}
        if odp:
            db.execute(f"INSERT INTO {F}.gr SELECT * FROM {H}.gr WHERE k = ANY(%s)", [sorted(odp_k)])
        payload = []
        for r in rels:
            if r[2] in odp_k:
                continue
            obj = {"nid": r[0], "mid": str(r[1]), "k": str(r[2])}
            for x, v in zip(gr_cols[3:], r[3:]):
                if v is not None:
                    obj[x.name] = str(v) if x.kind == "int" else v
            payload.append(obj)
        if payload:
            cypher(db, self.server,
                   f"UNWIND $rows AS r MATCH (s:`{self.N}` {{nid: r.nid}}), (e:`{self.M}` {{mid: toInteger(r.mid)}}) "
                   f"CREATE (s)-[x:`{self.R}`]->(e) SET x.k = toInteger(r.k), x.w = toInteger(r.w), "
                   f"x.at = CASE WHEN r.at IS NULL THEN null ELSE date(r.at) END, x.note = r.note, x.f = r.f",
                   {"rows": payload})
        # element ids, as the graph reports them
        for table, key in (("gn", "nid"), ("gm", "mid")):
            db.execute(f"UPDATE {H}.{table} h SET _id = f._id FROM {F}.{table} f WHERE f.{key} = h.{key}")
            db.execute(f"ANALYZE {H}.{table}")
        db.execute(f"ANALYZE {H}.gr")
        ids = self.heap_values("SELECT _id FROM {s}.gn") + self.heap_values("SELECT _id FROM {s}.gm")
        self.ids = ids
        idcol = Col("_id", "text", "text", rng.sample(ids, min(20, len(ids))) + ["#0:0", "nope", ""])
        self.tables = [Table("gn", gn_cols + [idcol], ["nid"]), Table("gm", gm_cols + [idcol], ["mid"]),
                       Table("gr", gr_cols, ["nid", "mid", "k"])]
        make_probe(db, "probe_nid", "text", rng.sample(nids, 20) + ["nope", None, "a", "a"])
        make_probe(db, "probe_mid", "bigint", rng.sample(mids, 10) + [12345, None, 0])
        self.probes = {"gn": {"nid": "probe_nid", "i8": "probe_mid"}, "gm": {"mid": "probe_mid"},
                       "gr": {"nid": "probe_nid", "mid": "probe_mid"}}
        # mistyped properties: pushdown may skip them, never change a clean node's answer
        dirty = [{"nid": "d1", "i4": 5, "f8": 1.5, "b": True, "t": "x", "i8": 5},
                 {"nid": "d2", "i4": "5", "i8": 6}, {"nid": "d3", "i4": 7, "f8": "x"}, {"nid": "d4", "i4": 5.5},
                 {"nid": "d5", "b": "true", "i4": 1}, {"nid": "d6", "t": 12, "i4": 2}, {"nid": "d7", "i4": 3000000000},
                 {"nid": "d8", "f8": 2.5, "i8": "7"}, {"nid": "d9", "i8": 9.5, "b": False}, {"nid": "d10", "t": "y", "i4": 9},
                 {"nid": "d11", "i4": 5, "b": "false", "f8": 1}, {"nid": "d12", "i4": [5], "t": ["x"]}]
        cypher(db, self.server, f"UNWIND $rows AS r CREATE (n:`{self.D}`) SET n += r", {"rows": dirty})
        gd_cols = "nid text, i4 integer, f8 double precision, b boolean, t text, i8 bigint"
        db.execute(f"CREATE FOREIGN TABLE {F}.gd ({gd_cols}) SERVER {self.server} OPTIONS (label {quote(self.D)})")
        db.execute(f"CREATE TABLE {H}.gd ({gd_cols}, dirty text[])")
        # which values are mistyped: reading them alone, node by node
        for node in dirty:
            good, bad = {}, []
            for col in ("i4", "f8", "b", "t", "i8"):
                try:
                    good[col] = db.one(f"SELECT {col} FROM {F}.gd WHERE nid = %s", [node["nid"]])
                except psycopg.Error:
                    bad.append(col)
            db.execute(f"INSERT INTO {H}.gd VALUES (%s, %s, %s, %s, %s, %s, %s)",
                       [node["nid"], good.get("i4"), good.get("f8"), good.get("b"), good.get("t"), good.get("i8"), bad])
        self.dirty_cols = [Col("nid", "text", "text", ["d1", "d2", "d3", "d5", "d7", "x", "d"], key=True),
                           Col("i4", "integer", "int", [5, 7, 1, 2, 9, 0]),
                           Col("f8", "double precision", "float8", [1.5, 2.5, 0.0, 100.0, 1.0]),
                           Col("b", "boolean", "bool", [True, False]), Col("t", "text", "text", ["x", "y", "12", ""]),
                           Col("i8", "bigint", "int", [5, 6, 7, 9, 0])]

    def read_generators(self):
        rng = self.rng
        gens = super().read_generators()
        gn, gm, gr = self.tables

        def ff(a, acol, b, bcol):
            def g():
                kind = rng.choice(["JOIN", "JOIN", "LEFT JOIN"])
                return Query(f"SELECT {a.select_list(rng, 'a')}, {b.select_list(rng, 'b')} FROM {{s}}.{a.name} a {kind} "
                             f"{{s}}.{b.name} b ON b.{bcol} = a.{acol} WHERE {where(rng, a.cols, 'a', 1)}",
                             settings=join_settings(rng))
            return (3, g)

        def path():
            return Query(f"SELECT n.nid, m.mid, r.k FROM {{s}}.gn n JOIN {{s}}.gr r ON r.nid = n.nid JOIN {{s}}.gm m "
                         f"ON m.mid = r.mid WHERE {where(rng, gn.cols, 'n', 1)} AND {where(rng, gm.cols, 'm', 1)}",
                         settings=join_settings(rng))

        def dirty():
            cols = self.dirty_cols
            sel = rng.choice(["nid", "nid, i4, f8, b, t, i8", "nid, i4", "nid, t", "nid, b, f8", "i8"])
            w = where(rng, cols, "", 2)
            referenced = [c.name for c in cols if re.search(rf"\b{c.name}\b", sel + " " + w)]
            return Query(f"SELECT {sel} FROM {{s}}.gd WHERE {w}", pushdown_check=True, params=(sel, w, referenced))
        gens += [ff(gn, "nid", gr, "nid"), ff(gr, "nid", gn, "nid"), ff(gm, "mid", gr, "mid"), ff(gr, "mid", gm, "mid"),
                 ff(gn, "i8", gm, "mid"), ff(gn, "t", gn, "nid"), (2, path), (3, dirty)]
        return gens

    def contents(self):
        return ["SELECT nid, i8, i4, f8, b, t, d, ts, tags FROM {s}.gn", "SELECT mid, name, score FROM {s}.gm",
                "SELECT * FROM {s}.gr"]

    def columns_of(self):
        return {"gn": ", ".join(c.name for c in self.gn_cols), "gm": ", ".join(c.name for c in self.gm_cols),
                "gr": ", ".join(c.name for c in self.gr_cols)}

    def write_generators(self):
        rng = self.rng
        gn_cols, gm_cols, gr_cols = self.gn_cols, self.gm_cols, self.gr_cols

        def vals(cols):
            return [x.lit(None if rng.random() < 0.2 else rng.choice(x.pool)) for x in cols]

        def upsert(table, cols, key):
            rest = [x.name for x in cols if x.name not in key]
            return f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET ({', '.join(rest)}) = ROW({', '.join('EXCLUDED.' + r for r in rest)})"

        def existing(sql, k):
            v = self.heap_values(sql)
            return rng.sample(v, min(k, len(v)))

        def node_insert():
            n = self.next_id()
            if rng.random() < 0.5:
                keys = [f"g{n}{rng.choice(['', 'é', '%'])}{i}" for i in range(rng.randint(1, 3))]
                if rng.random() < 0.4:
                    keys = list(dict.fromkeys(keys[:1] + existing("SELECT nid FROM {s}.gn", 2)))
                rows = ", ".join("(" + ", ".join([quote(k)] + vals(gn_cols[1:])) + ")" for k in keys)
                names = ", ".join(x.name for x in gn_cols)
                return Write(f"INSERT INTO {{s}}.gn ({names}) VALUES {rows}",
                             f"INSERT INTO {{s}}.gn ({names}) VALUES {rows}{upsert('gn', gn_cols, ['nid'])}")
            keys = [n * 1000 + i for i in range(rng.randint(1, 3))]
            if rng.random() < 0.4:
                keys = list(dict.fromkeys(keys[:1] + existing("SELECT mid FROM {s}.gm", 2)))
            rows = ", ".join("(" + ", ".join([str(k)] + vals(gm_cols[1:])) + ")" for k in keys)
            names = ", ".join(x.name for x in gm_cols)
            return Write(f"INSERT INTO {{s}}.gm ({names}) VALUES {rows}",
                         f"INSERT INTO {{s}}.gm ({names}) VALUES {rows}{upsert('gm', gm_cols, ['mid'])}")

        def rel_insert():
            rows = []
            nids = existing("SELECT nid FROM {s}.gn", 3)
            mids = existing("SELECT mid FROM {s}.gm", 3)
            if not nids or not mids:
                return node_insert()
            ks = existing("SELECT k FROM {s}.gr", 2)
            for _ in range(rng.randint(1, 3)):
                k = rng.choice(ks) if ks and rng.random() < 0.2 else 10000 + self.next_id()
                nid = rng.choice(nids + (["missing"] if rng.random() < 0.1 else []))
                rows.append((nid, rng.choice(mids), k))
            rows = list({(r[0], r[1], r[2]): r for r in rows}.values())
            text = ", ".join("(" + ", ".join([quote(a), str(b), str(k)] + vals(gr_cols[3:])) + ")" for a, b, k in rows)
            return Write(f"INSERT INTO {{s}}.gr VALUES {text}",
                         f"INSERT INTO {{s}}.gr VALUES {text}{upsert('gr', gr_cols, ['nid', 'mid', 'k'])}")

        def assignment(col):
            if rng.random() < 0.3:
                return f"{col.name} = NULL"
            if rng.random() < 0.7:
                return f"{col.name} = {col.lit(rng.choice(col.pool))}"
            return {"int": f"{col.name} = {col.name} / 2", "float8": f"{col.name} = {col.name} * -1",
                    "bool": f"{col.name} = NOT {col.name}", "text": f"{col.name} = {col.name} || 'ü'",
                    "date": f"{col.name} = {col.name} + 7", "timestamptz": f"{col.name} = {col.name} + interval '1 second'",
                    "textarr": f"{col.name} = array_append({col.name}, 'z')"}[col.kind]

        def update():
            table, cols = rng.choice([("gn", self.tables[0].cols), ("gm", self.tables[1].cols), ("gr", gr_cols)])
            value_cols = {"gn": gn_cols[1:], "gm": gm_cols[1:], "gr": gr_cols[3:]}[table]
            sets = ", ".join(assignment(x) for x in rng.sample(value_cols, rng.randint(1, min(3, len(value_cols)))))
            wcols = [x for x in cols if x.name != "_id"]
            return Write(f"UPDATE {{s}}.{table} SET {sets} WHERE {where(rng, wcols)}")

        def update_key():
            n = self.next_id()
            if rng.random() < 0.5:
                return Write(f"UPDATE {{s}}.gn SET nid = nid || '~{n}' WHERE {where(rng, gn_cols)}")
            if rng.random() < 0.5:
                return Write(f"UPDATE {{s}}.gm SET mid = mid % 1000000 + {n * 1000000} WHERE {where(rng, gm_cols)}")
            # relationships cannot move to other end nodes
            return Write(f"UPDATE {{s}}.gr SET mid = mid + 1 WHERE {where(rng, gr_cols)}", refusals=["0A000"])

        def delete():
            table, cols = rng.choice([("gn", gn_cols), ("gm", gm_cols), ("gr", gr_cols), ("gr", gr_cols)])
            return Write(f"DELETE FROM {{s}}.{table} WHERE {narrow_where(rng, cols)}")

        def transaction():
            n = self.next_id()
            a = f"INSERT INTO {{s}}.gn (nid, i4) VALUES ('tx{n}', {n})"
            ah = a
            d = f"DELETE FROM {{s}}.gr WHERE {narrow_where(rng, gr_cols)}"
            shape = rng.choice([["BEGIN", a, "SAVEPOINT s", d, "ROLLBACK TO SAVEPOINT s", "COMMIT"],
                                ["BEGIN", d, a, "ROLLBACK"], ["BEGIN", a, "SAVEPOINT s", d, "COMMIT"]])
            return Write(shape, [s.replace(a, ah) for s in shape], compare_counts=False)

        return [(3, node_insert), (3, rel_insert), (4, update), (1, update_key), (2, delete), (1, transaction)]

    def teardown(self):
        for label in (self.N, self.M, self.D):
            # (through the seed's server `graph` if ours went: the extension re-created)
            for server in (self.server, "graph"):
                try:
                    cypher(self.db, server, f"MATCH (n:`{label}`) DETACH DELETE n")
                    break
                except psycopg.Error as e:
                    if server == "graph":
                        print(f"  (graph cleanup of {label}: {e})")
        self.db.execute(f"DROP SERVER IF EXISTS {self.server} CASCADE")


class CrossSource(Source):
    """Joins across sources: lookups of one source keyed by another's rows."""
    name = "cross"

    def __init__(self, db, rng, sources):
        super().__init__(db, rng)
        self.sources = {s.name: s for s in sources}

    def setup(self):
        pass

    def read_generators(self):
        rng = self.rng
        s = self.sources
        gens = []

        def pair(a, acol, b, bcol, on=None):
            def g():
                kind = rng.choice(["JOIN", "JOIN", "LEFT JOIN"])
                cond = on or f"b.{bcol} = a.{acol}"
                return Query(f"SELECT {a.select_list(rng, 'a')}, {b.select_list(rng, 'b')} FROM {{s}}.{a.name} a {kind} "
                             f"{{s}}.{b.name} b ON {cond} WHERE {where(rng, a.cols, 'a', 1)}", settings=join_settings(rng))
            return (1, g)
        t = lambda src, name: next(x for x in s[src].tables if x.name == name)  # noqa: E731
        if "redis" in s and "graph" in s:
            gens += [pair(t("redis", "rh"), "uid", t("graph", "gn"), "nid"), pair(t("graph", "gn"), "nid", t("redis", "rh"), "uid"),
                     pair(t("graph", "gr"), "nid", t("redis", "rh"), "uid"), pair(t("redis", "rk"), "n", t("graph", "gm"), "mid"),
                     pair(t("graph", "gn"), "i4", t("redis", "rs"), "id"), pair(t("redis", "rh"), "i8", t("graph", "gn"), "i8")]
        if "redis" in s and "objects" in s:
            gens += [pair(t("redis", "rh"), "uid", t("objects", "ob"), "key", on="b.key = 'data/' || a.uid"),
                     pair(t("objects", "ob"), "key", t("redis", "rh"), "uid", on="b.uid = substr(a.key, 6)")]
        if "files" in s and "redis" in s:
            gens += [pair(t("files", "fp"), "t", t("redis", "rh"), "uid"), pair(t("files", "fp"), "i4", t("redis", "rs"), "id"),
                     pair(t("files", "fj"), "t", t("redis", "rset"), "user_id")]
        if "files" in s and "graph" in s:
            gens += [pair(t("files", "fp"), "i8", t("graph", "gm"), "mid"), pair(t("files", "fp"), "t", t("graph", "gn"), "nid"),
                     pair(t("graph", "gn"), "nid", t("files", "fp"), "t")]
        if "files" in s and "objects" in s:
            gens += [pair(t("files", "fc"), "name", t("objects", "ob"), "key", on="b.key = 'data/' || a.name")]
        return gens

    def avoid(self, sql):
        return any(src.avoid(sql) for src in self.sources.values())

    def intact(self):
        for src in self.sources.values():
            src.intact()

    def reads(self, n):
        gens = self.read_generators()
        if gens:
            super().reads(n)


# ---------------------------------------------------------------------------------

def main():
    print(f"differential_sources: seed {SEED} (ODP_DIFF_SEED), {N_QUERIES} queries per source "
          f"(ODP_DIFF_SOURCE_QUERIES), sources {','.join(SOURCES)}, tag {TAG}", flush=True)
    db = Db()
    db.execute(f"CREATE SCHEMA {F}")
    db.execute(f"CREATE SCHEMA {H}")
    classes = {"redis": RedisSource, "objects": ObjectsSource, "files": FilesSource, "graph": GraphSource}
    sources, failed = [], False
    try:
        for name in SOURCES:
            if name in classes:
                # (a source's own stream: the same seed reproduces it with ODP_DIFF_SOURCES=name)
                src = classes[name](db, random.Random(f"{SEED}:{name}"))
                sources.append(src)
                try:
                    src.report.timed(src.setup)
                except Exception:
                    src.report.failures += 1
                    print(f"SETUP FAILED [{name}]\n{traceback.format_exc()}", flush=True)
                    src.broken = True
        live = [s for s in sources if not getattr(s, "broken", False)]
        for src in live:
            src.report.timed(src.reads, N_QUERIES)
        if "cross" in SOURCES:
            cross = CrossSource(db, random.Random(f"{SEED}:cross"),
                                [s for s in live if not getattr(s, "broken", False)])
            sources.append(cross)
            cross.report.timed(cross.reads, max(10, N_QUERIES // 3))
        for src in live:
            src.report.timed(src.writes, max(10, N_QUERIES // 4))
    except Exception:
        failed = True
        print(f"ABORTED\n{traceback.format_exc()}", flush=True)
    finally:
        if not db.alive():
            db.connect()
        for src in sources:
            try:
                if hasattr(src, "teardown") and getattr(src, "server", None):
                    src.report.timed(src.teardown)
            except Exception as e:
                print(f"  (cleanup of {src.name}: {e})")
        db.execute(f"DROP SCHEMA IF EXISTS {F} CASCADE")
        db.execute(f"DROP SCHEMA IF EXISTS {H} CASCADE")
    lines = [src.report.line() for src in sources]
    for line in lines:
        print(line, flush=True)
    failed = failed or any(s.report.failures for s in sources)
    if failed:
        print(f"differential_sources: FAILED (seed {SEED})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
