"""What the running Airflow can do, decided once, for the tests that differ by version.

The provider itself asks Airflow what it can do (``hasattr``, imports) rather than its version, so
this lives with the tests, and ``packaging`` is a test dependency only.
"""

from __future__ import annotations

from importlib.metadata import version

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
