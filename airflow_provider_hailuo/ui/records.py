"""What the views show about one task instance, read from the XComs the operator and the sensor
push (``airflow_provider_hailuo.integration.xcoms``); no database and no web framework here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.cost import format_usd, parse_usd
from airflow_provider_hailuo.gateway.protocol import timings_of
from airflow_provider_hailuo.gateway.urls import is_http_url, signed_url_expiry
from airflow_provider_hailuo.integration.xcoms import (
    XCOM_FAILURE_KEY,
    XCOM_REQUEST_KEY,
    XCOM_TASK_ID_KEY,
)

RETURN_VALUE_KEY = "return_value"
# The provider's own XComs: a task instance with none of them made no Hailuo video (a return
# value alone says nothing: every TaskFlow task has one).
HAILUO_XCOM_KEYS = (XCOM_TASK_ID_KEY, XCOM_REQUEST_KEY, XCOM_FAILURE_KEY)
# Every XCom key a view reads.
VIEW_XCOM_KEYS = (*HAILUO_XCOM_KEYS, RETURN_VALUE_KEY)
# The classes whose task instances the run view lists even before they pushed anything.
HAILUO_OPERATORS = frozenset({"HailuoImageToVideoOperator", "HailuoTextToVideoOperator", "HailuoTaskSensor"})
# The states in which Airflow never ran a task instance: it made no video, and will not.
NOT_RUN_STATES = frozenset({"upstream_failed", "skipped", "removed"})


@dataclass(frozen=True)
class VideoSource:
    """Where the page plays the video from: the API server's copy, the gateway URL, or nowhere."""

    kind: str  # "local", "gateway", "expired" or "none"
    url: str | None = None
    expired_at: datetime | None = None


@dataclass(frozen=True)
class VideoRecord:
    """One task instance's Hailuo video, as far as its XComs tell."""

    task_id: str
    map_index: int
    state: str | None
    hailuo_task_id: str | None = None
    status: str | None = None
    model: str | None = None
    video_url: str | None = None
    local_path: str | None = None
    cost: str | None = None
    discount: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_code is not None or self.error_message is not None or self.state == "failed"

    @property
    def not_run(self) -> bool:
        """Airflow never ran it (an upstream failed, or it was skipped): no video is coming."""
        return not self.failed and self.state in NOT_RUN_STATES and self.hailuo_task_id is None

    def servable_path(self, folders: Iterable[Path]) -> Path | None:
        """The downloaded copy, if it is a file on this machine inside one of ``folders``.

        An XCom is written by DAG code, so a path in one is never trusted: only files under the
        folders the deployment names (``[hailuo] ui_video_folders``) are ever read.
        """
        path = local_file(self.local_path)
        if path is None or not self.hailuo_task_id:
            return None
        # Downloads are named after their gateway task: a path to any other file (another DAG's
        # video in a shared folder, say) is not this record's video.
        if not path.name.startswith(self.hailuo_task_id):
            return None
        for folder in folders:
            if path.is_relative_to(folder.resolve()) and path.is_file():
                return path
        return None

    def source(self, folders: Iterable[Path], now: datetime) -> VideoSource:
        if self.servable_path(folders) is not None:
            return VideoSource("local")
        if not self.video_url or not is_http_url(self.video_url):
            return VideoSource("none")
        expires = signed_url_expiry(self.video_url)
        if expires is not None and expires <= now:
            return VideoSource("expired", expired_at=expires)
        return VideoSource("gateway", url=self.video_url, expired_at=expires)


def local_file(location: str | None) -> Path | None:
    """A local path or ``file://`` URI as a resolved path; ``None`` for object storage and the rest."""
    if not location:
        return None
    parts = urlsplit(location)
    if parts.scheme == "file":
        location = unquote(parts.path)
    elif parts.scheme:
        return None
    path = Path(location)
    return path.resolve() if path.is_absolute() else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def video_record(task_id: str, map_index: int, state: str | None, xcoms: Mapping[str, Any]) -> VideoRecord:
    """A task instance's record from its XComs by key; values of the wrong shape are ignored."""
    result = xcoms.get(RETURN_VALUE_KEY)
    result = result if isinstance(result, Mapping) else {}
    failure = xcoms.get(XCOM_FAILURE_KEY)
    failure = failure if isinstance(failure, Mapping) else {}
    request = xcoms.get(XCOM_REQUEST_KEY)
    metadata = result.get("metadata")
    error_code = failure.get("error_code")
    return VideoRecord(
        task_id=task_id,
        map_index=map_index,
        state=state,
        hailuo_task_id=_text(result.get("hailuo_task_id"))
        or _text(failure.get("hailuo_task_id"))
        or _text(xcoms.get(XCOM_TASK_ID_KEY)),
        status=_text(result.get("status")) or _text(failure.get("status")),
        model=_text(result.get("model"))
        or (_text(request.get("model")) if isinstance(request, Mapping) else None),
        video_url=_text(result.get("video_url")),
        local_path=_text(result.get("local_path")),
        cost=_text(result.get("cost")),
        discount=_text(result.get("discount")),
        request=request if isinstance(request, Mapping) else {},
        timings=timings_of(metadata) if isinstance(metadata, Mapping) else {},
        error_code=None if error_code is None else str(error_code),
        error_message=_text(failure.get("error_message")),
    )


def cost_total(records: Iterable[VideoRecord]) -> tuple[str, int]:
    """The exact sum of the gateway's cost strings, and how many records it adds up."""
    total = Decimal(0)
    priced = 0
    for record in records:
        if record.cost is None:
            continue
        try:
            total += parse_usd(record.cost, "cost")
        except HailuoValidationError:
            continue  # not the gateway's decimal string: left out, and not counted as priced
        priced += 1
    return format_usd(total), priced
