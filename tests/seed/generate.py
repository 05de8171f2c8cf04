#!/usr/bin/env python3
"""Deterministic generator of ODP's seed data as Delta tables.

Scale factor 1 = 100k users, 10k products in 20 categories, 10M transactions over
365 days. Tables are partitioned by generated date columns (users.created_date =
CAST(created_at AS DATE), transactions.txn_date = CAST(transaction_time AS DATE)) and
by products.category. Transaction ids increase with time, so Delta statistics let a
reader skip files on transaction_id too.

usage: generate.py --scale 0.01 --out /path/or/s3://bucket/prefix [--heap-csv DIR]
"""
import argparse
import os

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

CATEGORIES = [
    "books", "electronics", "garden", "toys", "sports", "beauty", "grocery", "music",
    "movies", "automotive", "health", "jewelry", "shoes", "clothing", "furniture",
    "office", "pets", "baby", "tools", "games",
]
EPOCH = np.datetime64("2026-01-01T00:00:00", "us")
DAY_US = 86_400_000_000


def ts_field(name, nullable=True):
    return pa.field(name, pa.timestamp("us", tz="UTC"), nullable=nullable)


def generated_date(name, source):
    return pa.field(name, pa.date32(), nullable=True,
                    metadata={"delta.generationExpression": f"CAST({source} AS DATE)"})


def users(rng, n):
    ids = np.arange(1, n + 1)
    created = EPOCH - np.timedelta64(730 * DAY_US, "us") + (rng.integers(0, 730 * DAY_US, n)).astype("timedelta64[us]")
    created.sort()
    login = created + rng.integers(0, 30 * DAY_US, n).astype("timedelta64[us]")
    login_null = rng.random(n) < 0.1
    names = np.char.add("User ", ids.astype(str))
    emails = np.char.add(np.char.add("user", ids.astype(str)), "@example.com")
    schema = pa.schema([
        pa.field("user_id", pa.string()), pa.field("name", pa.string()), pa.field("email", pa.string()),
        ts_field("created_at"), ts_field("last_login"), generated_date("created_date", "created_at"),
    ])
    return pa.table({
        "user_id": [f"u{i:07d}" for i in ids],
        "name": names.tolist(),
        "email": emails.tolist(),
        "created_at": pa.array(created, pa.timestamp("us", tz="UTC")),
        "last_login": pa.array(np.where(login_null, np.datetime64("NaT"), login), pa.timestamp("us", tz="UTC")),
        "created_date": pa.array(created.astype("datetime64[D]"), pa.date32()),
    }, schema=schema)


def products(rng, n):
    ids = np.arange(1, n + 1)
    cats = np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)]
    price = np.round(rng.uniform(1, 500, n), 2)
    created = EPOCH - np.timedelta64(365 * DAY_US, "us") + rng.integers(0, 365 * DAY_US, n).astype("timedelta64[us]")
    schema = pa.schema([
        pa.field("product_id", pa.string()), pa.field("name", pa.string()), pa.field("category", pa.string()),
        pa.field("price", pa.float64()), ts_field("created_at"),
    ])
    return pa.table({
        "product_id": [f"p{i:06d}" for i in ids],
        "name": [f"Product {i}" for i in ids],
        "category": cats.tolist(),
        "price": price,
        "created_at": pa.array(created, pa.timestamp("us", tz="UTC")),
    }, schema=schema), price


def transactions(rng, n, n_users, prices):
    offsets = np.sort(rng.integers(0, 365 * DAY_US, n))
    when = EPOCH + offsets.astype("timedelta64[us]")
    user = rng.integers(1, n_users + 1, n)
    product = rng.integers(1, len(prices) + 1, n)
    qty = rng.integers(1, 6, n).astype(np.int32)
    total = np.round(prices[product - 1] * qty, 2)
    schema = pa.schema([
        pa.field("transaction_id", pa.string()), pa.field("user_id", pa.string()), pa.field("product_id", pa.string()),
        pa.field("quantity", pa.int32()), pa.field("total_amount", pa.float64()), ts_field("transaction_time"),
        generated_date("txn_date", "transaction_time"),
    ])
    return pa.table({
        "transaction_id": np.char.add("t", np.char.zfill(np.arange(1, n + 1).astype(str), 10)).tolist(),
        "user_id": np.char.add("u", np.char.zfill(user.astype(str), 7)).tolist(),
        "product_id": np.char.add("p", np.char.zfill(product.astype(str), 6)).tolist(),
        "quantity": qty,
        "total_amount": total,
        "transaction_time": pa.array(when, pa.timestamp("us", tz="UTC")),
        "txn_date": pa.array(when.astype("datetime64[D]"), pa.date32()),
    }, schema=schema)


