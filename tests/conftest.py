"""Test-wide set-up: a throwaway Airflow that knows the example DAGs and the tests' own DAGs.

Configured at import, before anything imports Airflow (it reads its configuration once).
"""

from __future__ import annotations

import atexit
import shutil
from pathlib import Path

import pytest

from airflow_provider_hailuo.emulator.sandbox import configure_local_airflow, migrate_metadata_db

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
