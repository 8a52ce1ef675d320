"""What the running Airflow can do, decided once, for the tests that differ by version.

The provider itself asks Airflow what it can do (``hasattr``, imports) rather than its version, so
this lives with the tests, and ``packaging`` is a test dependency only.
"""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version


def _airflow_version() -> tuple[int, int]:
    release = Version(version("apache-airflow")).release
    return release[0], release[1]


AIRFLOW_V_3_0_PLUS = _airflow_version() >= (3, 0)
# The task state store and ResumableJobMixin: a retry can find the gateway task an earlier try made.
AIRFLOW_V_3_3_PLUS = _airflow_version() >= (3, 3)
