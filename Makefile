# flowsnap — two commands do everything on a fresh machine:
#   make demo   set up .venv with what the demo needs and run the demo
#   make test   set up .venv with the test tools and run lint, type check and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What each target installs into .venv (the demo needs no test tools and no PyTorch).
DEMO_EXTRAS ?= demo
TEST_EXTRAS ?= test,dev,demo,torch
BENCH_EXTRAS ?= test,dev,bench,torch
# The embedded default data: Debian's Fashion-MNIST (IDX files).
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: demo test lint typecheck pytest bench golden clean data

$(PY):
	@echo "==> creating $(VENV) with $(PYTHON) -m venv"
	@$(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip in $(VENV)"
	@$(PY) -m pip install --quiet --upgrade pip

# One stamp per set of extras: installing is skipped when pyproject.toml has not changed.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	@echo "==> installing flowsnap into $(VENV) with extras [$(subst +,$(comma),$*)] (pip, a few minutes on a fresh machine)"
	@$(PY) -m pip install --quiet -e ".[$(subst +,$(comma),$*)]"
	@touch $@

comma := ,
DEMO_STAMP := $(VENV)/.installed-$(subst $(comma),+,$(DEMO_EXTRAS))
TEST_STAMP := $(VENV)/.installed-$(subst $(comma),+,$(TEST_EXTRAS))

# Installs Debian's dataset-fashion-mnist when missing (as root, or through sudo).
data:
	@test -d $(FASHION_MNIST) || { \
	  echo "==> installing Debian's dataset-fashion-mnist (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; }; }

demo: $(DEMO_STAMP) data
	@echo "==> running examples/demo.py"
	@$(PY) examples/demo.py

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests scripts benchmarks examples
	$(VENV)/bin/ruff format --check src tests scripts benchmarks examples

typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy

pytest: $(TEST_STAMP)
	-@$(MAKE) --no-print-directory data
	$(PY) -m pytest

test: lint typecheck pytest

# Benchmarks (not tests): installs the peers (safetensors, Orbax, PyTorch CPU) into .venv.
# `make bench QUICK=1` (or QUICK=--quick): each benchmark's minute-long --quick run.
bench: $(TEST_STAMP)
	@echo "==> installing the benchmark peers: extras [$(BENCH_EXTRAS)]"
	@$(PY) -m pip install --quiet -e ".[$(BENCH_EXTRAS)]"
	$(PY) benchmarks/bench_format.py $(if $(QUICK),--quick)
	$(PY) benchmarks/bench_async.py $(if $(QUICK),--quick)
	$(PY) benchmarks/bench_models.py $(if $(QUICK),--quick)
	$(PY) benchmarks/bench_training.py $(if $(QUICK),--quick)

# Regenerates tests/golden/ (never run by CI; review and commit the result).
golden: $(TEST_STAMP)
	$(PY) scripts/make_golden.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .hypothesis
