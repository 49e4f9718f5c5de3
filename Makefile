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
# checkov, for the infrastructure checks (tests/infra): its own virtualenv, because its pinned
# dependencies conflict with the project's; needed by `make test` only.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed
# The browser tests: Debian's chromium (driven by Playwright for Python, which cannot download its
# own browser here) and axe-core from npm (the accessibility checker the tests serve to the page).
BROWSER_TESTS := tests/browser
BROWSER_STAMP := $(BROWSER_TESTS)/node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= .data

.PHONY: install install-azure-stack install-infra install-browser chromium run test fuzz bench lint check clean

install: $(STAMP)

install-azure-stack: $(AZURE_STACK_STAMP)

install-infra: $(INFRA_STAMP)

install-browser: chromium $(BROWSER_STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || $(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

$(BROWSER_STAMP): $(BROWSER_TESTS)/package.json $(BROWSER_TESTS)/package-lock.json
	cd $(BROWSER_TESTS) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(BROWSER_STAMP)

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(AZURE_STACK_STAMP): $(AZURE_STACK)/package.json $(AZURE_STACK)/package-lock.json
	cd $(AZURE_STACK) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(AZURE_STACK_STAMP)

$(INFRA_STAMP): requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --no-deps --no-compile -r requirements-infra.txt
	touch $(INFRA_STAMP)

run: install
	$(VENV)/bin/cvstudio serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# The tests start and stop the servers they use (real `cvstudio serve` processes on free ports,
# Azurite and the Cosmos DB server on loopback); tests/infra runs checkov from $(INFRA_VENV);
# tests/browser drives the studio in chromium.
test: install install-azure-stack install-infra install-browser
	$(PY) -m pytest

# The long fuzz run of both APIs (tests/integration/test_fuzz.py; `make test` runs 5 cases per operation).
FUZZ_EXAMPLES ?= 200
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/integration/test_fuzz.py -q

bench: install install-azure-stack install-browser
	$(PY) -m benchmarks

# Static checks: formatting, lint, and strict typing of the product code.
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict shared functions function_app.py

# The gate before a commit: static checks, then every test.
check: lint test

clean:
	rm -rf $(VENV) $(INFRA_VENV) .pytest_cache .ruff_cache $(AZURE_STACK)/node_modules $(BROWSER_TESTS)/node_modules
