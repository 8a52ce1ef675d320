"""DAGs whose runs the UI view tests show: a gallery run (a gateway failure, a downloaded video,
a streamed one, a mapped pair, a task that never ran) and a run whose video URL has expired by the
time it is viewed."""

from __future__ import annotations

from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")
FAST = {"poll_interval": 0.1, "timeout": 60}

with DAG(
    dag_id="hailuo_ui_gallery", schedule=None, catchup=False, params={"videos": "/tmp/hailuo-ui-videos"}
) as gallery:
    # Runs first, so the test's queued task failure is this task's: the gallery lists it as failed.
    rejected = HailuoImageToVideoOperator(
        task_id="rejected", first_frame_image=FRAME, prompt="A storm", **FAST
    )
    downloaded = HailuoImageToVideoOperator(
        task_id="downloaded",
        first_frame_image=FRAME,
        prompt="A lighthouse at dusk [push in]",
        duration=6,
        resolution="768P",
        download_to="{{ params.videos }}",
        trigger_rule="all_done",
        **FAST,
    )
    streamed = HailuoImageToVideoOperator(
        task_id="streamed",
        first_frame_image=FRAME,
        prompt="Waves on the rocks",
        resolution="1080P",
        trigger_rule="all_done",
        **FAST,
    )
    mapped = HailuoImageToVideoOperator.partial(
        task_id="mapped", first_frame_image=FRAME, trigger_rule="all_done", **FAST
    ).expand(prompt=["Gulls [pan left]", "Fog rolls in"])
    rejected >> downloaded >> streamed >> mapped
    # Never runs (its upstream failed): the gallery lists it under "Did not run", not as a card.
    rejected >> HailuoImageToVideoOperator(task_id="never_ran", first_frame_image=FRAME, **FAST)

    @task(trigger_rule="all_done")
    def caption() -> dict[str, str]:
        """Not a Hailuo task, though it returns a dict: the views must leave it out."""
        return {"caption": "A lighthouse", "video_url": "https://example.com/not-ours.mp4"}

    mapped >> caption()

with DAG(dag_id="hailuo_ui_expired", schedule=None, catchup=False) as expired:
    HailuoImageToVideoOperator(task_id="video", first_frame_image=FRAME, prompt="A lighthouse", **FAST)
