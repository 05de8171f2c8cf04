# Sourced by every script: loads .env (or .env.example) and derives paths.
ODP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
set -a
# shellcheck disable=SC1091
if [ -f "$ODP_ROOT/.env" ]; then . "$ODP_ROOT/.env"; else . "$ODP_ROOT/.env.example"; fi
set +a
export ODP_ROOT
export ODP_VENV="$ODP_CACHE/venv"
export ODP_RUN="$ODP_CACHE/run"
export ODP_PGDATA="$ODP_CACHE/pgdata"
export ODP_DATA="$ODP_CACHE/data"
export PATH="$HOME/.cargo/bin:$PATH"
export PGHOST=127.0.0.1 PGPORT="$ODP_PG_PORT" PGUSER=postgres PGDATABASE=odp
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
