"""First and last frame, with camera instructions.

With a last frame the model moves from one image to the other; the video takes the first frame's
size. Allowed: 6 s at 768P or 1080P, 10 s at 768P only (the operator refuses other combinations
when the DAG is parsed). Brackets in one group act together, groups in sequence act in order.
"""

from __future__ import annotations

from pathlib import Path

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import DAG`.
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

IMAGES = Path(__file__).parent / "images"

with DAG(
    dag_id="example_hailuo_first_last_frame", schedule=None, catchup=False, tags=["hailuo", "example"]
) as dag:
    HailuoImageToVideoOperator(
        task_id="harbour_to_lighthouse",
        first_frame_image=str(IMAGES / "harbour.jpg"),
        last_frame_image=str(IMAGES / "lighthouse.jpg"),
        prompt="The camera leaves the harbour [pull back, rise], then glides to the lighthouse [pan right]",
        duration=6,
        resolution="1080P",
        prompt_optimizer=False,  # keep the camera instructions exactly as written
        deferrable=True,
        poll_interval=1,
    )