def all_types():
    """Three rows covering every Delta type ODP maps, scalars and arrays of each (the
    second row holds empty arrays, the last row is all NULL)."""
    import datetime as dt
    from decimal import Decimal
    utc = dt.timezone.utc
    item = pa.struct([pa.field("sku", pa.string()), pa.field("qty", pa.int32())])
    schema = pa.schema([
        pa.field("id", pa.int64()), pa.field("s", pa.string()), pa.field("i", pa.int32()),
        pa.field("sh", pa.int16()), pa.field("b", pa.int8()), pa.field("d", pa.float64()),
        pa.field("f", pa.float32()), pa.field("ok", pa.bool_()), pa.field("day", pa.date32()),
        pa.field("ts", pa.timestamp("us", tz="UTC")), pa.field("ts_ntz", pa.timestamp("us")),
        pa.field("amount", pa.decimal128(10, 2)), pa.field("raw", pa.binary()),
        pa.field("tags", pa.list_(pa.string())), pa.field("scores", pa.list_(pa.int64())),
        pa.field("address", pa.struct([pa.field("city", pa.string()), pa.field("zip", pa.int32())])),
        pa.field("attrs", pa.map_(pa.string(), pa.string())),
        pa.field("ints", pa.list_(pa.int32())), pa.field("shorts", pa.list_(pa.int16())),
        pa.field("tiny", pa.list_(pa.int8())), pa.field("doubles", pa.list_(pa.float64())),
        pa.field("floats", pa.list_(pa.float32())), pa.field("flags", pa.list_(pa.bool_())),
        pa.field("days", pa.list_(pa.date32())), pa.field("stamps", pa.list_(pa.timestamp("us", tz="UTC"))),
        pa.field("stamps_ntz", pa.list_(pa.timestamp("us"))),
        pa.field("amounts", pa.list_(pa.decimal128(10, 2))), pa.field("blobs", pa.list_(pa.binary())),
        pa.field("items", pa.list_(item)), pa.field("matrix", pa.list_(pa.list_(pa.int64()))),
    ])
    rows = [
        (1, "héllo 'quoted'", 2147483647, -32768, -128, 1.5, 2.25, True, dt.date(2026, 3, 1),
         dt.datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=utc), dt.datetime(2026, 3, 1, 12, 30),
         Decimal("12345678.90"), b"\x00\xff", ["a", None, "c"], [1, 2], {"city": "Oslo", "zip": 150}, [("k", "v")],
         [1, None, -2147483648], [32767, -1], [-128, 127], [0.5, None, -0.0], [0.25, 1.5], [True, None, False],
         [dt.date(2026, 3, 1), dt.date(1969, 12, 31)], [dt.datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=utc)],
         [dt.datetime(2000, 1, 1, 23, 59, 59)], [Decimal("-0.01"), None, Decimal("99999999.99")],
         [b"\x01", b""], [{"sku": "p1", "qty": 2}, {"sku": None, "qty": None}], [[1, 2], [], None, [3]]),
        (2, "", -1, 0, 0, -0.0, 0.0, False, dt.date(1969, 12, 31),
         dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=utc), dt.datetime(2000, 1, 1),
         Decimal("-0.01"), b"", [], [], {"city": None, "zip": None}, [],
         [], [], [], [], [], [], [], [], [], [], [], [], []),
        (3,) + (None,) * 29,
    ]
    columns = list(zip(*rows))
    return pa.table([pa.array(list(c), type=f.type) for c, f in zip(columns, schema)], schema=schema)


def numbers():
    """Float specials, float4 values, decimals at full precision and integers beyond
    2^53, partitioned by a decimal: five files whose statistics leave NaN out, so file
    and row-group skipping must never drop a row Postgres would return."""
    from decimal import Decimal
    nan, inf = float("nan"), float("inf")
    parts = {
        "12.34": ([1.0, 2.0, nan], [0.1, 0.05, 0.1],
                  ["12345678901234567890.123456789012345678", "12345678901234567890.123456789012345677", "1.000000000000000001"],
                  [9223372036854775807, 9223372036854775806, 9007199254740993]),
        "12.35": ([inf, -inf, 0.0], [nan, inf, -inf],
                  ["-0.000000000000000001", "0", None], [9007199254740992, -9223372036854775808, 0]),
        "0.01": ([-0.0, 1.5, 1e308], [0.2, 16777217.0, 3.4e38],
                  ["99999999999999999999.999999999999999999", "-99999999999999999999.999999999999999999", "0.5"],
                  [None, 1, -1]),
        "0.00": ([None, 5e-324, 0.1], [None, 1 / 3, 0.0],
                 ["12345678901234567890.123456789012345679", "3.141592653589793238", "2.718281828459045235"],
                 [42, 9007199254740995, 9007199254740994]),
        "100.10": ([nan, nan, nan], [-0.0, 0.1, 0.3], ["0.1", "0.2", "0.3"], [100, 200, 300]),
    }
    rows = {"id": [], "f8": [], "f4": [], "dec": [], "big": [], "part": []}
    for part, (f8, f4, dec, big) in parts.items():
        for i in range(3):
            rows["id"].append(len(rows["id"]) + 1)
            rows["f8"].append(f8[i])
            rows["f4"].append(f4[i])
            rows["dec"].append(None if dec[i] is None else Decimal(dec[i]))
            rows["big"].append(big[i])
            rows["part"].append(Decimal(part))
    schema = pa.schema([
        pa.field("id", pa.int64()), pa.field("f8", pa.float64()), pa.field("f4", pa.float32()),
        pa.field("dec", pa.decimal128(38, 18)), pa.field("big", pa.int64()), pa.field("part", pa.decimal128(10, 2)),
    ])
    return pa.table(rows, schema=schema)


