# Two commands matter: `make demo` (the main job) and `make test` (the whole suite).
# Each creates .venv with what it needs on first use; only python3 (3.11+) and make are assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck lock clean

$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	# The lock pins the whole tree (Airflow included), so a fresh set-up is quick and repeatable.
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/lock.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python dags_examples/run_demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# Re-resolve the pinned tree after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra test --universal -o requirements/lock.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
