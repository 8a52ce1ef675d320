"""DAGs the integration tests run with ``dag.test()`` against the emulator (one scenario each).

They live in a DAG folder because Airflow 3's ``dag.test()`` looks its DAG up in a bundle.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.sensors.hailuo import HailuoTaskSensor

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")
FAST = {"poll_interval": 0.1, "timeout": 60}

for deferrable in (True, False):
    mode = "deferrable" if deferrable else "sync"
    with DAG(dag_id=f"hailuo_test_resume_{mode}", schedule=None, catchup=False) as resume_dag:
        # Try 1 fails after submitting (the test makes a poll fail); try 2 must resume, not resubmit.
        HailuoImageToVideoOperator(
            task_id="video",
            first_frame_image=FRAME,
            deferrable=deferrable,
            retries=1,
            retry_delay=timedelta(seconds=0),
            **FAST,
        )
    globals()[f"resume_{mode}"] = resume_dag

    with DAG(
        dag_id=f"hailuo_test_video_{mode}", schedule=None, catchup=False, params={"duration": 6}
    ) as video_dag:
        HailuoImageToVideoOperator(
            task_id="video",
            first_frame_image=FRAME,
            prompt="{{ 'A lighthouse [push in]' }}",
            duration="{{ params.duration }}",  # renders to text; read back as an integer
            deferrable=deferrable,
            **FAST,
        )
    globals()[f"video_{mode}"] = video_dag

for sensor_mode in ("deferrable", "poke", "reschedule"):
    for soft_fail in (False, True):
        dag_id = f"hailuo_test_sensor_{sensor_mode}{'_soft_fail' if soft_fail else ''}"
        with DAG(dag_id=dag_id, schedule=None, catchup=False, params={"hailuo_task_id": ""}) as sensor_dag:
            HailuoTaskSensor(
                task_id="wait",
                hailuo_task_id="{{ params.hailuo_task_id }}",
                deferrable=sensor_mode == "deferrable",
                mode="reschedule" if sensor_mode == "reschedule" else "poke",
                soft_fail=soft_fail,
                poll_interval=0.1,
                timeout=60,
            )
        globals()[dag_id] = sensor_dag

for deferrable in (True, False):
    mode = "deferrable" if deferrable else "sync"
    with DAG(dag_id=f"hailuo_test_quota_{mode}", schedule=None, catchup=False) as quota_dag:
        # The test makes the gateway refuse creates for quota: they wait and go again, within
        # the try (retries would show as a second try).
        HailuoImageToVideoOperator.partial(
            task_id="video",
            first_frame_image=FRAME,
            deferrable=deferrable,
            retries=2,
            retry_delay=timedelta(seconds=0),
            **FAST,
        ).expand(prompt=["A lighthouse [push in]", "A lighthouse [pan left]", "A lighthouse [zoom out]"])
    globals()[f"quota_{mode}"] = quota_dag

# download_to on a mapped task: one file for every index (refused before any request), a file
# per index, or a folder whose name holds dots (a manual run id): each index its own video.
for name, destination in (
    ("one_file", "{{ params.folder }}/clip.mp4"),
    ("file_per_index", "{{ params.folder }}/clip_{{ ti.map_index }}.mp4"),
    ("dotted_folder", "{{ params.folder }}/{{ run_id }}"),
):
    with DAG(
        dag_id=f"hailuo_test_mapped_{name}", schedule=None, catchup=False, params={"folder": ""}
    ) as mapped_dag:
        HailuoImageToVideoOperator.partial(
            task_id="video", first_frame_image=FRAME, deferrable=False, download_to=destination, **FAST
        ).expand(prompt=["A lighthouse [push in]", "A lighthouse [pan left]"])
    globals()[f"mapped_{name}"] = mapped_dag

# One video per DAG run: the test runs it twice with one logical date, so the second run has the
# first one's run id (dag.test() deletes the earlier run and creates it again).
with DAG(dag_id="hailuo_test_reused_run_id", schedule=None, catchup=False) as reused_run_id_dag:
    HailuoImageToVideoOperator(task_id="video", first_frame_image=FRAME, **FAST)
