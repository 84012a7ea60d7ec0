# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/plantid: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(BIN)/plantid

# Start the embedded sandbox, identify the photos in examples/, print the table.
demo: $(BIN)/plantid
	$(BIN)/plantid demo examples/

test: $(BIN)/plantid
	$(BIN)/python -m pytest -q

lint: $(BIN)/plantid
	$(BIN)/ruff check plantid_cli tests benchmarks
	$(BIN)/ruff format --check plantid_cli tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/plantid
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
