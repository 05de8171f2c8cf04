#!/usr/bin/env bash
# Installs everything ODP needs on Debian 12, idempotently and without prompts:
# apt packages, cargo-pgrx 0.18.0, pgrx's PG15 config, and a Python virtualenv with the
# local service stand-ins (moto for S3, ArcadeDB for Bolt) and the data tools, and s3rver
# (npm) for presigned-URL checks.
# usage: setup.sh [system|python]   (default: both; make runs the python part beside the
# build, which it does not depend on)
set -euo pipefail
. "$(dirname "$0")/env.sh"
part=${1:-all}

setup_system() {

APT_PACKAGES="sudo postgresql-15 postgresql-server-dev-15 libclang-dev clang redis-server python3-venv pkg-config curl iproute2 procps"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
# Debian's postgresql package starts its own cluster on 5432; ODP runs its own.
systemctl disable --now postgresql >/dev/null 2>&1 || true

# (a debug build: it compiles in half the time of a release build, and what it does,
# copying files and writing the extension's SQL, is no slower for it)
if ! cargo pgrx --version 2>/dev/null | grep -q "0.18.0"; then
  log "cargo install cargo-pgrx 0.18.0 (about 2 minutes)"
  cargo install cargo-pgrx --version 0.18.0 --locked --debug --quiet
fi
if ! grep -q "pg15" "$HOME/.pgrx/config.toml" 2>/dev/null; then
  log "cargo pgrx init --pg15"
  cargo pgrx init --pg15 /usr/bin/pg_config >/dev/null
fi

# initdb and postgres refuse root: the cluster and pgrx's test cluster run as postgres,
# and the server writes under these directories (sockets and logs in ODP_RUN, Delta
# tables and object roots in ODP_DATA, pgrx's test cluster in ODP_PGRX_TEST): they are
# handed to postgres whoever created them first (demo, test, bench, CI). The cache itself
# (venv, tools, build) and ODP_SERVICES, where root's services keep their pids, logs and
# data, stay root's; postgres only needs to traverse the cache (mktemp -d makes it 0700).
mkdir -p "$ODP_CACHE" "$ODP_RUN" "$ODP_DATA" "$ODP_PGRX_TEST" "$ODP_SERVICES"
chown root:root "$ODP_CACHE" "$ODP_SERVICES"
chown postgres:postgres "$ODP_RUN" "$ODP_DATA" "$ODP_PGRX_TEST"
chmod 755 "$ODP_CACHE" "$ODP_RUN" "$ODP_DATA" "$ODP_SERVICES"
}

setup_python() {
mkdir -p "$ODP_CACHE"
# The venv is (re)installed whenever requirements.txt changes.
wanted=$(sha256sum "$ODP_ROOT/scripts/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$ODP_VENV/bin/moto_server" ] || [ "$(cat "$ODP_VENV/.odp-ready" 2>/dev/null)" != "$wanted" ]; then
  log "python virtualenv with moto, arcadedb-embedded, deltalake, duckdb"
  python3 -m venv "$ODP_VENV"
  "$ODP_VENV/bin/pip" install -q --disable-pip-version-check -r "$ODP_ROOT/scripts/requirements.txt"
  echo "$wanted" >"$ODP_VENV/.odp-ready"
fi
# s3rver (npm): an S3 stand-in that verifies SigV4 presigned URLs (signature and expiry),
# which moto does not; tests/checks/object_presign_and_auth.sh fetches URLs through it.
if [ ! -x "$ODP_S3RVER" ]; then
  log "npm install s3rver 3.7.1"
  mkdir -p "$ODP_CACHE/s3rver"
  npm install --prefix "$ODP_CACHE/s3rver" --silent --no-audit --no-fund s3rver@3.7.1 >/dev/null
fi
}

case "$part" in
  system) setup_system ;;
  python) setup_python ;;
  all) setup_system; setup_python ;;
  *) echo "usage: $0 [system|python]" >&2; exit 2 ;;
esac
