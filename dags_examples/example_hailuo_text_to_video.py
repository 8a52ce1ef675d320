"""A video from a prompt alone, with Hailuo 2.3 text to video: no frame at all.

``HailuoTextToVideoOperator`` takes everything the image operator does but the frames: the prompt
is required, and the model (``minimax_hailuo_23_t2v`` by default, or ``minimax_hailuo_02_t2v``)
decides the rest: 6 s at 768P or 1080P, or 10 s at 768P. Its result is the same dict.
"""

from __future__ import annotations

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import DAG`.
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoTextToVideoOperator

with DAG(
    dag_id="example_hailuo_text_to_video",
    schedule=None,
    catchup=False,
    tags=["hailuo", "example"],
    params={"subject": "a lighthouse at dusk, waves rolling in"},
) as dag:
    HailuoTextToVideoOperator(
        task_id="lighthouse_from_text",
        model="minimax_hailuo_23_t2v",
        prompt="{{ params.subject }} [push in], then [pan left]",
        resolution="1080P",  # 1080P is 6 s only, the default duration
        deferrable=True,
        poll_interval=1,  # seconds; real renders take minutes, so 15-30 s suits production
        download_to="{{ var.value.get('hailuo_video_dir', '/tmp/hailuo-videos') }}/",
    )
