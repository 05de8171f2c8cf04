# Sourced by every script: loads .env (or .env.example) and derives paths.
# ODP_CACHE and CARGO_TARGET_DIR given in the environment win over the files, so
# `ODP_CACHE=$(mktemp -d) make test` sets up a new machine's state (everything but the
# apt packages and cargo-pgrx) while a warm CARGO_TARGET_DIR can still be reused.
ODP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
odp_cache_from_env=${ODP_CACHE:-}
set -a
# shellcheck disable=SC1091
if [ -f "$ODP_ROOT/.env" ]; then . "$ODP_ROOT/.env"; else . "$ODP_ROOT/.env.example"; fi
set +a
if [ -n "$odp_cache_from_env" ]; then ODP_CACHE=$odp_cache_from_env; fi
unset odp_cache_from_env
export ODP_CACHE
export ODP_ROOT
export ODP_VENV="$ODP_CACHE/venv"
export ODP_S3RVER="$ODP_CACHE/s3rver/node_modules/.bin/s3rver"
export ODP_RUN="$ODP_CACHE/run"
# pid files, logs and data of the services root runs (Redis, moto, ArcadeDB): not in a
# directory the postgres user may write, where it could plant a link root would follow
export ODP_SERVICES="$ODP_CACHE/services"
export ODP_PGDATA="$ODP_CACHE/pgdata"
export ODP_DATA="$ODP_CACHE/data"
export ODP_PGRX_TEST="$ODP_CACHE/pgrx-test"
export PATH="$HOME/.cargo/bin:$PATH"
export PGHOST=127.0.0.1 PGPORT="$ODP_PG_PORT" PGUSER=postgres PGDATABASE=odp
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
# `cargo pgrx test` runs a nested `cargo build` from inside the test binary, which
# inherits the CARGO_PKG_* variables cargo sets for tests. Build scripts (ring's, for
# one) re-run when those change, and everything above them rebuilds. Exporting the same
# values for every cargo command keeps one shared build instead of a rebuild per step.
ODP_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ODP_ROOT/Cargo.toml" | head -n 1)
export CARGO_PKG_NAME=odp CARGO_MANIFEST_DIR="$ODP_ROOT/extension"
export CARGO_PKG_VERSION_MAJOR="${ODP_VERSION%%.*}"
CARGO_PKG_VERSION_MINOR="${ODP_VERSION#*.}"; export CARGO_PKG_VERSION_MINOR="${CARGO_PKG_VERSION_MINOR%%.*}"
export CARGO_PKG_VERSION_PATCH="${ODP_VERSION##*.}" CARGO_PKG_VERSION_PRE=
