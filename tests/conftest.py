"""Test-wide set-up: a throwaway Airflow that knows the example DAGs and the tests' own DAGs.

Configured at import, before anything imports Airflow (it reads its configuration once).
"""

from __future__ import annotations

import atexit
import shutil
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


# The suites (folders under tests/) in which a test passed in this session, for ci_results. The
# install tests record the Airflows they install themselves, not the one this session runs.
_suites_passed: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        suite = Path(report.fspath).resolve().relative_to(REPO / "tests").parts[0]
        if suite != "install":
            _suites_passed.add(suite)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _suites_passed:
        ci_results.record(version("apache-airflow"), _suites_passed, passed=exitstatus == 0)
