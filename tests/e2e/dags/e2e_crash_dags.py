"""DAGs for the crash-point matrix: a worker killed (SIGKILL) once at a chosen point of a video's
life, then retried by Airflow, and a mapped batch whose frames share a file name."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

# The operator lives beside the integration suite's DAGs; this DAG folder is not on its path.
_spec = importlib.util.spec_from_file_location(
    "crash_once", Path(__file__).resolve().parents[2] / "dags" / "crash_once.py"
)
assert _spec is not None
assert _spec.loader is not None
crash_once = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_once)

for deferrable in (False, True):
    with DAG(
        dag_id=f"e2e_crash_{'deferrable' if deferrable else 'sync'}",
        schedule=None,
        catchup=False,
        params={"frame": "", "crash_at": "", "marker": "", "download_to": ""},
    ) as crash:
        crash_once.CrashOnceOperator(
            task_id="video",
            first_frame_image="{{ params.frame }}",
            download_to="{{ params.download_to }}",
            deferrable=deferrable,
            poll_interval=1,
            timeout=600,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
    globals()[crash.dag_id] = crash


with DAG(
    dag_id="e2e_same_names", schedule=None, catchup=False, params={"folder": "", "videos": ""}
) as same_names:

    @task
    def list_fronts(**context: Any) -> list[str]:
        # One front.jpg per product folder: the same file name, other images.
        return sorted(str(path) for path in Path(context["params"]["folder"]).glob("*/front.jpg"))

    HailuoImageToVideoOperator.partial(
        task_id="video",
        download_to="{{ params.videos }}",
        deferrable=True,
        poll_interval=1,
        timeout=600,
    ).expand(first_frame_image=list_fronts())
