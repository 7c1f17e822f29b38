# Two entry points do everything, set-up included: `make run` (train the Burgers PINN, print its summary) and
# `make test`. Both create .venv and install sciml from pyproject with the CPU torch wheel pinned (constraints.txt).
# Each set of extras has its own stamp, so `make docs` / `make bench` install theirs even after `make run`.
PYTHON ?= python3
VENV := .venv
EXTRAS ?= test
comma := ,
HASH := $(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
STAMP = $(VENV)/.installed-$(HASH)-$(subst $(comma),+,$(EXTRAS))

.PHONY: run test bench docs setup

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-$(HASH)-*' -delete
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sciml run burgers-pinn --out runs/burgers-pinn

test: $(STAMP)
	$(VENV)/bin/ruff check sciml experiments benchmarks tests
	$(VENV)/bin/python -m pytest -n 2 --durations=15 -q

bench:
	$(MAKE) setup EXTRAS=test,bench

docs:
	$(MAKE) setup EXTRAS=test,docs
	$(VENV)/bin/mkdocs build --strict
