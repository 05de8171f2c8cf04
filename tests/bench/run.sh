#!/usr/bin/env bash
# Loads the seed at ODP_BENCH_SCALE (default 1) and prints BENCH lines.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
scale=${ODP_BENCH_SCALE:-1}
# moto keeps objects in memory and is slow: benchmarks read the local copy only.
ODP_SEED_S3=0 bash "$ODP_ROOT/tests/seed/load.sh" "$scale" >&2
"$ODP_VENV/bin/python" "$ODP_ROOT/tests/bench/bench.py" --lake "$ODP_DATA/lake-$scale"
