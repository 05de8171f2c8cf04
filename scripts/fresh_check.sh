#!/usr/bin/env bash
# What a newcomer does on a new machine, in a new cache: `make demo`, then `make test`,
# both timed. The apt packages and cargo-pgrx are the only things reused (they live
# outside ODP_CACHE); CARGO_TARGET_DIR is reused when it is set, and otherwise lives in
# the new cache, so that the build is cold too. The services of the usual cache are
# stopped first: the new cache's services need the same ports.
# usage: fresh_check.sh   (make fresh)
set -euo pipefail
. "$(dirname "$0")/env.sh"
bash "$ODP_ROOT/scripts/services.sh" stop
fresh=$(mktemp -d /var/tmp/odp-fresh.XXXXXX)
export ODP_CACHE=$fresh CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$fresh/target}
log "fresh cache $ODP_CACHE, target $CARGO_TARGET_DIR"
# whatever happens, the new cache's services do not keep the ports
trap 'bash "$ODP_ROOT/scripts/services.sh" stop || true' EXIT
cd "$ODP_ROOT"
start=$(date +%s)
make --no-print-directory demo </dev/null
demo_s=$(( $(date +%s) - start ))
start=$(date +%s)
make --no-print-directory test </dev/null
test_s=$(( $(date +%s) - start ))
echo "FRESH cache=$fresh demo_s=$demo_s test_s=$test_s"
