# Everything a fresh machine needs: `make reproduce` (the main job) and `make test`.
# Both create .venv on first use. TORCH picks the torch build: the default pin is a
# CPU build; on a CUDA machine use e.g. `make TORCH=torch test`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= ci

.PHONY: install reproduce test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

reproduce: $(STAMP)
	$(BIN)/streamnets list
	$(BIN)/streamnets inspect mnist_sr --rollout sequential

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_theory.py

clean:
	rm -rf $(VENV) runs
