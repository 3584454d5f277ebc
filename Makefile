# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint format bench bench-served bench-scale bench-profile bench-groups \
	bench-deps schema clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(FLASK) db upgrade
	PUBLIC_BASE_URL=http://$(HOST):$(PORT) $(FLASK) demo
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --no-control-socket \
		--access-logfile - 'app:create_app()'

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
	rm -rf $(VENV) instance .mypy_cache .ruff_cache .hypothesis
