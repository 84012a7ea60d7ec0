# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean readme

# The runtime only: enough for the demo (no test tools to download).
$(BIN)/plantid: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e .  # quiet: setuptools warns about every editable install
	@touch $(BIN)/plantid

# The test tools on top, once.
$(VENV)/.test-extras: $(BIN)/plantid
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e '.[test]'
	@touch $(VENV)/.test-extras

# Start the embedded sandbox, identify the photos in examples/, print the table.
demo: $(BIN)/plantid
	$(BIN)/plantid demo examples/

test: $(VENV)/.test-extras
	$(BIN)/python -m pytest -q

lint: $(VENV)/.test-extras
	$(BIN)/ruff check plantid_cli tests benchmarks tools
	$(BIN)/ruff format --check plantid_cli tests benchmarks tools
	$(BIN)/mypy

bench: $(VENV)/.test-extras
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# Rewrite the README's command reference from every command's --help (after adding a command
# or an option; tests/test_shell_conventions.py fails until it is run).
readme: $(BIN)/plantid
	$(BIN)/python -m tools.readme_ref
