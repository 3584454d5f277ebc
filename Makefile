# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000
# GraphiQL's browser files (package.json, package-lock.json), copied by graph/graphiql/build.py.
GRAPHIQL := graph/graphiql/dist/manifest.json

.PHONY: install run port-free test lint format bench bench-served bench-scale bench-profile \
	bench-groups bench-deps schema clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependencies change. pip prints each package as it goes.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	@echo "==> Python packages into $(VENV) (about a minute the first time)"
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# Without npm the service still runs; /graphql in a browser then says how to get GraphiQL.
$(GRAPHIQL): package.json package-lock.json graph/graphiql/build.py graph/graphiql/start.js \
		graph/graphiql/page.css | $(VENV)/.installed
	@if command -v npm >/dev/null 2>&1; then \
		echo "==> GraphiQL's browser files from the npm registry (package-lock.json)"; \
		npm ci --no-audit --no-fund && $(BIN)/python -m graph.graphiql; \
	else \
		echo "npm not found: GraphiQL will not be served. Install Node.js 20 and npm, then run make install again."; \
	fi

install: $(VENV)/.installed $(GRAPHIQL)

# Checked first, before any set-up: a busy port must not cost a migration and a fresh token.
# Empty when HOST:PORT can be served, else why not (e.g. "Address already in use").
port_problem = $(shell $(PYTHON) -c 'import socket, sys; \
	sys.excepthook = lambda kind, error, tb: print(getattr(error, "strerror", None) or error); \
	probe = socket.socket(); probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
	probe.bind((sys.argv[1], int(sys.argv[2])))' '$(HOST)' '$(PORT)')
PORT_BUSY = Cannot serve on $(HOST):$(PORT) ($(port_problem)): stop what uses it, or choose \
	another port, e.g. make run PORT=5001

port-free:
	@$(if $(port_problem),$(error $(PORT_BUSY)))

run: port-free install
	$(FLASK) db upgrade
	PUBLIC_BASE_URL=http://$(HOST):$(PORT) $(FLASK) demo
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) 'app:create_app()'

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The bench's own tools: matplotlib and py-spy (the bench extra), wrk from Debian.
$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench-deps: $(VENV)/.bench-installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
		|| (echo "bench: install wrk (apt-get install -y wrk)" >&2; exit 1)

# Served app vs the bare-Flask ceiling on SQLite and PostgreSQL, then 1k vs 100k users on
# PostgreSQL (about 8 minutes; BENCH_SECONDS, BENCH_ROUNDS, BENCH_REPEAT, BENCH_DATABASES tune it).
bench: bench-deps
	$(BIN)/python -m bench

bench-served bench-scale bench-profile: bench-deps
	$(BIN)/python -m bench $(@:bench-%=%)

# In-process group PATCH cost as the team grows (no server, no wrk).
bench-groups: install
	$(BIN)/python -m bench groups

schema: install
	$(BIN)/python -m graph

clean:
	rm -rf $(VENV) instance .mypy_cache .ruff_cache .hypothesis node_modules graph/graphiql/dist
