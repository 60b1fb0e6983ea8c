# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# `make test-compat` proves the provider on every older Airflow line (see compat/README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

# Older Airflow lines tested besides the default (.venv, newest Airflow). One virtualenv each, under
# .venv-compat/<version>, installed with compat/constraints-<version>.txt so pip keeps their pins.
COMPAT_VERSIONS := 2.11.2 3.0.6 3.1.8 3.2.2
COMPAT_PYTHON ?= $(PYTHON)
COMPAT_DIR := .venv-compat
# The newest Airflow (no constraints) on the newest Python claimed, beside .venv's lowest one (3.11).
# Its interpreter is found as tox and nox find one (scripts/find_python.py: python3.12 on PATH that really
# runs, a py launcher, pyenv's versions wherever pyenv lives, uv's); COMPAT_NEWEST_PYTHON=/path/to/python3.12
# names one instead. None found: a user's machine skips that leg, loudly; CI (CI=true) fails it.
NEWEST_PYTHON := 3.12
COMPAT_NEWEST_PYTHON ?=
FIND_NEWEST_PYTHON = $(PYTHON) scripts/find_python.py $(NEWEST_PYTHON) $(if $(COMPAT_NEWEST_PYTHON),--candidate '$(COMPAT_NEWEST_PYTHON)')
# What the compat runs execute: the DAG helpers' own tests and the DAG tests (real dag.test() runs against
# the emulator).
COMPAT_TESTS ?= tests/compat tests/dags
COMPAT_PYTEST_ARGS ?= -q --timeout=300 --timeout-method=thread --continue-on-collection-errors

.PHONY: venv demo test test-default test-ui lint docs bench bench-batch emulator clean test-compat compat-venvs test-compat-newest-python \
	compat-newest-python-run
# (test-compat-<version> and compat-venv-<version> are pattern rules: GNU make skips pattern rules for
# targets marked .PHONY, so they are not listed; no file of those names is ever made.)

venv: $(STAMP)

# Reinstall only when the project's dependencies change; an existing virtualenv is reused.
# A virtualenv whose install failed has no stamp and is made again from scratch next time.
$(STAMP): pyproject.toml
	test -f $(STAMP) || rm -rf $(VENV)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,lint,ui]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# Everything CI runs: lint, the whole suite on the newest Airflow, then every older Airflow line.
test:
	scripts/test_all.sh

# Only the whole suite on the default virtualenv (newest Airflow, Python 3.11).
# A hung test fails with a stack dump after 15 minutes instead of blocking CI.
# tests/ui is left out: it needs a browser, and `make test` runs it once, as `make test-ui`.
test-default: $(STAMP)
	$(BIN)/python -m pytest tests -q --timeout=900 --timeout-method=thread --ignore=tests/ui

