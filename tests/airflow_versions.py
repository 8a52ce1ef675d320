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
# Reading a Variable that does not exist logs no error-level line from the task SDK's client (3.0
# and 3.1 log "Variable not found" at error level: the durable record's first read, see the README).
MISSING_VARIABLE_LOGS_NO_ERROR = not AIRFLOW_V_3_0_PLUS or _airflow_version() >= (3, 2)
# The task state store and ResumableJobMixin: a retry can find the gateway task an earlier try made.
AIRFLOW_V_3_3_PLUS = _airflow_version() >= (3, 3)


def _newest_locked_airflow() -> str:
    """The Airflow of requirements/lock.txt: the newest line, the one with the end-to-end suite."""
    lock = (Path(__file__).resolve().parents[1] / "requirements" / "lock.txt").read_text()
    found = re.search(r"^apache-airflow==(\S+)$", lock, re.MULTILINE)
    assert found, "requirements/lock.txt pins no apache-airflow"
    return found.group(1)


ON_NEWEST_AIRFLOW = version("apache-airflow") == _newest_locked_airflow()

# The test matrix. The newest Airflow runs every test. Each older line runs only the tests marked
# EVERY_AIRFLOW: those whose behaviour depends on the Airflow version (where the durable record is
# kept, deferral and resume, the triggers, XCom and Variable access, asset events, the UI plugin's
# presence, lineage and metrics, the connection form, the examples parsing). A test of the
# provider's own logic (the wire format, parameters and frames, retry rules, the emulator, download
# naming) runs the same code on every line, so it runs once, on the newest, and an older line's
# two cores go to what can differ there. A module marks itself (`pytestmark = EVERY_AIRFLOW`);
# in a module of both kinds, each test that depends on Airflow carries the mark.
EVERY_AIRFLOW = pytest.mark.every_airflow
NEWEST_AIRFLOW_ONLY = pytest.mark.skip(
    reason="the provider's own logic, the same on every Airflow: runs on the newest (requirements/lock.txt)"
)


def runs_on_this_airflow(item: pytest.Item) -> bool:
    """Whether the matrix runs this test on the Airflow of this session."""
    return ON_NEWEST_AIRFLOW or item.get_closest_marker("every_airflow") is not None


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
