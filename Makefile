# epiradar — developer entry points. `make demo` and `make test` work on a fresh Debian machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint venv system-deps clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

## demo: simulate a city with a hidden outbreak, ingest, detect, trace, serve on :8000
demo: $(STAMP)
	$(BIN)/epiradar demo

## test: install what the tests need (Chromium, PostgreSQL), start a private PostgreSQL, run all tests
test: $(STAMP) system-deps
	scripts/with-test-services.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

system-deps:
	scripts/install-system-deps.sh test

## bench: benchmarks against reference implementations measured in the same run (installs R)
bench: $(STAMP)
	scripts/install-system-deps.sh bench
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

LOCALE := src/epiradar/web/locale

## translations: extract the interface's strings (babel.cfg), merge them into each catalog, compile (docs/i18n.md)
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project epiradar -w 100 -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages --ignore-obsolete -w 100
	$(BIN)/pybabel compile -d $(LOCALE) -D messages --statistics

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) demo-data bench-data .pytest_cache
