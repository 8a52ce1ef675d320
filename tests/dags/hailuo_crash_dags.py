"""The crash-point DAG the integration suite runs as real Airflow CLI processes, on every version.

What each run does comes from the environment (set by the test for its subprocesses), so that
every try of a task instance, each in a process of its own, reads the same plan.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

# By path: which folders are on sys.path when Airflow parses a DAG file differs by version.
_spec = importlib.util.spec_from_file_location("crash_once", Path(__file__).with_name("crash_once.py"))
assert _spec is not None
assert _spec.loader is not None
crash_once = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_once)

with DAG(
    dag_id="hailuo_test_crash",
    schedule=None,
    catchup=False,
    params={
        "crash_at": os.environ.get("HAILUO_CRASH_AT", ""),
        "marker": os.environ.get("HAILUO_CRASH_MARKER", "/nonexistent/marker"),
    },
) as crash:
    crash_once.CrashOnceOperator(
        task_id="video",
        first_frame_image=os.environ.get("HAILUO_CRASH_FRAME", "/nonexistent/frame.jpg"),
        download_to=os.environ.get("HAILUO_CRASH_VIDEOS") or None,
        deferrable=False,
        poll_interval=0.2,
        timeout=120,
    )
