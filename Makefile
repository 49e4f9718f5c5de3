# The set-up contract: `make run` serves the product locally, `make test` runs every test,
# `make bench` prints the benchmark table. Each installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The local Azure stack the tests start (Azurite, a Cosmos DB server): pinned npm packages, needed
# by `make test` only (`make run` needs no Node).
AZURE_STACK := tests/azure_stack
AZURE_STACK_STAMP := $(AZURE_STACK)/node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= .data

.PHONY: install install-azure-stack run test bench lint check clean

install: $(STAMP)

install-azure-stack: $(AZURE_STACK_STAMP)

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(AZURE_STACK_STAMP): $(AZURE_STACK)/package.json $(AZURE_STACK)/package-lock.json
	cd $(AZURE_STACK) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(AZURE_STACK_STAMP)

run: install
	$(VENV)/bin/cvstudio serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# The tests start and stop the servers they use (real `cvstudio serve` processes on free ports,
# Azurite and the Cosmos DB server on loopback).
test: install install-azure-stack
	$(PY) -m pytest

bench: install install-azure-stack
	$(PY) -m benchmarks

# Static checks: formatting, lint, and strict typing of the product code.
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict shared functions function_app.py

# The gate before a commit: static checks, then every test.
check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(AZURE_STACK)/node_modules
