# The set-up contract: `make run` serves the product locally, `make test` runs every test,
# `make bench` prints the benchmark table. Each installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= .data

.PHONY: install run test bench lint check clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(VENV)/bin/cvstudio serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# The tests start and stop the servers they use (real `cvstudio serve` processes on free ports).
test: install
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks

# Static checks: formatting, lint, and strict typing of the product code.
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict shared functions function_app.py

# The gate before a commit: static checks, then every test.
check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
