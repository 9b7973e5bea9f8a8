# The two commands a fresh machine needs: `make demo` and `make test`. Both bootstrap .venv once;
# a second run reuses it (the stamp is rebuilt only when pyproject.toml or constraints.txt change).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.keel-installed
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
QUIET_PIP := { grep -v "is ignored" || true; }   # pip's noise about this machine's local indexes
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint format bench sweep clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: the local CPU build; an open requirement would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[all,dev]' 2>&1 | $(QUIET_PIP)
	$(BIN)/python -c "import keel, torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keel run examples/digits.toml

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test: lint
	$(BIN)/pytest -q

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py

# keel run on 60+ real data sets with only source and target; SWEEP_ARGS="--jobs 2 --limit 10"
sweep: $(STAMP)
	$(BIN)/python bench/sweep.py $(SWEEP_ARGS)

clean:
	rm -rf $(VENV) .keel .pytest_cache .ruff_cache