# Airflow's own web UI in headless Chromium (tests/ui): Debian's chromium and chromium-driver, installed
# when missing (CI runs as root; elsewhere through sudo); the driver library is .venv's (the `ui` extra).
test-ui: $(STAMP)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "test-ui: installing Debian's chromium and chromium-driver"; \
		sudo=$$(test "$$(id -u)" -eq 0 || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium chromium-driver; \
	fi
	$(BIN)/python -m pytest tests/ui -q --timeout=600 --timeout-method=thread

# Both run even when the first finds something; the target fails if either did.
lint: $(STAMP)
	@status=0; $(BIN)/ruff check . || status=1; $(BIN)/mypy || status=1; exit $$status

# The documentation site: docs/ built by MkDocs into build/docs/, strictly (any warning fails the build).
# MkDocs comes from pyproject's `docs` extra, installed into .venv beside the rest (again when pyproject changes).
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/python -m mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python benchmarks/triggers.py
	$(BIN)/python benchmarks/parse_cost.py

# TelaBatchOperator: speed against the bound, mapped tasks on a real deployment, memory at scale (about 25
# minutes on 2 cores, most of it the 2,000 mapped tasks: the runs in README's tables add up to about 20)
bench-batch: $(STAMP)
	$(BIN)/python benchmarks/batch.py

emulator: $(STAMP)
	$(BIN)/tela-emulator --port 8765

# --- the compatibility matrix -------------------------------------------------------------------
# The stamp depends on pyproject.toml and the line's constraints: either changing reinstalls (into the
# same virtualenv, so only what changed is downloaded). `-c` is passed on every install so that pip
# never upgrades a pinned package (or Airflow itself) while resolving the project's dependencies.
# The venv's own pip is used as bundled: the constraint files were verified with it.
$(COMPAT_DIR)/%/.installed: pyproject.toml compat/constraints-%.txt
	@set -e; started=$$(date +%s); \
	test -f $@ || rm -rf $(COMPAT_DIR)/$*; \
	test -x $(COMPAT_DIR)/$*/bin/python || $(COMPAT_PYTHON) -m venv $(COMPAT_DIR)/$*; \
	$(COMPAT_DIR)/$*/bin/python -m pip install --quiet --disable-pip-version-check \
		-c compat/constraints-$*.txt "apache-airflow==$*" -e ".[test]"; \
	$(COMPAT_DIR)/$*/bin/python -m pip check; \
	touch $@; \
	echo "compat: $(COMPAT_DIR)/$* installed in $$(( $$(date +%s) - started )) s"

# Pattern-made stamps are intermediate files to make, which would delete them after the run.
.PRECIOUS: $(COMPAT_DIR)/%/.installed

compat-venv-%: $(COMPAT_DIR)/%/.installed
	@true

compat-venvs: $(addprefix compat-venv-,$(COMPAT_VERSIONS))

test-compat-%: $(COMPAT_DIR)/%/.installed
	@echo "compat: Airflow $* ($(COMPAT_DIR)/$*)"
	$(COMPAT_DIR)/$*/bin/python -m pytest $(COMPAT_TESTS) $(COMPAT_PYTEST_ARGS)

# The newest Airflow on Python $(NEWEST_PYTHON): what `pip install airflow-provider-tela` resolves there.
# (made by compat-newest-python-run, which test-compat-newest-python calls with the interpreter it found)
$(COMPAT_DIR)/newest-python/.installed: pyproject.toml
	@set -e; started=$$(date +%s); \
	test -f $@ || rm -rf $(COMPAT_DIR)/newest-python; \
	test -x $(COMPAT_DIR)/newest-python/bin/python || { test -n '$(NEWEST_PYTHON_FOUND)' || \
		{ echo 'compat: make test-compat-newest-python finds the interpreter for this virtualenv'; exit 1; }; \
		'$(NEWEST_PYTHON_FOUND)' -m venv $(COMPAT_DIR)/newest-python; }; \
	$(COMPAT_DIR)/newest-python/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"; \
	$(COMPAT_DIR)/newest-python/bin/python -m pip check; \
	touch $@; \
	echo "compat: $(COMPAT_DIR)/newest-python installed in $$(( $$(date +%s) - started )) s"

# A skipped leg is written to $MAKE_TEST_SKIPPED when set: scripts/test_all.sh names it again at the end.
test-compat-newest-python:
	@if found=$$($(FIND_NEWEST_PYTHON)); then \
		echo "compat: newest Airflow on Python $(NEWEST_PYTHON) ($$found)"; \
		$(MAKE) --no-print-directory compat-newest-python-run NEWEST_PYTHON_FOUND="$$found"; \
	elif [ -n "$(COMPAT_NEWEST_PYTHON)" ]; then \
		echo "compat: FAILED: COMPAT_NEWEST_PYTHON=$(COMPAT_NEWEST_PYTHON) is not a Python $(NEWEST_PYTHON) that can make a virtualenv"; \
		exit 1; \
	elif case "$${CI:-}" in [Tt][Rr][Uu][Ee]|1) true;; *) false;; esac; then \
		echo "compat: FAILED: no Python $(NEWEST_PYTHON) on this machine, and CI (CI=$$CI) requires the newest-Python leg"; \
		exit 1; \
	else \
		line="the newest-Python leg (newest Airflow on Python $(NEWEST_PYTHON)): no Python $(NEWEST_PYTHON) found on this machine"; \
		echo "compat: ******************************************************************************"; \
		echo "compat: SKIPPED $$line."; \
		echo "compat: Every other step still runs and decides the exit code. To run this leg, install Python"; \
		echo "compat: $(NEWEST_PYTHON) (pyenv install $(NEWEST_PYTHON), uv python install $(NEWEST_PYTHON), or the OS's python$(NEWEST_PYTHON)"; \
		echo "compat: with python$(NEWEST_PYTHON)-venv) or name one: make test COMPAT_NEWEST_PYTHON=/path/to/python$(NEWEST_PYTHON)."; \
		echo "compat: Under CI (CI=true) this leg is required and fails instead."; \
		echo "compat: ******************************************************************************"; \
		if [ -n "$${MAKE_TEST_SKIPPED:-}" ]; then echo "$$line" >> "$$MAKE_TEST_SKIPPED"; fi; \
	fi

compat-newest-python-run: $(COMPAT_DIR)/newest-python/.installed
	$(COMPAT_DIR)/newest-python/bin/python -m pytest $(COMPAT_TESTS) $(COMPAT_PYTEST_ARGS)

# `make -k -j2 test-compat` runs two lines at a time and every line even when one fails; .ci/run does that.
test-compat: $(addprefix test-compat-,$(COMPAT_VERSIONS)) test-compat-newest-python

clean:
	rm -rf $(VENV) $(COMPAT_DIR) .demo build dist *.egg-info
