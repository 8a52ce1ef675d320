# Two commands matter: `make demo` (the main job) and `make test` (the whole suite).
# Each creates what it needs on first use; only python3 (3.11+) and make are assumed.
#
# `make test` checks lint and types, then runs the unit and integration suites on every Airflow
# line the README claims, each from its own pinned lock file, several at once (each has its own
# Airflow home and SQLite database): the whole suite on the newest Airflow, in two sessions of
# about equal time, and on each older line the tests that depend on the Airflow version
# (tests/airflow_versions.py), beside the install of the built wheel into fresh virtualenvs; then,
# alone, the end-to-end scenarios on real Airflow processes (newest Airflow). Last, one line per
# session (tests, minutes), and the README's compatibility table checked against what ran.
PYTHON ?= python3
PYTEST_ARGS ?=
# How many suites run at once in `make test`; 1 runs them one after another.
TEST_JOBS ?= 3
# The newest Airflow 3 (requirements/lock.txt), with the end-to-end, benchmark and packaging extras.
VENV := .venv
# Older Airflow lines: requirements/airflow-X.in says what is asked, requirements/lock-airflow-X.txt
# pins what was resolved (see `lock`), .venv-airflow-X holds it, `make test-airflow-X` tests it.
OLD_AIRFLOWS := 3.2 3.1 3.0 2.11
# What each pytest session of `make test` records (Airflow and Python version, suites, outcome),
# read by compat_table.py; the folder is emptied first, so only this run's records count.
RECORD_RESULTS := HAILUO_TEST_RESULTS=$(CURDIR)/test-results
# Each suite's bound, twice what the slowest takes beside the others on CI's two cores (under 15
# minutes; the summary at the end of `make test` says): a suite that hangs gets SIGINT, so pytest
# prints where it was and the run fails while there is time to read why, instead of CI's own limit
# ending everything with no word of which suite hung.
SUITE_LIMIT := timeout --signal=INT --kill-after=60 1800
# The slowest tests of each suite, at the end of its output: where the time goes on CI's machine.
SUITE_REPORT := --durations=10
# The newest Airflow's unit and integration suites run as two sessions of about equal time,
# balanced by pytest-split on tests/durations.json (`make durations` refreshes it); in chunks that
# keep the order of the tests, so a module's fixtures mostly start once.
SPLITS := 2
SPLIT_ARGS := --splits $(SPLITS) --splitting-algorithm duration_based_chunks --durations-path tests/durations.json
NEWEST_SUITES := --ignore=tests/e2e --ignore=tests/install

.PHONY: browser screenshots demo test test-airflow3 test-airflow3-suites test-e2e test-install test-suites lint typecheck compat-table \
	compat-table-write bench lock clean durations \
	$(addprefix test-airflow-,$(OLD_AIRFLOWS)) $(addprefix test-airflow3-part-,$(shell seq $(SPLITS)))

comma := ,

# $(call venv,DIR,LOCK,EXTRAS): a virtualenv at DIR with the provider (editable, with EXTRAS) and
# LOCK's pinned tree. Compiled to bytecode at install: where PYTHONDONTWRITEBYTECODE is set (it is
# on CI's machines) each fresh interpreter would compile Airflow from source again, about 4 s of CPU
# for every one of the hundreds of Airflow processes the tests start (measured: the newest suite
# took 17.5 minutes without, 12.3 with).
define venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(1)/bin/uv pip install --quiet --compile-bytecode --python $(1)/bin/python -r $(2) -e ".[$(3)]"
	touch $(1)/.installed-stamp
endef

$(VENV)/.installed-stamp: pyproject.toml requirements/lock.txt
	$(call venv,$(VENV),requirements/lock.txt,test$(comma)e2e$(comma)bench$(comma)package$(comma)split)

# $(call old_airflow,X): the virtualenv and the test target of the older Airflow line X.
define old_airflow
.venv-airflow-$(1)/.installed-stamp: pyproject.toml requirements/lock-airflow-$(1).txt
	$$(call venv,.venv-airflow-$(1),requirements/lock-airflow-$(1).txt,test)

test-airflow-$(1): .venv-airflow-$(1)/.installed-stamp browser
	HAILUO_SUITE=$$@ $$(SUITE_LIMIT) .venv-airflow-$(1)/bin/pytest --ignore=tests/install $$(SUITE_REPORT) $$(PYTEST_ARGS)
endef
$(foreach v,$(OLD_AIRFLOWS),$(eval $(call old_airflow,$(v))))

# The UI view tests (tests/integration/test_ui_views.py) drive Debian's chromium through its
# chromium-driver. Installed here when missing and this is root on Debian; otherwise those tests
# fail saying what is missing (they never pass without a browser).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "No chromium/chromedriver, and cannot install them here: the UI view tests will fail." >&2; fi

# The README's two screenshots of the UI tabs, taken by the UI view tests in Chromium.
screenshots: $(VENV)/.installed-stamp browser
	$(VENV)/bin/pytest tests/integration/test_ui_views.py -k airflow_ui_shows_the_views
	cp test-results/screenshots/ui-task-tab.png docs/images/hailuo-video-tab.png
	cp test-results/screenshots/ui-run-tab.png docs/images/hailuo-videos-tab.png

demo: $(VENV)/.installed-stamp
	$(VENV)/bin/python dags_examples/run_demo.py

lint: $(VENV)/.installed-stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-stamp
	$(VENV)/bin/mypy

