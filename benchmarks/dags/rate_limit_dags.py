"""The batches of ``benchmarks/rate_limit.py``: one mapped DAG per way of meeting the create quota."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

# Never fetched: the emulator only checks that a frame URL is http(s).
FRAME_URL = "https://example.com/stills/{index}.png"

for dag_id, max_quota_wait in (("bench_quota_wait", 3600.0), ("bench_in_worker_retries", 0.0)):
    with DAG(dag_id=dag_id, schedule=None, catchup=False, params={"videos": 10}) as dag:

        @task
        def frames(**context: Any) -> list[str]:
            return [FRAME_URL.format(index=index) for index in range(int(context["params"]["videos"]))]

        HailuoImageToVideoOperator.partial(
            task_id="video",
            prompt="Slow motion [zoom in]",
            resolution="512P",
            deferrable=True,
            poll_interval=2,
            timeout=3600,
            max_quota_wait=max_quota_wait,
            # What a DAG author sets for a flaky dependency: both batches get the same retries.
            retries=2,
            retry_delay=timedelta(seconds=15),
        ).expand(first_frame_image=frames())
    globals()[dag_id] = dag
