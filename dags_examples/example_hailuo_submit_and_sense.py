"""Submit now, wait later: the operator returns right after submitting, a sensor waits.

Useful when the wait belongs elsewhere (another DAG, a later stage) or the task is submitted by
something other than Airflow. The operator pushes the gateway task id to XCom as
``hailuo_task_id`` the moment the task exists; the sensor reads it through a template and waits
in the triggerer. Both return the same result dict.
"""

from __future__ import annotations

from pathlib import Path

# common-compat gives one import for Airflow 2.11 and 3.x; on Airflow 3 only, `from airflow.sdk import DAG`.
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.sensors.hailuo import HailuoTaskSensor

IMAGES = Path(__file__).parent / "images"

with DAG(
    dag_id="example_hailuo_submit_and_sense", schedule=None, catchup=False, tags=["hailuo", "example"]
) as dag:
    submit = HailuoImageToVideoOperator(
        task_id="submit",
        first_frame_image=str(IMAGES / "forest.jpg"),
        prompt="Morning light through the trees [tilt up]",
        wait_for_completion=False,  # returns the gateway task id at once
    )
    wait = HailuoTaskSensor(
        task_id="wait_for_video",
        hailuo_task_id="{{ ti.xcom_pull(task_ids='submit', key='hailuo_task_id') }}",
        deferrable=True,
        poll_interval=1,
        timeout=600,
    )
    submit >> wait
