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
    if args.csv:
        import pyarrow.csv as pacsv
        os.makedirs(args.csv, exist_ok=True)
        for name, table in (("users", u), ("products", p), ("transactions", t)):
            pacsv.write_csv(table, os.path.join(args.csv, f"{name}.csv"))
    print(f"users={n_users} products={n_products} transactions={n_txn} -> {out}")


if __name__ == "__main__":
    main()
