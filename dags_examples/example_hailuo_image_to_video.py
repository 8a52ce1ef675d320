"""One still image to one video: the shortest useful Hailuo DAG.

The operator checks every parameter before it spends any money, submits the generation, then
waits in the triggerer (``deferrable=True``) so no worker slot is held while the video renders.
Its return value (XCom) is a dict with ``video_url``, ``cost`` (an exact decimal string) and, since
``download_to`` is set, ``local_path``: gateway URLs expire, so keep the file.
"""

from __future__ import annotations

from pathlib import Path

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import DAG`.
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

IMAGES = Path(__file__).parent / "images"

with DAG(
    dag_id="example_hailuo_image_to_video", schedule=None, catchup=False, tags=["hailuo", "example"]
) as dag:
    HailuoImageToVideoOperator(
        task_id="lighthouse_video",
        first_frame_image=str(IMAGES / "lighthouse.jpg"),  # a path, URL, data URL, bytes or ObjectStoragePath
        prompt="A lighthouse at dusk, waves rolling in [push in], then [pan left]",
        duration=6,
        resolution="768P",
        deferrable=True,
        poll_interval=1,  # seconds; real renders take minutes, so 15-30 s suits production
        # A folder (note the trailing slash) or a file name; local or any ObjectStoragePath URI.
        download_to="{{ var.value.get('hailuo_video_dir', '/tmp/hailuo-videos') }}/",
    )
