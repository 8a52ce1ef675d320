"""Keep the video: stream it to object storage as soon as it is ready.

Gateway URLs expire. ``download_to`` takes a local path or any ObjectStoragePath URI
(``s3://bucket/videos/``, ``gs://...``, with the matching Airflow provider and connection
installed); a trailing slash means "this folder, under the video's own file name". The file is
streamed, never held whole in memory, and the result gains ``local_path``.
"""

from __future__ import annotations

from pathlib import Path

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import DAG`.
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

IMAGES = Path(__file__).parent / "images"

with DAG(
    dag_id="example_hailuo_download_to_storage",
    schedule=None,
    catchup=False,
    params={"video_store": "file:///tmp/hailuo-videos/archive/"},  # e.g. s3://my-bucket/videos/
    tags=["hailuo", "example"],
) as dag:
    HailuoImageToVideoOperator(
        task_id="desert_video",
        first_frame_image=str(IMAGES / "desert.jpg"),
        prompt="Heat haze over the dunes [static]",
        duration=10,
        resolution="768P",
        deferrable=True,
        poll_interval=1,
        download_to="{{ params.video_store }}",
    )
