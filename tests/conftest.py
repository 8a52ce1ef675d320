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
from importlib.metadata import version
from pathlib import Path

import pytest

from airflow_provider_hailuo.emulator.sandbox import configure_local_airflow, migrate_metadata_db
from tests import ci_results

# The emulator's fixtures, loaded as the README tells users to load them.
pytest_plugins = ["airflow_provider_hailuo.emulator.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "dags_examples"
TEST_DAGS = REPO / "tests" / "dags"

_home = configure_local_airflow([EXAMPLES, TEST_DAGS])
atexit.register(shutil.rmtree, _home, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database, for tests that run DAGs with ``dag.test()``."""
    migrate_metadata_db()


# What this session proves, for ci_results: the suites (folders under tests/) in which a test
# passed, claimed only for a whole suite (nothing deselected, no single files or tests named) and
# only if the session passed; a failed session is recorded as failed. The install tests record the
# Airflows they install themselves, not the one this session runs.
_suites_passed: set[str] = set()
_narrowed: list[bool] = [False]


def _suite(nodeid: str) -> str:
    """The suite of a test, from its node id (relative to the repository, whatever the cwd)."""
    parts = nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        _narrowed[0] = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed and _suite(report.nodeid) not in ("", "install"):
        _suites_passed.add(_suite(report.nodeid))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status[0] = int(exitstatus)
    named = [arg for arg in session.config.args if "::" in arg or arg.endswith(".py")]
    collected = {_suite(item.nodeid) for item in session.items} - {"", "install"}
    if exitstatus != 0 and collected:
        ci_results.record(version("apache-airflow"), collected, passed=False)
    elif _suites_passed and not named and not _narrowed[0]:
        ci_results.record(version("apache-airflow"), _suites_passed, passed=True)


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
