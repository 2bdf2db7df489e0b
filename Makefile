# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/maildesk --config config.toml run

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The gate .ci/run passes before the tests: lint, formatting, types (configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check maildesk tests bench
	$(BIN)/ruff format --check maildesk tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/pipe.py --postgres
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/timers.py
	$(BIN)/python bench/calendars.py
	$(BIN)/python bench/imap.py --count 2000
	$(BIN)/python bench/kb.py

clean:
	rm -rf $(VENV) var build *.egg-info
