# Quick start: `make demo` and `make test` work on a fresh machine (they create .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SHARED_DATA := $(abspath ../shared/data)

# Real public datasets beside the project (never copied into the repo).
ifneq ($(wildcard $(SHARED_DATA)/compas),)
export EVENHAND_DATA_DIR ?= $(SHARED_DATA)
endif

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/evenhand demo --out-dir demo-output

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: $(STAMP) lint
	bash scripts/ensure-chromium.sh || true
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) benchmarks/audit_speed.py --sizes 100000

clean:
	rm -rf $(VENV) demo-output .pytest_cache
