#!/usr/bin/env bash
# Transactions under concurrency and faults: compaction races, SERIALIZABLE, a cancel
# and a termination at each step of COMMIT, failures after the first atomic step,
# checkpoints, UPDATE ... FROM, protocol rules of other engines' tables, Redis renames
# (tests/checks/transactions.py; any scenario names as arguments run only those).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
"$ODP_VENV/bin/python" "$ODP_ROOT/tests/checks/transactions.py" "$@"
