"""What the video views make of the XComs: no database, no server (those are in
tests/integration/test_ui_views.py)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_provider_hailuo.gateway.urls import signed_url_expiry
from airflow_provider_hailuo.integration.xcoms import XCOM_FAILURE_KEY, XCOM_REQUEST_KEY, XCOM_TASK_ID_KEY
from airflow_provider_hailuo.ui.records import VideoRecord, cost_total, local_file, video_record

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# The gateway's signed URL shape (docs/gateway-protocol.md): Expires in Unix seconds.
VALID_URL = "https://bucket.oss-cn-wlcb.aliyuncs.com/a%2Foutput.mp4?Expires=1796302800&OSSAccessKeyId=k&Signature=s%3D"
EXPIRED_URL = "https://bucket.oss-cn-wlcb.aliyuncs.com/a%2Foutput.mp4?Expires=1796295600&OSSAccessKeyId=k&Signature=s%3D"


def result(**changes: object) -> dict[str, object]:
    value: dict[str, object] = {
        "hailuo_task_id": "task_1",
        "status": "completed",
        "model": "minimax_hailuo_23_fast_i2v",
        "video_url": VALID_URL,
        "cost": "0.28",
        "discount": "0",
        "metadata": {
            "in_queue_at": "2026-12-03T11:00:00Z",
            "started_at": "2026-12-03T11:00:02Z",
            "completed_at": "2026-12-03T11:01:02Z",
        },
    }
    value.update(changes)
    return value


def test_a_record_reads_the_result_the_request_and_the_timings() -> None:
    record = video_record(
        "video",
        2,
        "success",
        {"return_value": result(), XCOM_REQUEST_KEY: {"prompt": "Gulls", "duration": 6}},
    )
    assert (record.task_id, record.map_index, record.hailuo_task_id, record.cost) == (
        "video",
        2,
        "task_1",
        "0.28",
    )
    assert record.request["prompt"] == "Gulls"
    assert record.model == "minimax_hailuo_23_fast_i2v"
    # A task that failed before its result still names the model it asked for.
    assert video_record(
        "video", 0, "failed", {XCOM_REQUEST_KEY: {"model": "minimax_hailuo_23_t2v"}}
    ).model == ("minimax_hailuo_23_t2v")
    assert record.timings == {"queued_seconds": 2.0, "rendering_seconds": 60.0}
    assert not record.failed


def test_a_failure_record_keeps_the_gateway_code_with_its_leading_zeros() -> None:
    record = video_record(
        "video",
        -1,
        "failed",
        {
            XCOM_TASK_ID_KEY: "task_9",
            XCOM_FAILURE_KEY: {
                "hailuo_task_id": "task_9",
                "status": "failed",
                "error_code": "010004095",
                "error_message": "no",
            },
        },
    )
    assert record.failed
    assert (record.hailuo_task_id, record.status, record.error_code) == ("task_9", "failed", "010004095")


@pytest.mark.parametrize("state", ["upstream_failed", "skipped", "removed"])
def test_a_task_airflow_never_ran_is_neither_a_video_nor_a_gateway_failure(state: str) -> None:
    record = video_record("video", -1, state, {})
    assert (record.not_run, record.failed) == (True, False)
    # Skipped after it made a gateway task (a sensor's soft fail, say): that task is its video.
    made = video_record("video", -1, "skipped", {"hailuo_task_id": "task_1"})
    assert not made.not_run
    # A gateway failure is a failure, whatever the state that followed.
    failure = video_record("video", -1, state, {"hailuo_failure": {"error_code": "1004"}})
    assert (failure.not_run, failure.failed) == (False, True)
    assert not video_record("video", -1, "success", {}).not_run


def test_values_of_the_wrong_shape_are_ignored_not_shown() -> None:
    record = video_record("video", -1, "running", {"return_value": "task_1", XCOM_REQUEST_KEY: ["x"]})
    assert record.hailuo_task_id is None
    assert record.request == {}


def test_the_gateway_url_plays_until_it_expires() -> None:
    assert video_record("v", -1, "success", {"return_value": result()}).source([], NOW).kind == "gateway"
    expired = video_record("v", -1, "success", {"return_value": result(video_url=EXPIRED_URL)}).source(
        [], NOW
    )
    assert expired.kind == "expired"
    assert expired.expired_at == datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    # A URL that does not say when it expires is tried (the page says so if it fails).
    unknown = video_record(
        "v", -1, "success", {"return_value": result(video_url="https://cdn.example/v.mp4")}
    )
    assert unknown.source([], NOW).kind == "gateway"
    assert (
        video_record("v", -1, "success", {"return_value": result(video_url=None)}).source([], NOW).kind
        == "none"
    )
    assert (
        video_record("v", -1, "success", {"return_value": result(video_url="javascript:alert(1)")})
        .source([], NOW)
        .kind
        == "none"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (VALID_URL, datetime(2026, 12, 3, 13, 0, tzinfo=UTC)),
        ("https://x/v.mp4", None),
        ("https://x/v.mp4?Expires=soon", None),
        ("https://x/v.mp4?Expires=1&Expires=2", None),
        ("https://x/v.mp4?Expires=99999999999999999999", None),
    ],
)
def test_signed_url_expiry(url: str, expected: datetime | None) -> None:
    assert signed_url_expiry(url) == expected


def test_only_files_inside_the_configured_folders_are_served(tmp_path: Path) -> None:
    videos, elsewhere = tmp_path / "videos", tmp_path / "elsewhere"
    videos.mkdir()
    elsewhere.mkdir()
    (videos / "task_1.mp4").write_bytes(b"mp4")
    (videos / "another_task.mp4").write_bytes(b"mp4")
    (elsewhere / "secret.txt").write_text("no")
    (videos / "task_1-link.mp4").symlink_to(elsewhere / "secret.txt")

    def record(local_path: str) -> VideoRecord:
        return video_record("v", -1, "success", {"return_value": result(local_path=local_path)})

    assert record(str(videos / "task_1.mp4")).servable_path([videos]) == (videos / "task_1.mp4").resolve()
    assert record((videos / "task_1.mp4").as_uri()).servable_path([videos]) is not None
    assert record(str(videos / "task_1.mp4")).source([videos], NOW).kind == "local"
    for outside in (
        str(elsewhere / "secret.txt"),
        str(videos / ".." / "elsewhere" / "secret.txt"),
        str(videos / "task_1-link.mp4"),  # a link out of the folder is followed, then refused
        str(videos / "missing.mp4"),
        str(videos / "another_task.mp4"),  # not named after this record's gateway task
        "relative/task_1.mp4",
        "s3://bucket/videos/task_1.mp4",
    ):
        assert record(outside).servable_path([videos]) is None, outside
    assert record(str(videos / "task_1.mp4")).servable_path([]) is None  # no folder configured


def test_local_file_reads_paths_and_file_uris_only() -> None:
    assert local_file("/data/v.mp4") == Path("/data/v.mp4").resolve()
    assert local_file("file:///data/a%20b.mp4") == Path("/data/a b.mp4").resolve()
    assert local_file("gs://b/v.mp4") is None
    assert local_file(None) is None


def test_the_run_total_is_exact_and_counts_what_it_adds() -> None:
    records = [
        video_record("a", -1, "success", {"return_value": result(cost="0.1")}),
        video_record("b", -1, "success", {"return_value": result(cost="0.2")}),
        video_record("c", -1, "failed", {}),
        video_record("d", -1, "success", {"return_value": result(cost="n/a")}),
    ]
    assert cost_total(records) == ("0.3", 2)  # 0.1 + 0.2 as a float is 0.30000000000000004


def test_importing_the_plugin_builds_no_app_and_imports_no_web_framework() -> None:
    """Every Airflow process loads plugins; only the API server should pay for the app."""
    code = (
        "import sys\n"
        "import airflow.plugins_manager\n"
        "before = set(sys.modules)\n"
        "from airflow_provider_hailuo.ui.plugin import HailuoViewsPlugin\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    output = (
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ.copy()
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    # The package itself, if Airflow had not imported it already (3.3 has, for the provider info),
    # and the one small module that says whether this Airflow has external views.
    expected = {
        "airflow_provider_hailuo",
        "airflow_provider_hailuo.ui",
        "airflow_provider_hailuo.ui.plugin",
        "airflow_provider_hailuo.version_compat",
    }
    assert set(ast.literal_eval(output)) <= expected
