# Everything a fresh machine needs: `make reproduce` (the main job) and `make test`.
# Both create .venv on first use. TORCH picks the torch build: the default pin is a
# CPU build where the package index serves one (this project's CI machine); on a CUDA
# machine use e.g. `make TORCH=torch test`. PYTHON picks the interpreter (3.10 or later).
# .venv is built again when TORCH or PYTHON differs from what it was built with.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
# named by what it was built with, so another TORCH or PYTHON finds no stamp and rebuilds
STAMP := $(VENV)/.installed-$(shell printf '%s\n' '$(PYTHON)' '$(TORCH)' | cksum | cut -d' ' -f1)
PROFILE ?= ci

.PHONY: install reproduce test unit notebooks bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
	  echo "streamnets needs Python 3.10 or later; $(PYTHON) is $$($(PYTHON) -V 2>&1): give another, e.g. make PYTHON=python3.11" >&2; exit 2; }
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The paper's experiments (ci profile: offline data, 2 CPU cores; PROFILE=paper for the real thing).
# --resume: an interrupted run continues, finished runs of the same settings are kept.
reproduce: $(STAMP)
	$(BIN)/streamnets list
	$(BIN)/streamnets reproduce all --profile $(PROFILE) --quiet --resume

# Unit tests and doctests, then every notebook executed by papermill and checked by nbval.
test: unit notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest

notebooks: $(STAMP)
	$(BIN)/streamnets notebooks --profile ci --quiet
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider notebooks/

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_theory.py

clean:
	rm -rf $(VENV) runs
