# The few verbs a newcomer needs. `make demo` and `make test` work on a fresh
# machine with Python 3.11+ and make (terraform for the infra checks).
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-thorough unit integration lint typecheck runtime-venv checks check pr bench clean

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with the pinned runtime + dev dependencies and the package

$(STAMP): pyproject.toml requirements/lambda.txt requirements/dev.txt
	$(PY) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/lambda.txt -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

demo: install  ## run the pipeline on sample_orders.csv against a local AWS emulator
	$(BIN)/orders-analytics demo

lint: install  ## ruff lint + format check, and the import layering (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install  ## mypy --strict on lambda_app
	$(BIN)/mypy

runtime-venv: install  ## build (or find cached) the venv of the image's pins that tests/runtime runs
	$(BIN)/python -m tests.runtime.prebuild

# Side by side: mypy keeps one core busy, the venv builds are mostly downloads and unpacking (docs/testing.md,
# "Time"). Each target's output is printed whole when it ends.
# --output-sync needs GNU make 4 (macOS ships 3.81: there the outputs interleave).
OUTPUT_SYNC = $(if $(filter 3.%,$(MAKE_VERSION)),,--output-sync=target)
checks: install  ## ruff + import-linter, mypy, the runtime venv's build and the infra tools' install, side by side
	$(MAKE) --no-print-directory -j 4 $(OUTPUT_SYNC) infra-tools lint typecheck runtime-venv

# Two workers, a file at a time (module fixtures), files in the order tests/conftest.py puts them (longest first).
XDIST = -n 2 --dist loadfile --no-loadscope-reorder

# The checks run beside the non-infra tests: on two cores the tests leave room for mypy and the installs, and
# the runtime tests wait for the venv the checks build. Either failing fails `make test`, once both ended.
# A background job of a non-interactive shell ignores SIGINT, so an interrupt stops the checks explicitly.
test: install  ## everything CI runs: lint, types, unit, integration, infra checks
	@echo '$(MAKE) checks & $(BIN)/pytest $(XDIST) -m "not infra"'
	@$(MAKE) --no-print-directory checks & checks=$$!; \
	trap 'kill $$checks 2>/dev/null; exit 130' INT TERM HUP; \
	$(BIN)/pytest $(XDIST) -m "not infra"; tests=$$?; \
	wait $$checks; checked=$$?; \
	[ $$checked -eq 0 ] || echo "make test: the checks failed (their output is above)" >&2; \
	[ $$tests -eq 0 ] && [ $$checked -eq 0 ]
	@# Separately: moto keeps its state per process, so the applied stack must not share a process with the
	@# tests that reset the session's emulator.
	$(BIN)/pytest $(XDIST) -m infra

test-thorough: install  ## the non-infra tests with every hypothesis budget ten times larger (not run by CI)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest $(XDIST) -m "not infra"

unit: install  ## fast tests, no network
	$(BIN)/pytest tests/unit

integration: install  ## the real handler against moto
	$(BIN)/pytest tests/integration

check: test  ## alias of test
pr: test  ## alias of test

bench: install  ## benchmark the core against polars, DuckDB, naive pandas and the parse-only bound (docs/benchmarks.md)
	$(BIN)/orders-analytics bench

clean:  ## remove virtualenvs and caches
	rm -rf $(VENV) .venv-checkov .venv-runtime .pytest_cache .mypy_cache .ruff_cache demo-output bench-data

-include mk/infra.mk
