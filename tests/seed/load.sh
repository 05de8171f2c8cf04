#!/usr/bin/env bash
# Generates the seed at a scale factor (generate.sh), copies it to the S3 stand-in, and
# (re)creates the odp objects and heap copies in the odp database.
# usage: load.sh SCALE   (ODP_SEED_S3=0 skips the upload to the S3 stand-in)
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
scale=${1:-0.01}
lake="$ODP_DATA/lake-$scale"
csv="$ODP_DATA/csv-$scale"
export ODP_S3_ENDPOINT="http://127.0.0.1:$ODP_S3_PORT"

bash "$ODP_ROOT/tests/seed/generate.sh" "$scale" >/dev/null

if [ "${ODP_SEED_S3:-1}" = 1 ]; then
log "upload seed to s3://odp-lake (moto)"
"$ODP_VENV/bin/python" - "$lake" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ODP_S3_ENDPOINT"], aws_access_key_id="odp",
                  aws_secret_access_key="odp", region_name="us-east-1")
if "odp-lake" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket="odp-lake")
root = sys.argv[1]
for table in ("users", "products", "transactions"):
    for d, _, files in os.walk(os.path.join(root, table)):
        for f in files:
            path = os.path.join(d, f)
            s3.upload_file(path, "odp-lake", "lake/" + os.path.relpath(path, root))
PY
log "upload images and documents to s3://odp-objects (moto)"
"$ODP_VENV/bin/python" - "$csv" <<'PY'
import csv, os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ODP_S3_ENDPOINT"], aws_access_key_id="odp",
                  aws_secret_access_key="odp", region_name="us-east-1")
if "odp-objects" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket="odp-objects")
def jpeg(label):
    # a JPEG start and end marker around a label: small, recognisable, typed by extension
    return b"\xff\xd8\xff\xe0" + label.encode() + b"\xff\xd9"
with open(os.path.join(sys.argv[1], "products.csv")) as f:
    for row in csv.DictReader(f):
        s3.put_object(Bucket="odp-objects", Key=f"images/products/{row['product_id']}.jpg",
                      Body=jpeg(row["name"]), ContentType="image/jpeg",
                      Metadata={"product-id": row["product_id"], "category": row["category"]})
with open(os.path.join(sys.argv[1], "users.csv")) as f:
    for i, row in enumerate(csv.DictReader(f)):
        if i % 10 == 0:
            s3.put_object(Bucket="odp-objects", Key=f"images/users/{row['user_id']}.jpg",
                          Body=jpeg(row["name"]), ContentType="image/jpeg",
                          Metadata={"user-id": row["user_id"]})
for name, body, kind in [("documents/returns-policy.txt", b"Returns within 30 days.\n", "text/plain"),
                         ("documents/shipping.txt", b"Shipping in 2-5 business days.\n", "text/plain"),
                         ("documents/catalog.csv", open(os.path.join(sys.argv[1], "products.csv"), "rb").read(), "text/csv")]:
    s3.put_object(Bucket="odp-objects", Key=name, Body=body, ContentType=kind)
PY
fi

log "create odp objects and heap copies"
psql -X -q -v ON_ERROR_STOP=1 -v lake_root="$lake" -v csv_dir="$csv" -v s3_endpoint="$ODP_S3_ENDPOINT" \
  -v redis_url="redis://127.0.0.1:$ODP_REDIS_PORT" \
  -v bolt_url="bolt://127.0.0.1:$ODP_BOLT_PORT" -v graph_password="$ODP_GRAPH_PASSWORD" \
  -f "$ODP_ROOT/sql/setup_lake.sql"
