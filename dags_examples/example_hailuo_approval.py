"""Approve before publishing: a batch of videos, each watched and approved by a person, and only
the approved ones copied to the published folder (Airflow 3.1+, human-in-the-loop operators).

Each video has its own review task, mapped like the videos. The reviewer opens the review's
link to the video's **Hailuo video** tab (the provider's view in the Airflow UI), watches it, and
answers "Publish" or "Reject" under the review task's required action (or through Airflow's REST
API: ``PATCH .../taskInstances/review/<map index>/hitlDetails``). A video left unanswered for
two days is rejected. The drafts are downloaded so the view can play them after the gateway's
URL has expired: add the drafts folder to ``[hailuo] ui_video_folders`` on the API server.
"""

from __future__ import annotations

import inspect
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.exceptions import AirflowOptionalProviderFeatureException
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

try:
    from airflow.providers.standard.operators.hitl import HITLOperator
# Airflow 2.11 has no such module; on 3.0 the standard provider refuses it (it needs 3.1+). No DAG then.
except (ImportError, AirflowOptionalProviderFeatureException):
    HITLOperator = None

IMAGES = Path(__file__).parent / "images"
PUBLISH, REJECT = "Publish", "Reject"
if HITLOperator is not None:
    # The standard provider names the wait for an answer response_timeout from 1.13 on; 1.12 (what
    # Airflow 3.1 ships) reads it from execution_timeout.
    ANSWER_WITHIN = (
        {"response_timeout": timedelta(days=2)}
        if "response_timeout" in inspect.signature(HITLOperator.__init__).parameters
        else {"execution_timeout": timedelta(days=2)}
    )

    with DAG(
        dag_id="example_hailuo_approval",
        schedule=None,
        catchup=False,
        params={"drafts": "/tmp/hailuo-videos/drafts", "published": "/tmp/hailuo-videos/published"},
        tags=["hailuo", "example"],
    ) as dag:

        @task
        def list_stills(folder: str = str(IMAGES)) -> list[str]:
            return sorted(str(path) for path in Path(folder).glob("*.jpg"))[:2]

        videos = HailuoImageToVideoOperator.partial(
            task_id="video",
            prompt="Slow, calm motion [zoom in]",
            resolution="768P",
            deferrable=True,
            poll_interval=1,
            download_to="{{ params.drafts }}",
        ).expand(first_frame_image=list_stills())

        @task
        def review_notes(results: list[dict[str, Any]], dag: Any = None, run_id: Any = None) -> list[str]:
            """What each reviewer reads: where to watch the video, and what it cost (Airflow passes
            ``dag`` and ``run_id`` from the task's context)."""
            notes = []
            for map_index, result in enumerate(results):
                # Relative to the UI's base URL, so it works wherever Airflow is served.
                view = f"dags/{quote(dag.dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/video/mapped/{map_index}/plugin/hailuo-video"
                notes.append(
                    f"Watch [video {map_index}]({view}) (gateway task `{result['hailuo_task_id']}`, "
                    f"${result['cost']}), then publish it or reject it."
                )
            return notes

        review = HITLOperator.partial(
            task_id="review",
            subject="Publish this Hailuo video?",
            options=[PUBLISH, REJECT],
            defaults=[REJECT],  # what an unanswered review becomes
            **ANSWER_WITHIN,
        ).expand(body=review_notes(videos.output))

        @task
        def publish(
            results: list[dict[str, Any]], answers: list[dict[str, Any]], published: str
        ) -> list[str]:
            """Copy the approved drafts (map indexes pair each answer with its video)."""
            folder = Path(published)
            folder.mkdir(parents=True, exist_ok=True)
            copied = []
            for result, answer in zip(results, answers, strict=True):
                if answer["chosen_options"] == [PUBLISH]:
                    source = Path(result["local_path"])
                    copied.append(str(shutil.copy2(source, folder / source.name)))
                    print(f"Published {source.name} (approved by {answer.get('responded_by_user')})")
                else:
                    print(f"Not published: {result['hailuo_task_id']} ({answer['chosen_options']})")
            return copied

        publish(videos.output, review.output, "{{ params.published }}")
