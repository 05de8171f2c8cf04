#!/usr/bin/env bash
# The soak's fast subset (`make soak` runs the whole): each service (Redis, moto,
# ArcadeDB) killed or frozen before and during reads and writes through ODP, and the
# Postgres backend killed (kill -9) at each step of COMMIT (tests/soak/faults.py
# --fast), then 20 s of pgbench through ODP's foreign tables (tests/soak/load.sh --fast).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
status=0
"$ODP_VENV/bin/python" "$ODP_ROOT/tests/soak/faults.py" --fast || status=1
bash "$ODP_ROOT/tests/soak/load.sh" --fast || status=1
exit $status
