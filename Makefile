# The two commands a new user needs: `make run` (the product, demo company, SQLite) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup run test lint bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/erp-assistant run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint
	scripts/ensure-postgres
	$(BIN)/pytest

bench: setup
	scripts/ensure-postgres
	$(BIN)/python -m evals.bench.core_bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
