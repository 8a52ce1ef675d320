"""Videos as an asset: each video made announces itself to the DAGs scheduled on the library.

With ``outlets``, a video the operator completes emits an asset event (a dataset event on Airflow
2.11) whose ``extra`` says which gateway task made it (``hailuo_task_id``), its ``video_url``,
its ``local_path`` and its exact ``cost``; a mapped operator emits one event per video.
``example_hailuo_asset_consumer`` is scheduled on the same asset and reads those extras.
"""

from __future__ import annotations

from pathlib import Path

# common-compat gives one import for Airflow 2.11 (Dataset) and 3.x (Asset).
from airflow.providers.common.compat.sdk import DAG, Asset

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

IMAGES = Path(__file__).parent / "images"
# The library the videos land in (download_to's default). An asset's URI is fixed when the DAG is
# parsed, so the exact file of each video travels in its event's extra (local_path).
VIDEO_LIBRARY = Asset(uri="file:///tmp/hailuo-videos/library")

with DAG(
    dag_id="example_hailuo_asset_producer", schedule=None, catchup=False, tags=["hailuo", "example"]
) as dag:
    HailuoImageToVideoOperator(
        task_id="harbour_video",
        first_frame_image=str(IMAGES / "harbour.jpg"),
        prompt="Boats rocking gently in the harbour [pan right]",
        resolution="512P",
        deferrable=True,
        poll_interval=1,
        download_to="{{ var.value.get('hailuo_video_dir', '/tmp/hailuo-videos/library') }}/",
        outlets=[VIDEO_LIBRARY],
    )
