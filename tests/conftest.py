"""Test-wide set-up: a throwaway Airflow that knows the example DAGs and the tests' own DAGs.

Configured at import, before anything imports Airflow (it reads its configuration once).
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import shutil
import sys
import threading
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import pytest

from airflow_provider_hailuo.emulator.sandbox import configure_local_airflow, migrate_metadata_db
from tests import ci_results
from tests.airflow_versions import NEWEST_AIRFLOW_ONLY, ON_NEWEST_AIRFLOW, runs_on_this_airflow

# The emulator's fixtures, loaded as the README tells users to load them.
pytest_plugins = ["airflow_provider_hailuo.emulator.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "dags_examples"
TEST_DAGS = REPO / "tests" / "dags"

_home = configure_local_airflow([EXAMPLES, TEST_DAGS])
atexit.register(shutil.rmtree, _home, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_render_history() -> None:
    """Each test starts with no render times learned: dag.test() runs triggers in this process,
    whose history (gateway/render_times.py) would otherwise carry one test's renders into the next."""
    from airflow_provider_hailuo.gateway.render_times import RENDER_TIMES

    RENDER_TIMES.clear()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database, for tests that run DAGs with ``dag.test()``."""
    migrate_metadata_db()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "every_airflow: runs on every Airflow line of the matrix; unmarked tests run on the newest "
        "only (tests/airflow_versions.py says which are which and why)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Skipped, not deselected: the session still counts as the whole suite, and says what it left.
    for item in items:
        if not runs_on_this_airflow(item):
            item.add_marker(NEWEST_AIRFLOW_ONLY)


# What this session proves, for ci_results: the suites (folders under tests/) in which a test
# passed, claimed only for a whole suite (nothing deselected, no single files or tests named) and
# only if the session passed; a failed session is recorded as failed. The install tests record the
# Airflows they install themselves, not the one this session runs.
_suites_passed: set[str] = set()
_narrowed: list[bool] = [False]
_started = [time.monotonic()]
# Per test: whether it ran (passed, failed or an expected failure) or was skipped; per outcome, how many.
_ran: dict[str, bool] = {}
_outcomes: Counter[str] = Counter()


def _suite(nodeid: str) -> str:
    """The suite of a test, from its node id (relative to the repository, whatever the cwd)."""
    parts = nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


def pytest_sessionstart(session: pytest.Session) -> None:
    _started[0] = time.monotonic()


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        _narrowed[0] = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed and _suite(report.nodeid) not in ("", "install"):
        _suites_passed.add(_suite(report.nodeid))
    expected_failure = hasattr(report, "wasxfail")
    if report.skipped and not expected_failure:
        _ran[report.nodeid] = False
        _outcomes["skipped"] += 1
    elif report.failed and report.when != "call":
        _ran[report.nodeid] = True
        _outcomes["error"] += 1
    elif report.when == "call":
        _ran[report.nodeid] = True
        _outcomes["xfailed" if expected_failure else str(report.outcome)] += 1


def _modules(session: pytest.Session) -> dict[str, tuple[int, int]]:
    """Test module -> (tests that ran, tests collected)."""
    counts: dict[str, list[int]] = {}
    for item in session.items:
        module = item.nodeid.split("::")[0]
        ran, collected = counts.setdefault(module, [0, 0])
        counts[module] = [ran + _ran.get(item.nodeid, False), collected + 1]
    return {module: (ran, collected) for module, (ran, collected) in counts.items()}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status[0] = int(exitstatus)
    named = [arg for arg in session.config.args if "::" in arg or arg.endswith(".py")]
    collected = {_suite(item.nodeid) for item in session.items} - {"", "install"}
    scope = ci_results.ALL_TESTS if ON_NEWEST_AIRFLOW else ci_results.EVERY_AIRFLOW_TESTS
    # pytest-split (`make test` on the newest Airflow) deselects the other parts' tests: one part
    # of a whole suite, recorded as such (the table check wants every part).
    splits, group = session.config.getoption("splits", None), session.config.getoption("group", None)
    part = f"{group}/{splits}" if splits else ""
    stats = ci_results.Session(
        label=os.environ.get(ci_results.SUITE_ENV, "pytest"),
        seconds=time.monotonic() - _started[0],
        outcomes=dict(_outcomes),
        modules=_modules(session),
        part=part,
    )
    # An install-only session records no suite of its own (its tests record the Airflows they
    # install), only how it went, for the summary.
    if exitstatus != 0:
        ci_results.record(version("apache-airflow"), collected, passed=False, scope=scope, session=stats)
    elif not named and (not _narrowed[0] or part):
        ci_results.record(version("apache-airflow"), _suites_passed, passed=True, scope=scope, session=stats)


# Seconds a finished session has to exit. pytest-timeout bounds each test, not what runs after the
# last one (atexit handlers, threads that are not daemons, multiprocessing children): a process
# stuck there would hold its suite, and `make test`, until CI's own limit, with no word of why.
# Seen: CI's run stopped after the Airflow 3.0 suite had printed its summary, and at the end of a
# 3.0 session one thread is not a daemon: the worker of asgiref's SyncToAsync executor (imported
# by airflow.api_fastapi.auth.tokens), which the interpreter joins at exit.
EXIT_GRACE_SECONDS = float(os.environ.get("HAILUO_TEST_EXIT_GRACE_SECONDS", "180"))
_exit_status: list[int] = [0]


def _stuck_at_exit() -> None:
    status = _exit_status[0]
    stream = sys.__stderr__ or sys.stderr
    stream.write(
        f"\nThe test session ended (exit status {status}), but the process did not exit within "
        f"{EXIT_GRACE_SECONDS:g} s. Its threads, then an exit with the session's status:\n"
    )
    faulthandler.dump_traceback(file=stream, all_threads=True)
    stream.flush()
    os._exit(status)


def pytest_unconfigure(config: pytest.Config) -> None:
    # A daemon thread: it runs while the main thread waits on whatever holds the exit.
    watchdog = threading.Timer(EXIT_GRACE_SECONDS, _stuck_at_exit)
    watchdog.daemon = True
    watchdog.start()
