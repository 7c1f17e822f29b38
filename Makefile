# Two entry points do everything, set-up included: `make run` (train the Burgers PINN, print its summary) and
# `make test`. Both create .venv and install sciml from pyproject with the CPU torch wheel pinned (constraints.txt).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
EXTRAS ?= test

.PHONY: run test bench docs setup

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sciml run burgers-pinn --out runs/burgers-pinn

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 --durations=15 -q

bench:
	$(MAKE) setup EXTRAS=test,bench

docs:
	$(MAKE) setup EXTRAS=test,docs
	$(VENV)/bin/mkdocs build --strict
