"""DAGs the end-to-end tests run through a real scheduler, triggerer and executor."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.sensors.hailuo import HailuoTaskSensor

with DAG(
    dag_id="e2e_batch", schedule=None, catchup=False, params={"folder": "", "poll_interval": 1}
) as batch:

    @task
    def list_stills(**context: Any) -> list[str]:
        return sorted(str(path) for path in Path(context["params"]["folder"]).glob("*.jpg"))

    videos = HailuoImageToVideoOperator.partial(
        task_id="video",
        prompt="Slow motion [zoom in]",
        resolution="512P",
        deferrable=True,
        poll_interval=1,
        timeout=600,
    ).expand(first_frame_image=list_stills())

    # Its return value holds the signed URLs: not logged ("Done. Returned value was ..."), so that
    # scenario 1 can check that no log line of the whole deployment holds one.
    @task(show_return_value_in_logs=False)
    def total_cost(results: list[dict[str, Any]]) -> dict[str, Any]:
        results = results[:]  # one read (iterating the lazy sequence logs "XCom not found" at its end)
        total = sum((Decimal(result["cost"]) for result in results), Decimal("0"))
        return {
            "total": str(total),
            "task_ids": sorted(r["hailuo_task_id"] for r in results),
            "urls": [r["video_url"] for r in results],
        }

    total_cost(videos.output)


with DAG(dag_id="e2e_worker_killed", schedule=None, catchup=False, params={"frame": ""}) as worker_killed:
    # Polls in the worker (not deferrable): the test kills the task's process while it waits.
    HailuoImageToVideoOperator(
        task_id="video",
        first_frame_image="{{ params.frame }}",
        deferrable=False,
        poll_interval=1,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


with DAG(dag_id="e2e_failure", schedule=None, catchup=False, params={"frame": ""}) as failure:
    video = HailuoImageToVideoOperator(
        task_id="video", first_frame_image="{{ params.frame }}", deferrable=True, poll_interval=1, timeout=600
    )

    @task
    def publish(result: dict[str, Any]) -> str:
        return str(result["video_url"])

    publish(video.output)


with DAG(
    dag_id="e2e_pooled_batch", schedule=None, catchup=False, params={"folder": "", "pool": "default_pool"}
) as pooled_batch:

    @task
    def list_pooled_stills(**context: Any) -> list[str]:
        return sorted(str(path) for path in Path(context["params"]["folder"]).glob("*.jpg"))

    # The README's recipe: a pool that counts deferred tasks, sized to the account's cap on tasks
    # in flight (the test creates it); a video holds its slot while it renders.
    HailuoImageToVideoOperator.partial(
        task_id="video",
        prompt="Slow motion [zoom in]",
        resolution="512P",
        deferrable=True,
        poll_interval=1,
        timeout=600,
        pool="hailuo_account",
    ).expand(first_frame_image=list_pooled_stills())


with DAG(
    dag_id="e2e_capped_batch",
    schedule=None,
    catchup=False,
    params={"folder": "", "hailuo_max_run_cost_usd": "0.50"},
) as capped_batch:

    @task
    def list_capped_stills(**context: Any) -> list[str]:
        return sorted(str(path) for path in Path(context["params"]["folder"]).glob("*.jpg"))

    # A runaway batch under a run cap: the mapped tasks start together on the executor's slots.
    HailuoImageToVideoOperator.partial(
        task_id="video", resolution="512P", deferrable=True, poll_interval=1, timeout=600
    ).expand(first_frame_image=list_capped_stills())


with DAG(dag_id="e2e_fast_renders", schedule=None, catchup=False, params={"folder": ""}) as fast_renders:
    # Videos ready a second after their creates, and a sensor started on a worker (wired to an
    # XComArg) whose target is already done: each trigger could fire within seconds of its
    # deferral, which Airflow's scheduler can answer by failing the task (scenario 13).

    @task
    def list_fast_stills(**context: Any) -> list[str]:
        return sorted(str(path) for path in Path(context["params"]["folder"]).glob("*.jpg"))

    fast_videos = HailuoImageToVideoOperator.partial(
        task_id="video", resolution="512P", deferrable=True, poll_interval=1, timeout=600
    ).expand(first_frame_image=list_fast_stills())

    @task
    def first_video(results: list[dict[str, Any]]) -> str:
        return str(results[:][0]["hailuo_task_id"])

    HailuoTaskSensor(
        task_id="sense", hailuo_task_id=first_video(fast_videos.output), deferrable=True, poll_interval=1
    )
