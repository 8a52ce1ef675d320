"""One rule says what kind of frame or destination a value is, and every module asks it: an
ObjectStoragePath subclass, which each module once recognised by its own test, is one everywhere."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from airflow_provider_hailuo.hooks.download import _as_path
from airflow_provider_hailuo.integration.durable import frame_identity
from airflow_provider_hailuo.integration.lineage import location_name
from airflow_provider_hailuo.media.images import check_source
from airflow_provider_hailuo.media.kinds import Kind, kind_of, object_storage_path_class
from airflow_provider_hailuo.media.storage import check_destination
from tests.airflow_versions import EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("https://cdn.example.com/a.png", Kind.HTTP_URL),
        ("HTTP://cdn.example.com/a.png", Kind.HTTP_URL),
        ("http://", Kind.HTTP_URL),  # a malformed one: checking it is the checker's job
        ("data:image/png;base64,AAAA", Kind.DATA_URL),
        ("DATA:image/png;base64,AAAA", Kind.DATA_URL),
        ("/frames/a.png", Kind.LOCAL_PATH),
        ("frames/a.png", Kind.LOCAL_PATH),
        ("manual__2026-12-03T10:00:00.123+00:00", Kind.LOCAL_PATH),
        ("s3://bucket/a.png", Kind.URI),
        ("file:///frames/a.png", Kind.URI),
        (Path("/frames/a.png"), Kind.LOCAL_PATH),
        (b"\x89PNG", Kind.BYTES),
        (bytearray(b"\x89PNG"), Kind.BYTES),
        (memoryview(b"\x89PNG"), Kind.BYTES),
        (io.BytesIO(b"\x89PNG"), Kind.STREAM),
        (42, None),
        (None, None),
    ],
    ids=repr,
)
def test_each_form_has_one_kind(value: object, kind: Kind | None) -> None:
    assert kind_of(value) is kind


class TeamPath(object_storage_path_class()):  # type: ignore[misc]
    """What a platform team might wrap ObjectStoragePath in."""


def test_an_object_storage_path_and_its_subclass_are_the_same_kind_everywhere(tmp_path: Path) -> None:
    base = object_storage_path_class()
    plain, team = base(f"file://{tmp_path}/out"), TeamPath(f"file://{tmp_path}/out")
    assert kind_of(plain) is kind_of(team) is Kind.STORAGE_PATH
    # Resume tells frames apart the same way (the URI with its connection), not by the class name.
    assert frame_identity(team) == frame_identity(plain)
    assert str(frame_identity(team)).endswith("#conn_id=")
    # A destination stays the path it is; checking it and naming it for lineage agree.
    assert _as_path(team) is team
    check_destination(team)
    check_source(team, "first_frame_image")
    assert location_name(team) == location_name(plain) == ("file", f"{tmp_path}/out")
