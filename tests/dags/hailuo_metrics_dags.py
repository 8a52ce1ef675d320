"""DAGs the metrics tests run with ``dag.test()`` in a child process whose Airflow sends its
metrics to the test's StatsD listener (tests/integration/test_metrics.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.sensors.hailuo import HailuoTaskSensor

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")
FAST = {"poll_interval": 0.1, "timeout": 60}
# 512P, and one video per duration of the batch: three prices, each tagged with its own duration.
BATCH_RESOLUTION = "512P"
BATCH_DURATIONS = [6, 10, 10]

for deferrable in (True, False):
    mode = "deferrable" if deferrable else "sync"
    with DAG(dag_id=f"hailuo_metrics_batch_{mode}", schedule=None, catchup=False) as batch_dag:
        HailuoImageToVideoOperator.partial(
            task_id="video",
            first_frame_image=FRAME,
            resolution=BATCH_RESOLUTION,
            deferrable=deferrable,
            **FAST,
        ).expand(duration=BATCH_DURATIONS)
    globals()[f"batch_{mode}"] = batch_dag

    with DAG(dag_id=f"hailuo_metrics_video_{mode}", schedule=None, catchup=False) as video_dag:
        # Resolution and duration unset (the gateway's defaults); a retry shows what one try counts.
        HailuoImageToVideoOperator(
            task_id="video",
            first_frame_image=FRAME,
            deferrable=deferrable,
            retries=1,
            retry_delay=timedelta(seconds=0),
            **FAST,
        )
    globals()[f"video_{mode}"] = video_dag

    with DAG(dag_id=f"hailuo_metrics_timeout_{mode}", schedule=None, catchup=False) as timeout_dag:
        HailuoImageToVideoOperator(
            task_id="video", first_frame_image=FRAME, deferrable=deferrable, poll_interval=0.1, timeout=1
        )
    globals()[f"timeout_{mode}"] = timeout_dag

for sensor_mode in ("deferrable", "poke"):
    with DAG(
        dag_id=f"hailuo_metrics_sensor_{sensor_mode}",
        schedule=None,
        catchup=False,
        params={"hailuo_task_id": ""},
    ) as sensor_dag:
        HailuoTaskSensor(
            task_id="wait",
            hailuo_task_id="{{ params.hailuo_task_id }}",
            deferrable=sensor_mode == "deferrable",
            poll_interval=0.1,
            timeout=60,
        )
    globals()[f"sensor_{sensor_mode}"] = sensor_dag
