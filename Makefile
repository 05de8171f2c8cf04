# ODP — the two commands a new user runs: `make demo` and `make test` (`make bench` for numbers).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c
ENV := . scripts/env.sh

.PHONY: demo test soak fresh bench setup pyenv install services stop seed lint unit pgtest sqltest demotest servicetest

## Set up everything, load a small sample and run showcase queries.
demo: setup
	$(MAKE) --no-print-directory -j2 install pyenv
	$(MAKE) --no-print-directory services seed
	bash scripts/demo.sh

## Set up everything and run every check; services are stopped at the end.
test: setup
	$(ENV)
	trap 'bash scripts/services.sh stop' EXIT
	$(MAKE) --no-print-directory -j2 lint pyenv
	$(MAKE) --no-print-directory unit pgtest install services seed sqltest demotest servicetest

## Reliability soak (issue 25): each service stopped, killed and frozen during reads and
## writes, the backend killed at each COMMIT step (tests/soak/faults.py), then 120 s of
## pgbench through ODP (tests/soak/load.sh); prints RELIABILITY and LOAD lines.
## Services are stopped at the end. (`make test` runs a fast subset: checks/soak_fast.sh.)
soak: setup
	$(ENV)
	trap 'bash scripts/services.sh stop' EXIT
	$(MAKE) --no-print-directory -j2 install pyenv
	$(MAKE) --no-print-directory services seed
	status=0
	"$$ODP_VENV/bin/python" tests/soak/faults.py || status=1
	bash tests/soak/load.sh || status=1
	exit $$status

## `make demo` then `make test` in a new, empty ODP_CACHE, timed: a new machine's set-up.
fresh:
	bash scripts/fresh_check.sh

## Benchmarks at scale factor 1 (or ODP_BENCH_SCALE), as BENCH lines.
bench: setup
	$(MAKE) --no-print-directory -j2 install pyenv
	$(MAKE) --no-print-directory services
	$(ENV); bash tests/bench/run.sh

# apt packages, cargo-pgrx and the cache's directories; the Python and npm tools
# (pyenv) install beside the build, which does not need them.
setup:
	bash scripts/setup.sh system

pyenv:
	bash scripts/setup.sh python

# A running server maps odp.so (it is preloaded): stop it before the file is replaced.
install:
	bash scripts/services.sh stop postgres
	$(ENV); cargo pgrx install --pg-config /usr/bin/pg_config --package odp >/dev/null

services:
	bash scripts/services.sh start

stop:
	bash scripts/services.sh stop

seed:
	$(ENV); bash tests/seed/load.sh "$${ODP_SEED_SCALE:-0.01}"

lint:
	$(ENV); cargo fmt --all --check
	python3 tests/lint_internal_sql.py
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	$(ENV); cargo test -p odp-fdw

pgtest:
	bash scripts/services.sh stop postgres
	$(ENV); cargo pgrx test pg15 --package odp --runas postgres --pgdata "$$ODP_PGRX_TEST/data"

sqltest:
	$(ENV); bash tests/run_sql_tests.sh

# The demo must never rot: it runs as in `make demo`, stopping at the first error.
demotest:
	mkdir -p tests/results && bash scripts/demo.sh >tests/results/demo.out
	echo "ok   demo (sql/demo.sql)"

# Last: kills and restarts each service, then stops all and checks nothing is left.
servicetest:
	bash tests/services_lifecycle.sh
