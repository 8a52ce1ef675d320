"""DAGs whose Hailuo tasks have ``outlets``: the asset events they emit are what the tests read."""

from __future__ import annotations

import base64
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, Asset, AssetAlias

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.sensors.hailuo import HailuoTaskSensor

IMAGES = Path(__file__).resolve().parents[2] / "dags_examples" / "images"
# A frame sent inline: its base64 must not reach the events.
DATA_URL = "data:image/jpeg;base64," + base64.b64encode((IMAGES / "desert.jpg").read_bytes()).decode()
VIDEOS = Asset(uri="file:///tmp/hailuo-test-videos")
SENSED = Asset(uri="file:///tmp/hailuo-test-sensed")
# An alias names no asset of its own: the provider leaves it alone.
ALIAS = AssetAlias(name="hailuo_test_alias")
FAST = {"poll_interval": 0.1, "timeout": 60}

with DAG(
    dag_id="hailuo_test_assets_mapped",
    schedule=None,
    catchup=False,
    params={"videos": "/tmp/hailuo-test-videos/"},
) as mapped:
    HailuoImageToVideoOperator.partial(
        task_id="video",
        deferrable=True,
        download_to="{{ params.videos }}",
        outlets=[VIDEOS, ALIAS],
        **FAST,
    ).expand(first_frame_image=[str(IMAGES / "lighthouse.jpg"), DATA_URL])

with DAG(dag_id="hailuo_test_assets_sensor", schedule=None, catchup=False) as sensed:
    submit = HailuoImageToVideoOperator(
        task_id="submit", first_frame_image=str(IMAGES / "forest.jpg"), wait_for_completion=False
    )
    wait = HailuoTaskSensor(
        task_id="wait",
        hailuo_task_id="{{ ti.xcom_pull(task_ids='submit', key='hailuo_task_id') }}",
        deferrable=False,
        outlets=[SENSED],
        **FAST,
    )
    submit >> wait

# A dry run still succeeds, so Airflow still emits its outlets' events: they must say so.
with DAG(dag_id="hailuo_test_assets_dry_run", schedule=None, catchup=False) as dry_run:
    HailuoImageToVideoOperator(
        task_id="video",
        first_frame_image=str(IMAGES / "lighthouse.jpg"),
        dry_run=True,
        outlets=[VIDEOS],
    )
