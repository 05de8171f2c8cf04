# ODP — the two commands a new user runs: `make demo` and `make test` (`make bench` for numbers).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c
ENV := . scripts/env.sh
PGRX_TEST_DATA := /var/tmp/odp-pgrx

.PHONY: demo test bench setup install services stop seed lint unit pgtest sqltest

## Set up everything, load a small sample and run showcase queries.
demo: setup install services seed
	$(ENV); psql -X -v ON_ERROR_STOP=1 -f sql/demo.sql

## Set up everything and run every check; services are stopped at the end.
test: setup
	$(ENV)
	trap 'bash scripts/services.sh stop' EXIT
	$(MAKE) --no-print-directory lint unit pgtest install services seed sqltest

## Benchmarks at scale factor 1 (or ODP_BENCH_SCALE), as BENCH lines.
bench: setup install services
	$(ENV); bash tests/bench/run.sh

setup:
	bash scripts/setup.sh

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
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	$(ENV); cargo test -p odp-fdw

pgtest:
	bash scripts/services.sh stop postgres
	$(ENV); mkdir -p $(PGRX_TEST_DATA) && chown postgres:postgres $(PGRX_TEST_DATA)
	cargo pgrx test pg15 --package odp --runas postgres --pgdata $(PGRX_TEST_DATA)/data

sqltest:
	$(ENV); bash tests/run_sql_tests.sh
