"""Every example DAG parses cleanly and runs to success against the emulator."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from tests.airflow_versions import (
    AIRFLOW_V_3_1_PLUS,
    EVERY_AIRFLOW,
    MISSING_VARIABLE_LOGS_NO_ERROR,
    XFAIL_OUTLETS_ON_3_0,
)
from tests.integration.support import DAG_FILES, load_dag, log_lines, task_results

EXAMPLES = sorted(path.stem for path in DAG_FILES["examples"].glob("example_*.py"))
# Waits for a person's answer, given through Airflow's API in test_approval_example.py; it needs
# the human-in-the-loop operators of Airflow 3.1+.
APPROVAL = "example_hailuo_approval"
SEED_EXAMPLE = "example_hailuo_image_to_video"


@EVERY_AIRFLOW
def test_there_are_examples_for_every_use_the_readme_names() -> None:
    assert set(EXAMPLES) >= {
        "example_hailuo_image_to_video",
        "example_hailuo_first_last_frame",
        "example_hailuo_batch",
        "example_hailuo_submit_and_sense",
        "example_hailuo_download_to_storage",
        "example_hailuo_text_to_video",
        "example_hailuo_batch_fast",
    }


@EVERY_AIRFLOW
def test_the_folder_loads_in_a_dagbag_without_import_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    dagbag = DagBag(dag_folder=str(DAG_FILES["examples"]))
    assert dagbag.import_errors == {}
    # Without human-in-the-loop operators (2.11, 3.0) the approval example defines no DAG.
    assert set(dagbag.dag_ids) == set(EXAMPLES) - (set() if AIRFLOW_V_3_1_PLUS else {APPROVAL})


def _marks(example: str) -> list[pytest.MarkDecorator]:
    """Every example parses on every line (above); the seed's runs on every line too, the others on
    the newest (what they add over it, assets and sensors and mapping, is tested on every line in
    their own modules)."""
    marks = [XFAIL_OUTLETS_ON_3_0] if example.endswith("_producer") else []
    return [*marks, EVERY_AIRFLOW] if example == SEED_EXAMPLE else marks


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    "example",
    [pytest.param(example, marks=_marks(example)) for example in EXAMPLES if example != APPROVAL],
)
def test_each_example_runs_to_success(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    example: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_HAILUO_VIDEO_DIR", str(tmp_path / "videos"))
    run_conf = (
        {"video_store": f"file://{tmp_path}/store/"}
        if example == "example_hailuo_download_to_storage"
        else None
    )
    dag_run = load_dag("examples", example, example).test(run_conf=run_conf)
    results = task_results(dag_run)
    assert {state for state, _ in results.values()} == {"success"}, results
    # A successful run logs no error (Airflow 3's task SDK logs a missing XCom pulled by its key
    # at error level) and no signed URL (the examples show URLs without their query).
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    logged = log_lines(caplog, capsys)
    errors += [line for line in logged if "[error" in line]
    if not MISSING_VARIABLE_LOGS_NO_ERROR:  # Airflow's own line for the record's first read
        errors = [line for line in errors if "Variable not found" not in line]
    assert errors == [], "\n".join(errors)
    # (Airflow 3.0's supervisor logs every XCom it stores at debug level, the result's URL included:
    # Airflow's own lines, off unless logging is set to debug.)
    assert [line for line in logged if "Signature=" in line and "[debug" not in line] == []
    if example == "example_hailuo_asset_consumer":
        # Started by hand, not by the producer's events (tests/e2e runs the pair): nothing to read.
        assert results[("new_videos", -1)][1] == {"hailuo_task_ids": [], "local_paths": [], "total_cost": "0"}
        return
    stats = hailuo_emulator.client.stats()
    videos = [
        value
        for (task_id, _), (_, value) in results.items()
        if isinstance(value, dict) and "video_url" in value
    ]
    assert stats["tasks_created"] == len({video["hailuo_task_id"] for video in videos}) >= 1
    models = {task["model"] for task in hailuo_emulator.client.tasks()}
    if example == "example_hailuo_text_to_video":
        assert models == {"minimax_hailuo_23_t2v"}
        assert "first_frame_image" not in hailuo_emulator.client.tasks()[0]["params"]
    if example == "example_hailuo_batch_fast":
        assert models == {"minimax_hailuo_23_fast_i2v"}
        assert len(videos) == len(list((DAG_FILES["examples"] / "images").glob("*.jpg")))
    if example == "example_hailuo_image_to_video":
        (video,) = videos
        assert Path(video["local_path"]).parent == tmp_path / "videos"
    if example == "example_hailuo_download_to_storage":
        (video,) = videos
        assert video["local_path"].startswith(f"file://{tmp_path}/store/") or video["local_path"].startswith(
            f"{tmp_path}/store/"
        )
    if example == "example_hailuo_batch":
        total = results[("total_cost", -1)][1]
        assert len(videos) == 4
        assert Decimal(str(total)) == sum(Decimal(video["cost"]) for video in videos) == Decimal("0.40")
