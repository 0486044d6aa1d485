# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_STUDENTS ?= 2000

.PHONY: install run test lint schema bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# tools/: graphql-http (the HTTP audit of the suite) and GraphiQL's assets,
# pinned by tools/package-lock.json. Offline, an existing install is kept.
NODE_STAMP := tools/node_modules/.installed

$(NODE_STAMP): tools/package.json tools/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "npm not found: GraphiQL's assets and the HTTP audit test need node and npm"; \
	elif (cd tools && npm ci --no-audit --no-fund --prefer-offline --loglevel=error); then \
	  touch $(NODE_STAMP); \
	elif [ -d tools/node_modules/graphql-http ]; then \
	  echo "npm ci failed (offline?): keeping the tools/node_modules already there"; \
	else \
	  echo "npm ci failed: GraphiQL's assets and the HTTP audit test need tools/node_modules"; \
	fi

install: $(STAMP) $(NODE_STAMP)

# Migrates the embedded SQLite database, loads the demo district once, serves.
run: install
	$(BIN)/accessgraph db upgrade
	$(BIN)/accessgraph demo --students $(DEMO_STUDENTS) --if-empty
	$(BIN)/accessgraph serve --host $(HOST) --port $(PORT)

# The whole suite, on SQLite and on PostgreSQL (127.0.0.1:5432 unless
# ACCESSGRAPH_TEST_POSTGRES_URL says otherwise).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/accessgraph schema print --check schema.graphql

schema: install
	$(BIN)/accessgraph schema print > schema.graphql

# Benchmarks (bench/README.md): SQLite and PostgreSQL, 10,000 students, about
# 16 minutes; not part of `make test` or CI. BENCH_ARGS='--quick' smokes it,
# BENCH_ARGS='--all' adds 1,000,000 students on PostgreSQL and the techniques.
BENCH_ARGS ?=

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info tools/node_modules

# Load and fault runs (loadtest/README.md): about a minute each, against
# PostgreSQL on 127.0.0.1:5432; not part of `make test` or CI. The fault run
# stops a private PostgreSQL it starts itself (FAULT_ARGS='--postgres system'
# stops the machine's cluster instead).
.PHONY: load fault
LOAD_ARGS ?= --duration 60 --workers 2 --clients 32
FAULT_ARGS ?=

load: install
	$(BIN)/python -m loadtest.load $(LOAD_ARGS)

fault: install
	$(BIN)/python -m loadtest.fault $(FAULT_ARGS)
