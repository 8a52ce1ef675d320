# Two commands matter: `make demo` (the main job) and `make test` (the whole suite).
# Each creates what it needs on first use; only python3 (3.11+) and make are assumed.
#
# `make test` checks lint, types, then runs the suite on three Airflows, each from its own pinned
# lock file: the newest Airflow 3 (.venv, with the end-to-end scenarios on real Airflow
# processes), Airflow 3.1 (.venv-airflow31, standing for 3.0-3.2: no task state store) and
# Airflow 2.11 (.venv-airflow2).
PYTHON ?= python3
VENV := .venv
VENV2 := .venv-airflow2
VENV31 := .venv-airflow31
PYTEST_ARGS ?=

.PHONY: demo test test-airflow3 test-airflow31 test-airflow2 lint typecheck bench lock clean

comma := ,

# $(call venv,DIR,LOCK,EXTRAS): a virtualenv at DIR with the provider (editable, with EXTRAS) and
# LOCK's pinned tree.
define venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python -r $(2) -e ".[$(3)]"
	touch $(1)/.installed-stamp
endef

$(VENV)/.installed-stamp: pyproject.toml requirements/lock.txt
	$(call venv,$(VENV),requirements/lock.txt,test$(comma)e2e$(comma)bench$(comma)package)

$(VENV2)/.installed-stamp: pyproject.toml requirements/lock-airflow-2.txt
	$(call venv,$(VENV2),requirements/lock-airflow-2.txt,test)

$(VENV31)/.installed-stamp: pyproject.toml requirements/lock-airflow-3.1.txt
	$(call venv,$(VENV31),requirements/lock-airflow-3.1.txt,test)

demo: $(VENV)/.installed-stamp
	$(VENV)/bin/python dags_examples/run_demo.py

lint: $(VENV)/.installed-stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-stamp
	$(VENV)/bin/mypy

test-airflow3: $(VENV)/.installed-stamp
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-airflow2: $(VENV2)/.installed-stamp
	$(VENV2)/bin/pytest $(PYTEST_ARGS)

test-airflow31: $(VENV31)/.installed-stamp
	$(VENV31)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck test-airflow3 test-airflow31 test-airflow2

# Measurements, not pass/fail: each prints tables with ratios against baselines run beside it.
bench: $(VENV)/.installed-stamp
	$(VENV)/bin/python benchmarks/import_time.py
	$(VENV)/bin/python benchmarks/worker_time.py
	$(VENV)/bin/python benchmarks/trigger_cost.py
	$(VENV)/bin/python benchmarks/triggerer_scale.py --sizes 100,1000,5000
	# Real Airflow processes on PostgreSQL (as the e2e suite): a mapped batch against a create quota.
	$(VENV)/bin/python benchmarks/rate_limit.py

# Re-resolve the pinned trees after changing dependencies in pyproject.toml.
lock: $(VENV)/.installed-stamp
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra e2e --extra bench --extra package --universal \
		-o requirements/lock.txt
	$(VENV)/bin/uv pip compile pyproject.toml requirements/airflow-2.in --extra test --python-version 3.11 \
		-o requirements/lock-airflow-2.txt
	# Airflow 3.1.8 (with the FAB provider, whose wtforms the connection form needs before 3.2) as
	# of a week after its release (2026-03-11): resolved with today's packages, Airflow 3.0-3.2
	# break at run time (the task SDK and the API server disagree, fastapi and cadwyn moved on),
	# and Airflow's constraints files cannot be fetched here. Only this project's own newer need
	# (common-compat) is exempt.
	$(VENV)/bin/uv pip compile pyproject.toml requirements/airflow-3.1.in --extra test --python-version 3.11 \
		--exclude-newer 2026-03-18 --exclude-newer-package "apache-airflow-providers-common-compat=2026-12-02" \
		-o requirements/lock-airflow-3.1.txt

clean:
	rm -rf $(VENV) $(VENV2) $(VENV31) .pytest_cache .mypy_cache .ruff_cache
