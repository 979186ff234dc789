# `make demo` and `make test` each create or refresh the virtualenv, install everything, then run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean settings-table

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vigil --data-dir demo-data demo

test: install  # the whole suite, as CI runs it
	$(BIN)/python -m pytest

test-fast: install  # what needs no service, no browser and no long wait (a few minutes)
	$(BIN)/python -m pytest -m "not slow and not services and not browser and not soak"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

settings-table: install  # rewrite the README's settings table from vigil.settings.VigilSettings
	$(BIN)/python -c "import re, pathlib; from vigil.settings import settings_table; p = pathlib.Path('README.md'); s = p.read_text(); a = s.index('\n', s.index('<!-- settings table')) + 1; b = s.index('<!-- end of settings table -->'); p.write_text(s[:a] + settings_table() + s[b:])"

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
