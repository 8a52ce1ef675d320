"""A folder of stills fanned out with dynamic task mapping, and the bill for the whole batch.

``list_stills`` finds the images at run time; ``.partial(...).expand(...)`` creates one mapped task
per image, all waiting in the triggerer at once. ``total_cost`` receives every video's result
and adds the costs with ``Decimal``: costs are exact decimal strings, never floats.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import ...`.
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_hailuo.gateway.urls import without_query
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

IMAGES = Path(__file__).parent / "images"

with DAG(dag_id="example_hailuo_batch", schedule=None, catchup=False, tags=["hailuo", "example"]) as dag:

    @task
    def list_stills(folder: str = str(IMAGES)) -> list[str]:
        return sorted(str(path) for path in Path(folder).glob("*.jpg"))

    videos = HailuoImageToVideoOperator.partial(
        task_id="video",
        prompt="Slow, calm motion [zoom in]",
        duration=6,
        resolution="512P",
        deferrable=True,
        poll_interval=1,
    ).expand(first_frame_image=list_stills())

    @task
    def total_cost(results: list[dict[str, Any]]) -> str:
        # Every mapped result in one read. Iterating Airflow 3's lazy sequence reads one at a time
        # until one is missing, which its task SDK logs as an error ("XCom not found").
        results = results[:]
        total = sum((Decimal(result["cost"]) for result in results), Decimal("0"))
        for result in results:
            # A video URL is signed: logs show it without its query (XCom keeps it whole).
            print(f"{result['hailuo_task_id']}: {without_query(result['video_url'])} costs ${result['cost']}")
        print(f"{len(results)} videos cost ${total} in all")
        return str(total)

    total_cost(videos.output)
