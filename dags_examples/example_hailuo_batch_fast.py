"""A big batch of stills on Hailuo 2.3 Fast: quicker and cheaper per video than Hailuo 2.3.

The same mapped batch as ``example_hailuo_batch``, on ``minimax_hailuo_23_fast_i2v``. Hailuo 2.3
Fast takes one frame (no last frame) and renders 768P or 1080P (512P is Hailuo 02's only); its
``fast_pretreatment`` shortens the prompt optimizer's work. To keep such a batch in budget, set
the DAG param ``hailuo_max_run_cost_usd`` with a ``price_table`` on the connection (see the README,
"Cost"): the tasks past the cap are refused before they are paid.
"""

from __future__ import annotations

from pathlib import Path

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import ...`.
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

IMAGES = Path(__file__).parent / "images"

with DAG(
    dag_id="example_hailuo_batch_fast",
    schedule=None,
    catchup=False,
    tags=["hailuo", "example"],
) as dag:

    @task
    def list_stills(folder: str = str(IMAGES)) -> list[str]:
        return sorted(str(path) for path in Path(folder).glob("*.jpg"))

    HailuoImageToVideoOperator.partial(
        task_id="video",
        model="minimax_hailuo_23_fast_i2v",
        prompt="Slow, calm motion [zoom in]",
        prompt_optimizer=True,
        fast_pretreatment=True,
        duration=10,
        resolution="768P",
        deferrable=True,
        poll_interval=1,
    ).expand(first_frame_image=list_stills())
