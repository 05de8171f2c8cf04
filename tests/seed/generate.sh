#!/usr/bin/env bash
# Generates the seed at a scale factor into $ODP_DATA/lake-SCALE (Delta) and csv-SCALE
# (CSV copies for heap tables), unless the generator is unchanged since the last run.
# Prints the lake directory. usage: generate.sh SCALE
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
scale=${1:-0.01}
lake="$ODP_DATA/lake-$scale"
csv="$ODP_DATA/csv-$scale"
# The stamp is the generator's hash: a changed generator regenerates the data.
stamp=$(sha256sum "$ODP_ROOT/tests/seed/generate.py" | cut -d' ' -f1)
if [ "$(cat "$lake/.complete" 2>/dev/null)" != "$stamp" ]; then
  log "generate seed at scale $scale"
  rm -rf "$lake" "$csv"
  "$ODP_VENV/bin/python" "$ODP_ROOT/tests/seed/generate.py" --scale "$scale" --out "$lake" --csv "$csv" >&2
  echo "$stamp" >"$lake/.complete"
  # The backend runs as postgres: it reads the lake and the CSV copies.
  chown -R postgres:postgres "$lake" "$csv"
fi
echo "$lake"
