"""Test-wide set-up: Airflow gets a throwaway home, so no test reads or writes ~/airflow."""

from __future__ import annotations

import os
import tempfile

# Before anything imports Airflow: its configuration is read once, at import.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hailuo-tests-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
