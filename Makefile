# The two commands for a new user: `make run` and `make test` (README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint pytest bench messages schema clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# The card-reader agent's pyscard builds from source against libpcsclite (Debian: libpcsclite-dev);
	@# without it the agent's tests are skipped (and fail in CI, which installs it).
	$(BIN)/pip install --quiet swig && $(BIN)/pip install --quiet -e '.[dev,agent]' \
	  || echo "pyscard could not be built (apt-get install libpcsclite-dev): the agent's tests will be skipped"
	touch $(STAMP)

setup: $(STAMP) messages
	mkdir -p var

messages: $(STAMP)
	@if command -v msgfmt >/dev/null; then $(BIN)/python manage.py compilemessages --ignore=.venv -v0; \
	else echo "gettext (msgfmt) is missing: pages show English. Debian: apt-get install gettext"; fi

run: setup
	DEBUG=true $(BIN)/python manage.py migrate --no-input
	DEBUG=true $(BIN)/python manage.py seed_demo
	DEBUG=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint pytest

bench: setup
	$(BIN)/python -m bench

schema: $(STAMP)
	$(BIN)/python manage.py spectacular --lang en --file openapi.yaml --validate

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
