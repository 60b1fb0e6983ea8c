# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast bench bench-batch emulator clean

venv: $(STAMP)

# Reinstall only when the project's dependencies change; an existing virtualenv is reused.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest tests -q

bench: $(STAMP)
	$(BIN)/python benchmarks/triggers.py
	$(BIN)/python benchmarks/parse_cost.py

# TelaBatchOperator: speed against the bound, mapped tasks on a real deployment, memory at scale (~1 hour)
bench-batch: $(STAMP)
	$(BIN)/python benchmarks/batch.py

emulator: $(STAMP)
	$(BIN)/tela-emulator --port 8765

clean:
	rm -rf $(VENV) .demo build *.egg-info
