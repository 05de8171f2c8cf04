#!/usr/bin/env bash
# In a database whose default collation is ICU (PostgreSQL 15 `LOCALE_PROVIDER icu`),
# lc_collate still names a libc locale (here C.UTF-8, which sorts by bytes), but text
# compares by ICU's rules: ranges on text must not be pushed, equality still is.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
db=odp_icu_check
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
  -c "CREATE DATABASE $db TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"' EXIT
plan() { psql -X -qAt -d "$db" -c "EXPLAIN (COSTS OFF) $1"; }
psql -X -q -d "$db" -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION odp;
CREATE SERVER lake FOREIGN DATA WRAPPER delta_fdw OPTIONS (root '$ODP_DATA/lake-${ODP_SEED_SCALE:-0.01}');
CREATE FOREIGN TABLE users (user_id text, name text) SERVER lake OPTIONS (path 'users');
CREATE TABLE heap_users AS SELECT * FROM users;
SQL
[ "$(psql -X -qAt -d "$db" -c "SHOW lc_collate")" = "C.UTF-8" ] || { echo "lc_collate is not C.UTF-8"; exit 1; }
range=$(plan "SELECT * FROM users WHERE name > 'User 5'")
if echo "$range" | grep -q "Pushed Quals"; then echo "text range pushed under an ICU default collation:"; echo "$range"; exit 1; fi
equal=$(plan "SELECT * FROM users WHERE name = 'User 5'")
echo "$equal" | grep -q "Pushed Quals: name = 'User 5'" || { echo "equality not pushed:"; echo "$equal"; exit 1; }
# ICU puts 'User 6' after 'user 5'; byte order puts every 'User ...' before it
count() { psql -X -qAt -d "$db" -c "SELECT count(*) FROM $1 WHERE name > 'user 5'"; }
lake=$(count users); heap=$(count heap_users)
[ "$lake" = "$heap" ] && [ "$heap" -gt 0 ] || { echo "counts differ: lake $lake, heap $heap"; exit 1; }
