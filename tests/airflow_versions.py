"""What the running Airflow can do, decided once, for the tests that differ by version.

The provider itself asks Airflow what it can do (``hasattr``, imports) rather than its version, so
this lives with the tests, and ``packaging`` is a test dependency only.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version


def _airflow_version() -> tuple[int, int]:
    release = Version(version("apache-airflow")).release
    return release[0], release[1]


AIRFLOW_V_3_0_PLUS = _airflow_version() >= (3, 0)
# The task SDK's own filesystem registry (airflow.sdk.io.fs).
AIRFLOW_V_3_1_PLUS = _airflow_version() >= (3, 1)
# The task state store and ResumableJobMixin: a retry can find the gateway task an earlier try made.
AIRFLOW_V_3_3_PLUS = _airflow_version() >= (3, 3)


def _newest_locked_airflow() -> str:
    """The Airflow of requirements/lock.txt: the newest line, the one with the end-to-end suite."""
    lock = (Path(__file__).resolve().parents[1] / "requirements" / "lock.txt").read_text()
    found = re.search(r"^apache-airflow==(\S+)$", lock, re.MULTILINE)
    assert found, "requirements/lock.txt pins no apache-airflow"
    return found.group(1)


ON_NEWEST_AIRFLOW = version("apache-airflow") == _newest_locked_airflow()
# For the modules that run no Airflow code (the emulator, and the trigger's pacing at scale, whose
# Airflow surface test_trigger covers on every line): on the older lines they would repeat the same
# run, and `make test` has CI's time to keep.
NEWEST_AIRFLOW_ONLY = pytest.mark.skipif(
    not ON_NEWEST_AIRFLOW, reason="runs no Airflow code: tested on the newest Airflow (requirements/lock.txt)"
)

# Airflow 3.0's dag.test() cannot run a task with asset outlets (it never activates the assets,
# apache/airflow#51644; the scheduler does, and 3.1's dag.test() too). Strict: a 3.0 that can shows
# up as a failure to remove the mark.
XFAIL_OUTLETS_ON_3_0 = pytest.mark.xfail(
    AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS,
    reason="dag.test() on Airflow 3.0 fails tasks with outlets (apache/airflow#51644)",
    # The producer's task fails: its own test's assertion, or a consumer finding no event.
    raises=(AssertionError, TypeError),
    strict=True,
)
