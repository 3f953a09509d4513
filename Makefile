# One-command set-up on a fresh machine with Python 3.11:
#   make demo   builds the environment and runs the main job (train scVI, offline)
#   make test   builds the environment and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint docs clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	# CPU build of torch first: an open requirement would pull a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

demo: install
	$(BIN)/scvi train --demo --out demo.h5ad --force

test: install
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/black --check scvi tests benchmarks docs setup.py
	$(BIN)/flake8 scvi tests benchmarks docs setup.py

docs: install
	$(BIN)/pip install -q -e ".[docs]"
	$(BIN)/sphinx-build -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build demo.h5ad
