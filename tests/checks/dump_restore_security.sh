#!/usr/bin/env bash
# Dump and restore keep ODP's security state: row policies, resource policies, API keys,
# JWT keys and grants survive pg_dump -> a new database -> pg_restore, and a restricted
# role still sees only its own rows there, also when the restored table's columns have
# other attribute numbers (a column dropped before the dump).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
src=odp_dump_src dst=odp_dump_dst dump=$(mktemp /tmp/odp-dump.XXXXXX)
drop_all() { for db in $src $dst; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done; }
trap 'drop_all; rm -f "$dump"' EXIT
drop_all
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$@"; }
psql -X -q -d postgres -c "CREATE DATABASE $src"
key=$(q $src -v root="$ODP_DATA/lake-${ODP_SEED_SCALE:-0.01}" <<'SQL' | tail -n 1
SET client_min_messages = warning;
CREATE EXTENSION odp;
SELECT odp.install_roles();
CREATE SERVER lake FOREIGN DATA WRAPPER delta_fdw OPTIONS (root :'root');
CREATE SCHEMA shop;
CREATE FOREIGN TABLE shop.transactions (gone int, transaction_id text, user_id text, total_amount float8)
    SERVER lake OPTIONS (path 'transactions');
ALTER FOREIGN TABLE shop.transactions DROP COLUMN gone;
GRANT USAGE ON SCHEMA shop TO odp_authenticated;
GRANT SELECT ON shop.transactions TO odp_authenticated;
SELECT odp.create_row_policy('shop.transactions', 'own', $$user_id = odp.current_claims() ->> 'sub'$$, '{odp_authenticated}');
SELECT odp.allow_resource('delta:transactions', 'read', 'odp_authenticated');
SELECT odp.add_jwt_key('dump-kid', 'HS256', 'a secret for the dump test, 32 bytes or more');
SELECT odp.create_api_key('dump_key', 'odp_authenticated');
SQL
)
# what a request of user u0000042 sees, as PostgREST would ask
sees() {
  q "$1" <<'SQL'
SET SESSION AUTHORIZATION odp_authenticator;
SET ROLE odp_authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "u0000042"}', false) IS NULL;
SELECT count(*) || ' rows of ' || count(DISTINCT user_id) || ' user(s), ' || coalesce(min(user_id), '-')
  FROM shop.transactions;
SQL
}
state() {
  q "$1" <<'SQL'
SELECT string_agg(format('%s %s %s %s', table_name, name, using_expr, roles), '; ') FROM odp.row_policies;
SELECT string_agg(format('%s %s %s', resource, action, principal), '; ') FROM odp.resource_policies;
SELECT string_agg(name || ' ' || role, '; ') FROM odp.api_keys;
SELECT string_agg(kid || ' ' || algorithm, '; ') FROM odp.jwt_keys;
SELECT has_table_privilege('odp_authenticated', 'shop.transactions', 'SELECT');
SQL
}
before_rows=$(sees $src | tail -n 1)
before_state=$(state $src)
pg_dump -Fc -d $src -f "$dump"
psql -X -q -d postgres -c "CREATE DATABASE $dst"
pg_restore -d $dst "$dump"
after_rows=$(sees $dst | tail -n 1)
after_state=$(state $dst)
authenticated=$(q $dst -c "SELECT odp.authenticate('$key') ->> 'role'" | tail -n 1)
fail() { echo "dump/restore: $*"; exit 1; }
case "$before_rows" in *" of 1 user(s), u0000042") ;; *) fail "before the dump the role saw: $before_rows" ;; esac
[ "$after_rows" = "$before_rows" ] || fail "after restore the role sees '$after_rows', before '$before_rows'"
[ "$after_state" = "$before_state" ] || fail "policies, keys or grants changed: before [$before_state] after [$after_state]"
[ "$authenticated" = odp_authenticated ] || fail "the API key does not authenticate after restore ($authenticated)"
echo "dump/restore: policies, resource policies, API and JWT keys and grants kept; the role still sees $after_rows"