def events_tokyo(rng, n=2000):
    """Events whose `day` was computed in UTC+09:00, as a Spark writer with
    spark.sql.session.timeZone=Asia/Tokyo files them: late-UTC events land on the next
    day's partition. delta-rs checks generated columns in UTC, so the generation
    expression is declared afterwards by `declare_generated`."""
    start = np.datetime64("2026-03-01T00:00:00", "us")
    ts = start + np.sort(rng.integers(0, 10 * DAY_US, n)).astype("timedelta64[us]")
    local = ts + np.timedelta64(9 * 3600 * 1_000_000, "us")
    schema = pa.schema([
        pa.field("event_id", pa.int64()), ts_field("ts"), pa.field("day", pa.date32()),
    ])
    return pa.table({
        "event_id": np.arange(1, n + 1),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "day": pa.array(local.astype("datetime64[D]"), pa.date32()),
    }, schema=schema)


def declare_generated(table_dir, column, expression):
    """Adds `delta.generationExpression` to a column in the first commit's schema, as a
    writer that evaluated it itself (Spark) records it."""
    import json
    log = os.path.join(table_dir, "_delta_log", "00000000000000000000.json")
    actions = [json.loads(line) for line in open(log)]
    for action in actions:
        if "metaData" in action:
            schema = json.loads(action["metaData"]["schemaString"])
            for field in schema["fields"]:
                if field["name"] == column:
                    field["metadata"]["delta.generationExpression"] = expression
            action["metaData"]["schemaString"] = json.dumps(schema)
    with open(log, "w") as f:
        f.write("".join(json.dumps(a) + "\n" for a in actions))


def storage_options(out):
    if not out.startswith("s3://"):
        return None
    return {
        "AWS_ENDPOINT_URL": os.environ["ODP_S3_ENDPOINT"], "AWS_ACCESS_KEY_ID": "odp", "AWS_SECRET_ACCESS_KEY": "odp",
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--out", required=True)
    ap.add_argument("--csv", help="also write CSV copies (for heap tables) into this directory")
    args = ap.parse_args()
    rng = np.random.default_rng(20261124)
    n_users = max(10, int(100_000 * args.scale))
    n_products = max(20, int(10_000 * args.scale))
    n_txn = max(100, int(10_000_000 * args.scale))
    u = users(rng, n_users)
    p, prices = products(rng, n_products)
    t = transactions(rng, n_txn, n_users, prices)
    opts = storage_options(args.out)
    out = args.out.rstrip("/")
    write_deltalake(f"{out}/users", u, partition_by=["created_date"], mode="overwrite", storage_options=opts)
    write_deltalake(f"{out}/products", p, partition_by=["category"], mode="overwrite", storage_options=opts)
    write_deltalake(f"{out}/transactions", t, partition_by=["txn_date"], mode="overwrite", storage_options=opts)
    write_deltalake(f"{out}/all_types", all_types(), mode="overwrite", storage_options=opts)
    n = numbers()
    write_deltalake(f"{out}/numbers", n, partition_by=["part"], mode="overwrite", storage_options=opts)
    e = events_tokyo(rng)
    write_deltalake(f"{out}/events_tokyo", e, partition_by=["day"], mode="overwrite", storage_options=opts)
    if opts is None:
        declare_generated(f"{out}/events_tokyo", "day", "CAST(ts AS DATE)")
    if args.csv:
        import pyarrow.csv as pacsv
        os.makedirs(args.csv, exist_ok=True)
        for name, table in (("users", u), ("products", p), ("transactions", t), ("numbers", n),
                            ("events_tokyo", e)):
            pacsv.write_csv(table, os.path.join(args.csv, f"{name}.csv"))
    print(f"users={n_users} products={n_products} transactions={n_txn} -> {out}")


if __name__ == "__main__":
    main()
