# flowsnap — two commands do everything on a fresh machine:
#   make demo   set up .venv and run the demo
#   make test   set up .venv and run lint, type check and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= test,dev,demo,torch
# The embedded default data: Debian's Fashion-MNIST (IDX files).
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: demo test lint typecheck pytest bench golden clean data

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Installs Debian's dataset-fashion-mnist when missing (as root, or through sudo).
data:
	@test -d $(FASHION_MNIST) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; }; }

demo: $(STAMP) data
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts benchmarks examples
	$(VENV)/bin/ruff format --check src tests scripts benchmarks examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	-@$(MAKE) --no-print-directory data
	$(PY) -m pytest

test: lint typecheck pytest

# Benchmarks (not tests): installs the peers (safetensors, Orbax, PyTorch CPU) into .venv.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,dev,bench,torch]"
	$(PY) benchmarks/bench_format.py
	$(PY) benchmarks/bench_training.py

# Regenerates tests/golden/ (never run by CI; review and commit the result).
golden: $(STAMP)
	$(PY) scripts/make_golden.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .hypothesis
