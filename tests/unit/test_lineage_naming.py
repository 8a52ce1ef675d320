"""lineage.py without Airflow running anything: the dataset names and the run facet (named apart
from tests/integration/test_lineage.py: pytest wants unique test module names)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from airflow_provider_hailuo.exceptions import HailuoTaskFailedError
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.integration.lineage import location_name, run_facet, video_locations
from airflow_provider_hailuo.media.kinds import object_storage_path_class
from tests.airflow_versions import EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/data/stills/a.png", ("file", "/data/stills/a.png")),
        ("file:///data/stills/a.png", ("file", "/data/stills/a.png")),
        (Path("/data/stills/a.png"), ("file", "/data/stills/a.png")),
        ("s3://bucket/stills/a.png", ("s3://bucket", "stills/a.png")),
        ("s3://aws_conn@bucket/stills/a.png", ("s3://bucket", "stills/a.png")),  # no connection id
        ("s3a://bucket/a.png", ("s3://bucket", "a.png")),
        ("gcs://bucket/a.png", ("gs://bucket", "a.png")),
        ("gs://bucket/a.png", ("gs://bucket", "a.png")),
        ("https://cdn.example.com/a.png?X-Amz-Signature=s3cr3t#top", ("https://cdn.example.com", "/a.png")),
        ("https://user:pw@CDN.example.com:8443/a.png", ("https://cdn.example.com:8443", "/a.png")),
        ("http://[::1]:8080/a.png", ("http://[::1]:8080", "/a.png")),
        ("https://cdn.example.com", ("https://cdn.example.com", "/")),
    ],
)
def test_a_location_is_named_as_openlineage_names_it(value: object, expected: tuple[str, str]) -> None:
    assert location_name(value) == expected


def test_a_relative_path_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert location_name("stills/a.png") == ("file", str(tmp_path / "stills" / "a.png"))


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64,iVBORw0KGgo=",
        "DATA:image/png;base64,iVBORw0KGgo=",
        b"\x89PNG",
        bytearray(b"\x89PNG"),
        io.BytesIO(b"\x89PNG"),
        "https://host with space/a.png",
        None,
    ],
)
def test_the_image_itself_or_no_location_is_no_dataset(value: object) -> None:
    assert location_name(value) is None


def test_an_object_storage_path_is_named_by_its_uri() -> None:
    path_class = object_storage_path_class()
    assert path_class is not None
    assert location_name(path_class("s3://aws_conn@bucket/stills/a.png")) == ("s3://bucket", "stills/a.png")
    assert location_name(path_class("file:///data/a.png")) == ("file", "/data/a.png")


def test_downloaded_videos_are_the_outputs_else_the_gateway_urls_without_their_query() -> None:
    urls = ["https://cdn.example.com/v/1.mp4?Signature=x", "https://cdn.example.com/v/2.mp4?Signature=y"]
    assert video_locations({"video_urls": urls}) == [
        ("https://cdn.example.com", "/v/1.mp4"),
        ("https://cdn.example.com", "/v/2.mp4"),
    ]
    local = {"video_urls": urls, "local_paths": ["/videos/t_1.mp4", "s3://bucket/videos/t_2.mp4"]}
    assert video_locations(local) == [("file", "/videos/t_1.mp4"), ("s3://bucket", "videos/t_2.mp4")]
    assert video_locations({"video_urls": []}) == []


def test_the_facet_reports_the_prompt_by_its_length_and_unset_values_as_the_gateway_defaults() -> None:
    request = GenerationRequest(first_frame_image="/a.png", prompt="A secret plan [zoom in]")
    facet = run_facet(request=request, result=None, failure=None, hailuo_task_id=None)
    assert (facet.promptLength, facet.durationSeconds, facet.resolution) == (23, 6, "768P")
    assert "secret" not in repr(facet)


def test_a_failure_keeps_what_the_request_said_and_adds_the_gateway_error() -> None:
    failure = HailuoTaskFailedError(
        "failed", hailuo_task_id="task_1", status="failed", error_code="010004095", error_message="boom"
    )
    request = GenerationRequest(first_frame_image="/a.png", duration=10, resolution="512P")
    facet = run_facet(request=request, result=None, failure=failure, hailuo_task_id=None)
    assert (facet.hailuoTaskId, facet.status, facet.errorCode, facet.errorMessage) == (
        "task_1",
        "failed",
        "010004095",
        "boom",
    )
    assert (facet.durationSeconds, facet.resolution, facet.cost) == (10, "512P", None)


def test_timings_come_from_the_result_metadata() -> None:
    result = {
        "hailuo_task_id": "task_1",
        "status": "completed",
        "model": "minimax_hailuo_02_i2v",
        "cost": "0.28",
        "discount": None,
        "metadata": {"in_queue_at": "2026-01-01T00:00:00Z", "completed_at": "2026-01-01T00:01:30Z"},
    }
    facet = run_facet(request=None, result=result, failure=None, hailuo_task_id="task_1")
    # No started_at: queued and rendering cannot be told apart, only their total.
    assert (facet.queuedSeconds, facet.renderingSeconds, facet.totalSeconds) == (None, None, 90.0)
    assert (facet.cost, facet.discount, facet.durationSeconds) == ("0.28", None, None)
