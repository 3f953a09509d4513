# One-command set-up on a fresh machine with Python 3.11:
#   make demo   builds the environment and runs the main job (train scVI, offline)
#   make test   builds the environment and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint docs wheel-check clean

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
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# a wheel and an sdist installed as a user would: a fresh environment, CPU torch
# first, the wheel, then `import scvi` and `scvi train --demo` outside the clone
WHEEL_ENV ?= build/wheel-env
wheel-check: install
	rm -rf dist $(WHEEL_ENV)
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(PYTHON) -m venv $(WHEEL_ENV)
	$(WHEEL_ENV)/bin/pip install -q torch==2.13.0
	$(WHEEL_ENV)/bin/pip install -q dist/scvi-*.whl
	cd $(WHEEL_ENV) && bin/python -c "import scvi, os; assert 'site-packages' in scvi.__file__, scvi.__file__; print('scvi', scvi.__version__, 'from', os.path.dirname(scvi.__file__))"
	cd $(WHEEL_ENV) && bin/scvi train --demo --out demo.h5ad --force
	cd $(WHEEL_ENV) && bin/python -c "import anndata; a = anndata.read_h5ad('demo.h5ad'); assert 'X_scVI' in a.obsm, list(a.obsm); print('demo output', a.shape, list(a.obsm))"

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build demo.h5ad
