"""Runs when new videos reach the library, and reads what each event says about its video.

Scheduled on the asset that ``example_hailuo_asset_producer`` names in its ``outlets``: the
scheduler starts a run once videos were made, and the run's triggering events carry, in their
``extra``, each video's ``hailuo_task_id``, ``video_url``, ``local_path`` and exact ``cost``.
Videos made close together may share one run. On Airflow 3 (3.3.2 included), an event that lands
while the scheduler starts a run may wait for the next event to start one (apache/airflow#54659):
mapped producers finishing at the same moment meet this.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# common-compat gives one import for Airflow 2.11 (Dataset) and 3.x (Asset).
from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_hailuo.gateway.urls import without_query

# The producer's asset: the same URI is the same asset.
VIDEO_LIBRARY = Asset(uri="file:///tmp/hailuo-videos/library")

with DAG(
    dag_id="example_hailuo_asset_consumer",
    schedule=[VIDEO_LIBRARY],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),  # Airflow 2.11 wants one for any schedule
    catchup=False,
    tags=["hailuo", "example"],
) as dag:

    @task
    def new_videos(
        triggering_asset_events: Any = None, triggering_dataset_events: Any = None
    ) -> dict[str, Any]:
        # Airflow fills in the one its version has: Airflow 3 keys the events by asset,
        # Airflow 2.11 (datasets) by URI. A run started by hand has none.
        if triggering_asset_events is not None:
            events = list(triggering_asset_events.get(VIDEO_LIBRARY, []))
        else:
            events = list(triggering_dataset_events.get(VIDEO_LIBRARY.uri, []))
        # An event may come from elsewhere (another DAG, the REST API): read only what a Hailuo
        # video's event has.
        videos = [event.extra for event in events if event.extra.get("hailuo_task_id")]
        for video in videos:
            # A video URL is signed: logs show it without its query (the extra keeps it whole).
            where = video["local_path"] or without_query(video["video_url"])
            print(f"{video['hailuo_task_id']}: {where} costs ${video['cost']}")
        # Exact: costs are decimal strings, summed as Decimal (a video of unknown cost adds nothing).
        total = sum((Decimal(video["cost"]) for video in videos if video["cost"] is not None), Decimal("0"))
        print(f"{len(videos)} new videos cost ${total} in all")
        return {
            "hailuo_task_ids": [video["hailuo_task_id"] for video in videos],
            "local_paths": [video["local_path"] for video in videos],
            "total_cost": str(total),
        }

    new_videos()