# Everything on the newest Airflow, the end-to-end scenarios included.
test-airflow3: $(VENV)/.installed-stamp browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The parts of test-airflow3 that `make test` runs apart: the unit and integration suites beside
# the other lines (in SPLITS sessions), the end-to-end scenarios (real Airflow processes,
# timing-sensitive) alone.
test-airflow3-suites: $(addprefix test-airflow3-part-,$(shell seq $(SPLITS)))

# $(call newest_part,N): the Nth of the SPLITS sessions.
define newest_part
test-airflow3-part-$(1): $$(VENV)/.installed-stamp browser
	HAILUO_SUITE=$$@ $$(SUITE_LIMIT) $$(VENV)/bin/pytest $$(NEWEST_SUITES) $$(SPLIT_ARGS) --group $(1) $$(SUITE_REPORT) $$(PYTEST_ARGS)
endef
$(foreach n,$(shell seq $(SPLITS)),$(eval $(call newest_part,$(n))))

# Refresh the durations the newest suites are balanced by (after adding slow tests).
durations: $(VENV)/.installed-stamp browser
	$(VENV)/bin/pytest $(NEWEST_SUITES) --store-durations --durations-path tests/durations.json

test-e2e: $(VENV)/.installed-stamp
	HAILUO_SUITE=$@ $(SUITE_LIMIT) $(VENV)/bin/pytest tests/e2e $(SUITE_REPORT) $(PYTEST_ARGS)

# The built wheel into fresh virtualenvs with a plain Airflow 3.3 and 2.11 (no lock file), as a
# user installs it: `airflow providers list` shows it, the example DAG runs against the emulator.
test-install: $(VENV)/.installed-stamp
	HAILUO_SUITE=$@ $(SUITE_LIMIT) $(VENV)/bin/pytest tests/install $(SUITE_REPORT) $(PYTEST_ARGS)

# The longest first, so the short ones fill in around them.
test-suites: test-airflow3-suites test-install $(addprefix test-airflow-,$(OLD_AIRFLOWS))

# --output-sync (GNU make 4+) keeps each suite's output together. The summary of the sessions is
# printed whether they passed or not: a slow machine shows as minutes, not only as a timeout.
test: lint typecheck
	rm -rf test-results
	@status=0; started=$$(date +%s); \
	$(RECORD_RESULTS) $(MAKE) --no-print-directory --output-sync=target -j$(TEST_JOBS) test-suites || status=$$?; \
	if [ $$status = 0 ]; then $(RECORD_RESULTS) $(MAKE) --no-print-directory test-e2e || status=$$?; fi; \
	$(RECORD_RESULTS) $(VENV)/bin/python -m tests.ci_results; \
	echo "The suites took $$(( ($$(date +%s) - started) / 60 )) min in all."; \
	if [ $$status = 0 ]; then $(RECORD_RESULTS) $(MAKE) --no-print-directory compat-table || status=$$?; fi; \
	exit $$status

# The README's table of what CI ran, checked against the records the test runs just wrote;
# compat-table-write rewrites it from them (after a full `make test`).
compat-table: $(VENV)/.installed-stamp
	$(VENV)/bin/python -m tests.compat_table --check

compat-table-write: $(VENV)/.installed-stamp
	$(RECORD_RESULTS) $(VENV)/bin/python -m tests.compat_table --write

# Measurements, not pass/fail: each prints tables with ratios against baselines run beside it.
bench: $(VENV)/.installed-stamp
	$(VENV)/bin/python benchmarks/import_time.py
	$(VENV)/bin/python benchmarks/worker_time.py
	$(VENV)/bin/python benchmarks/trigger_cost.py
	$(VENV)/bin/python benchmarks/triggerer_scale.py --sizes 100,1000,5000
	# Renders like real ones: render-aware polling against a fixed interval and the HTTP provider's trigger.
	$(VENV)/bin/python benchmarks/render_polling.py --sizes 100,1000,5000
	# Real Airflow processes on PostgreSQL (as the e2e suite): a mapped batch against a create quota.
	$(VENV)/bin/python benchmarks/rate_limit.py

# Re-resolve the pinned trees after changing dependencies in pyproject.toml.
#
# Airflow 3.0-3.2 are resolved as of about a week after each one's release (--exclude-newer):
# resolved with today's packages they break at run time (the task SDK and the API server disagree
# about request bodies, fastapi and cadwyn moved on), which Airflow's own constraints files
# prevent, and those cannot be fetched here. Only this project's own newer need (common-compat)
# is exempt. 3.0 and 3.1 also take the FAB provider: its wtforms draws the connection form before
# 3.2. Airflow 2.11 and the newest Airflow 3 resolve with today's packages.
lock: $(VENV)/.installed-stamp
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra e2e --extra bench --extra package --extra split --universal \
		-o requirements/lock.txt
	$(call lock_old,2.11,)
	# 3.0.6 was released on 2025-08-29.
	$(call lock_old,3.0,--exclude-newer 2025-09-05)
	# 3.1.8 was released on 2026-03-11.
	$(call lock_old,3.1,--exclude-newer 2026-03-18)
	# 3.2.2 was released on 2026-05-29.
	$(call lock_old,3.2,--exclude-newer 2026-06-05)

# $(call lock_old,X,UV_ARGS): requirements/lock-airflow-X.txt from requirements/airflow-X.in.
define lock_old
	$(VENV)/bin/uv pip compile pyproject.toml requirements/airflow-$(1).in --extra test --python-version 3.11 \
		$(if $(2),$(2) --exclude-newer-package "apache-airflow-providers-common-compat=2026-12-02") \
		-o requirements/lock-airflow-$(1).txt
endef

clean:
	rm -rf $(VENV) $(addprefix .venv-airflow-,$(OLD_AIRFLOWS)) test-results .pytest_cache .mypy_cache .ruff_cache
