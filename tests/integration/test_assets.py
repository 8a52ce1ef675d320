"""The asset events (dataset events on Airflow 2.11) of Hailuo tasks with ``outlets``, as Airflow
stores them in its metadata database after a real ``dag.test()`` against the emulator."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from airflow_provider_hailuo.emulator import EmulatorServer
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, EVERY_AIRFLOW, XFAIL_OUTLETS_ON_3_0
from tests.integration.support import load_dag, task_results

try:
    from airflow.models.asset import AssetEvent as EventRow
except ImportError:  # Airflow 2.11: datasets
    from airflow.models.dataset import DatasetEvent as EventRow  # type: ignore[no-redef]

pytestmark = [EVERY_AIRFLOW, pytest.mark.usefixtures("airflow_db"), XFAIL_OUTLETS_ON_3_0]
VIDEOS_URI = "file:///tmp/hailuo-test-videos"


def run(folder: str, module: str, dag_id: str, **kwargs: Any) -> Any:
    """``dag.test()`` of ``dag_id``, its assets known to Airflow as its DAG processor makes them."""
    dag = load_dag(folder, module, dag_id)
    if not AIRFLOW_V_3_0_PLUS:
        # Airflow 2.11's dag.test() does not write the DAG's datasets to the database as its DAG
        # processor does; without their rows, Airflow drops the events with a warning.
        dag.sync_to_db()
    return dag.test(**kwargs)


@contextmanager
def events_of(*dag_runs: Any) -> Iterator[list[Any]]:
    """The event rows the DAG runs' tasks emitted, readable (relationships too) inside the block."""
    from airflow.utils.session import create_session

    with create_session() as session:
        query = select(EventRow).where(
            EventRow.source_dag_id.in_({dag_run.dag_id for dag_run in dag_runs}),
            EventRow.source_run_id.in_([dag_run.run_id for dag_run in dag_runs]),
        )
        yield list(session.scalars(query.order_by(EventRow.id)))


def extras_by_task(dag_run: Any) -> dict[tuple[str, str, int], dict[str, Any]]:
    """``(asset URI, task id, map index) -> extra`` of every event of the run."""
    with events_of(dag_run) as rows:
        return {(row.uri, row.source_task_id, row.source_map_index): row.extra for row in rows}


def assert_nothing_secret(extras: object, emulator: EmulatorServer) -> None:
    text = json.dumps(extras)
    assert emulator.api_key not in text
    assert "data:" not in text
    assert "base64" not in text


def test_each_mapped_video_emits_its_own_event_carrying_its_result(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    dag_run = run(
        "tests", "hailuo_asset_dags", "hailuo_test_assets_mapped", run_conf={"videos": f"{tmp_path}/"}
    )
    results = task_results(dag_run)
    assert {state for state, _ in results.values()} == {"success"}, results

    extras = extras_by_task(dag_run)
    # One event per map index, on the asset only: the alias outlet gets none from the provider.
    assert set(extras) == {("file:///tmp/hailuo-test-videos", "video", index) for index in (0, 1)}
    for (_, task_id, map_index), extra in extras.items():
        result = results[(task_id, map_index)][1]
        assert extra == {
            "hailuo_task_id": result["hailuo_task_id"],
            "video_url": result["video_url"],
            "local_path": result["local_path"],
            "local_size_bytes": result["local_size_bytes"],
            "local_sha256": result["local_sha256"],
            "cost": result["cost"],
        }
        assert Path(extra["local_path"]).parent == tmp_path
        # The proof matches the file on disk: a consumer can check it is the video paid for.
        written = Path(extra["local_path"]).read_bytes()
        assert (extra["local_size_bytes"], extra["local_sha256"]) == (
            len(written),
            hashlib.sha256(written).hexdigest(),
        )
        assert Decimal(extra["cost"]) > 0
    assert len({extra["hailuo_task_id"] for extra in extras.values()}) == 2
    assert hailuo_emulator.client.stats()["tasks_created"] == 2
    assert_nothing_secret(list(extras.values()), hailuo_emulator)  # one frame was a data URL


def test_the_sensor_emits_the_extra_of_the_task_it_waited_for(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    dag_run = run("tests", "hailuo_asset_dags", "hailuo_test_assets_sensor")
    results = task_results(dag_run)
    assert {state for state, _ in results.values()} == {"success"}, results
    result = results[("wait", -1)][1]
    # Only the sensor has outlets; it downloads nothing, so there is no local path.
    assert extras_by_task(dag_run) == {
        ("file:///tmp/hailuo-test-sensed", "wait", -1): {
            "hailuo_task_id": result["hailuo_task_id"],
            "video_url": result["video_url"],
            "local_path": None,
            "local_size_bytes": None,
            "local_sha256": None,
            "cost": result["cost"],
        }
    }
    assert_nothing_secret(result, hailuo_emulator)


def test_the_example_consumer_reads_the_producers_events(
    fast_connection: str, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_HAILUO_VIDEO_DIR", str(tmp_path))
    producer_runs = [
        run("examples", "example_hailuo_asset_producer", "example_hailuo_asset_producer") for _ in range(2)
    ]
    videos = [task_results(dag_run)[("harbour_video", -1)][1] for dag_run in producer_runs]

    # The consumer's task, given the stored events as its Airflow hands them over (the scheduler's
    # part, starting the run, is tests/e2e's): Airflow 3 by asset, Airflow 2.11 by URI.
    consumer = load_dag("examples", "example_hailuo_asset_consumer", "example_hailuo_asset_consumer")
    summarise = consumer.get_task("new_videos").python_callable
    with events_of(*producer_runs) as rows:
        try:
            from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor
        except ImportError:  # Airflow 2.11
            summary = summarise(triggering_dataset_events={rows[0].uri: rows})
        else:
            summary = summarise(triggering_asset_events=TriggeringAssetEventsAccessor.build(rows))

    assert sorted(summary["hailuo_task_ids"]) == sorted(video["hailuo_task_id"] for video in videos)
    assert sorted(summary["local_paths"]) == sorted(video["local_path"] for video in videos)
    assert all(Path(path).parent == tmp_path for path in summary["local_paths"])
    assert Decimal(summary["total_cost"]) == sum(Decimal(video["cost"]) for video in videos)


def test_a_dry_runs_events_say_it_was_a_dry_run(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    dag_run = run("tests", "hailuo_asset_dags", "hailuo_test_assets_dry_run")
    assert extras_by_task(dag_run) == {
        (VIDEOS_URI, "video", -1): {
            "dry_run": True,
            "hailuo_task_id": None,
            "video_url": None,
            "local_path": None,
            "local_size_bytes": None,
            "local_sha256": None,
            "cost": None,
        }
    }
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["poll"]) == (0, 0)
