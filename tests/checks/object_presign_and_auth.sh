#!/usr/bin/env bash
# object_fdw over HTTP. Presigned URLs, against s3rver (it checks a SigV4 URL's expiry
# and access key, not the signature itself; moto checks nothing): a GET URL fetched with
# curl, without credentials, returns exactly the bytes the FDW stored; once expired, or
# naming an unknown key, it is refused (403). Credentials, against a moto with IAM
# authentication on: the right ones read, wrong ones are refused with 28000.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  [ -n "${s3rver_pid:-}" ] && kill "$s3rver_pid" 2>/dev/null
  [ -n "${auth_pid:-}" ] && kill "$auth_pid" 2>/dev/null
  q -c "SET client_min_messages = warning; DROP SERVER IF EXISTS presign_check, auth_check_good, auth_check_bad CASCADE" >/dev/null
  rm -rf "$ODP_RUN/s3rver-data"
}
trap cleanup EXIT
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no server at $1"; exit 1; }

port=$((ODP_S3_PORT + 6))
mkdir -p "$ODP_RUN/s3rver-data"
"$ODP_S3RVER" -d "$ODP_RUN/s3rver-data" -a 127.0.0.1 -p "$port" --configure-bucket presign-check \
  >"$ODP_RUN/s3rver.log" 2>&1 &
s3rver_pid=$!
wait_http "http://127.0.0.1:$port/"
q -v ep="http://127.0.0.1:$port" <<'SQL'
CREATE SERVER presign_check FOREIGN DATA WRAPPER object_fdw OPTIONS (
    root 's3://presign-check', endpoint :'ep', allow_http 'true', path_style 'true');
CREATE USER MAPPING FOR PUBLIC SERVER presign_check OPTIONS (access_key_id 'S3RVER', secret_access_key 'S3RVER');
CREATE FOREIGN TABLE public.presign_check (key text, content bytea) SERVER presign_check OPTIONS (overwrite 'true');
INSERT INTO public.presign_check
  SELECT 'doc.bin', decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 200000) i;
SQL
url=$(q -c "SELECT odp.presign('presign_check', 'doc.bin', interval '5 minutes')")
want=$(q -c "SELECT md5(content) FROM public.presign_check WHERE key = 'doc.bin'")
got=$(curl -sf "$url" | md5sum | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "presigned GET returned other bytes ($got, want $want)"; exit 1; }
forged=$(echo "$url" | sed -E 's/X-Amz-Credential=[A-Za-z0-9]+/X-Amz-Credential=FORGED/')
code=$(curl -s -o /dev/null -w '%{http_code}' "$forged")
[ "$code" = 403 ] || { echo "a URL naming an unknown key was answered with $code"; exit 1; }
# X-Amz-Date counts whole seconds, so a URL signed late in a second is valid for less
# than its expiry: 3 seconds leave at least 2 to fetch it on a loaded machine
short=$(q -c "SELECT odp.presign('presign_check', 'doc.bin', interval '3 seconds')")
[ "$(curl -s -o /dev/null -w '%{http_code}' "$short")" = 200 ] || { echo "a fresh 3-second URL was refused"; exit 1; }
sleep 4
body=$(curl -s "$short")
case "$body" in *"Request has expired"*) ;; *) echo "an expired URL was answered: ${body:0:200}"; exit 1 ;; esac
echo "presigned GET: 3.2 MB byte-exact over HTTP without credentials; expired URL and unknown key refused"

# a second moto that authenticates requests: create a user and key while it still
# accepts unauthenticated calls, then the FDW must use them
port=$((ODP_S3_PORT + 7))
INITIAL_NO_AUTH_ACTION_COUNT=4 nohup "$ODP_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$ODP_RUN/moto-auth.log" 2>&1 &
auth_pid=$!
wait_http "http://127.0.0.1:$port/moto-api/"
read -r key secret < <("$ODP_VENV/bin/python" - "$port" <<'PY'
import boto3, json, sys
ep = f"http://127.0.0.1:{sys.argv[1]}"
iam = boto3.client("iam", endpoint_url=ep, aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
iam.create_user(UserName="odp")
k = iam.create_access_key(UserName="odp")["AccessKey"]
iam.put_user_policy(UserName="odp", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=k["AccessKeyId"],
                  aws_secret_access_key=k["SecretAccessKey"], region_name="us-east-1")
s3.create_bucket(Bucket="auth-check")
print(k["AccessKeyId"], k["SecretAccessKey"])
PY
)
q -v ep="http://127.0.0.1:$port" -v key="$key" -v secret="$secret" <<'SQL'
CREATE SERVER auth_check_good FOREIGN DATA WRAPPER object_fdw OPTIONS (
    root 's3://auth-check', endpoint :'ep', allow_http 'true', path_style 'true', request_timeout_ms '5000');
CREATE USER MAPPING FOR PUBLIC SERVER auth_check_good OPTIONS (access_key_id :'key', secret_access_key :'secret');
CREATE FOREIGN TABLE public.auth_check_good (key text, content bytea) SERVER auth_check_good;
CREATE SERVER auth_check_bad FOREIGN DATA WRAPPER object_fdw OPTIONS (
    root 's3://auth-check', endpoint :'ep', allow_http 'true', path_style 'true', request_timeout_ms '5000');
CREATE USER MAPPING FOR PUBLIC SERVER auth_check_bad OPTIONS (access_key_id 'AKIAWRONGWRONGWRONG1', secret_access_key 'wrong');
CREATE FOREIGN TABLE public.auth_check_bad (key text) SERVER auth_check_bad;
INSERT INTO public.auth_check_good VALUES ('a.txt', 'authenticated');
SQL
[ "$(q -c "SELECT convert_from(content, 'UTF8') FROM public.auth_check_good")" = authenticated ] \
  || { echo "the right credentials did not read back the object"; exit 1; }
state=$(psql -X -qAt -c "\\set VERBOSITY sqlstate" -c "SELECT * FROM public.auth_check_bad" 2>&1 || true)
case "$state" in *28000*) ;; *) echo "wrong credentials gave: $state"; exit 1 ;; esac
echo "credentials: right ones read, wrong ones refused with 28000"
