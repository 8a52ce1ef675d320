"""The gateway's wire format, pure (no I/O): paths, the create body, task parsing, errors.

Every fact about the gateway lives here once (see ``docs/gateway-protocol.md``), so that when the real gateway
turns out to differ, one edit adapts the sync hook, the async hook, the trigger, the sensor and the
emulator alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import pendulum

from airflow_provider_hailuo.exceptions import (
    HailuoProtocolError,
    HailuoTaskFailedError,
)
from airflow_provider_hailuo.gateway.http_errors import snippet

STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"
STATUS_IN_PROGRESS = "in_progress"
# Seen in public clients; anything not final counts as still running.
KNOWN_RUNNING_STATUSES = frozenset({STATUS_IN_PROGRESS, "pending", "processing", "queued"})
FINAL_STATUSES = frozenset({STATUS_COMPLETED, STATUS_FAILED, STATUS_CANCELLED})

# The seed's task error codes. Codes are kept as strings so their leading zeros survive.
ERROR_CODES: Mapping[str, str] = {
    "010004095": "internal generation error",
    "010004096": "result parsing error",
    "010004097": "HTTP error response",
    "010004098": "status check error",
    "010004099": "task creation error",
}
_ERROR_CODE_WIDTH = 9


def build_create_body(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The create request: the parameters wrapped in ``input[0].params``, as the gateway expects."""
    return {"model": model, "input": [{"params": dict(params)}]}


def unwrap_create_body(body: object) -> tuple[str, dict[str, Any]]:
    """The inverse of :func:`build_create_body`, for the emulator: ``(model, params)``."""
    if not isinstance(body, Mapping):
        raise HailuoProtocolError("the request body must be a JSON object")
    model = body.get("model")
    items = body.get("input")
    if not isinstance(model, str) or not model:
        raise HailuoProtocolError("'model' is required and must be a string")
    if (
        not isinstance(items, list)
        or len(items) != 1
        or not isinstance(items[0], Mapping)
        or not isinstance(items[0].get("params"), Mapping)
    ):
        raise HailuoProtocolError("'input' must be a list holding one {\"params\": {...}} object")
    return model, dict(items[0]["params"])


def loads(text: str | bytes) -> Any:
    """Parse a JSON response with numbers kept exact (a cost of 0.1 must not become 0.1000000001)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as err:
        raise HailuoProtocolError(f"the gateway sent a response that is not JSON: {snippet(text)}") from err


def _exact_decimal(value: object, what: str) -> str | None:
    """A money amount as its exact decimal string; ``None`` when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise HailuoProtocolError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, Decimal, float)) and not Decimal(value).is_finite():
        raise HailuoProtocolError(f"{what} is not a finite number: {value!r}")
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):  # only reachable when a caller parsed without loads()
        return repr(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation as err:
            raise HailuoProtocolError(f"{what} is not a decimal number: {value!r}") from err
        if not number.is_finite():  # "NaN" and "Infinity" parse, but are not amounts of money
            raise HailuoProtocolError(f"{what} is not a finite number: {value!r}")
        return value.strip()
    raise HailuoProtocolError(f"{what} must be a number or a decimal string, got {type(value).__name__}")


def _jsonable(value: Any) -> Any:
    """Metadata as plain JSON types (Decimals from :func:`loads` become floats or ints)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def normalise_error_code(code: object) -> str | None:
    """Codes as strings; a numeric code that lost its leading zeros in JSON gets them back."""
    if code is None or code == "":
        return None
    if isinstance(code, (int, Decimal)) and not isinstance(code, bool):
        text = str(code)
        padded = text.zfill(_ERROR_CODE_WIDTH)
        return padded if padded in ERROR_CODES else text
    return str(code).strip()


@dataclass(frozen=True)
class TaskError:
    """A failed task's error, whichever of the three shapes the gateway used."""

    code: str | None
    message: str

    @property
    def meaning(self) -> str | None:
        return ERROR_CODES.get(self.code) if self.code else None

    def describe(self) -> str:
        if self.code is None:
            return self.message
        meaning = f" ({self.meaning})" if self.meaning else ""
        return f"error {self.code}{meaning}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "meaning": self.meaning}


def parse_task_error(raw: object) -> TaskError | None:
    """``{"code": int, "error_message": ...}``, ``{"code": "str", "message": ...}`` or a bare string."""
    if raw is None or raw == "" or raw == {}:
        return None
    if isinstance(raw, str):
        return TaskError(code=None, message=raw)
    if isinstance(raw, Mapping):
        message = raw.get("error_message") or raw.get("message") or raw.get("msg") or ""
        code = normalise_error_code(raw.get("code"))
        if not message:
            message = ERROR_CODES.get(code or "", "no error message given")
        return TaskError(code=code, message=str(message))
    return TaskError(code=None, message=str(raw))


@dataclass(frozen=True)
class ContentItem:
    type: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "url": self.url}


@dataclass(frozen=True)
class HailuoTask:
    """One gateway task as the provider understands it, whichever endpoint reported it."""

    id: str
    status: str
    model: str | None = None
    progress: float | None = None
    content: tuple[ContentItem, ...] = ()
    cost: str | None = None
    discount: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error: TaskError | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_success(self) -> bool:
        return self.status == STATUS_COMPLETED

    @property
    def is_known_status(self) -> bool:
        return self.status in FINAL_STATUSES or self.status in KNOWN_RUNNING_STATUSES

    @property
    def video_urls(self) -> list[str]:
        return [item.url for item in self.content if item.type == "video"]

    @property
    def video_url(self) -> str | None:
        urls = self.video_urls
        return urls[0] if urls else None

    def result(self) -> dict[str, Any]:
        """The operator's and the sensor's XCom return value (the keys are public, see docs/design.md)."""
        return {
            "hailuo_task_id": self.id,
            "status": self.status,
            "model": self.model,
            "video_url": self.video_url,
            "video_urls": self.video_urls,
            "content": [item.to_dict() for item in self.content],
            "cost": self.cost,
            "discount": self.discount,
            "metadata": dict(self.metadata),
        }

    def to_event(self) -> dict[str, Any]:
        """What a trigger event carries (:func:`task_from_dict` reads it back): no content and no
        metadata, which hold or may hold signed URLs, since Airflow logs every event it fires.
        Whoever needs the video reads the task again, which also brings a URL that has not expired.
        """
        return {
            "id": self.id,
            "status": self.status,
            "model": self.model,
            "progress": self.progress,
            "cost": self.cost,
            "discount": self.discount,
            "error": self.error.to_dict() if self.error else None,
        }

    def timings(self) -> dict[str, float]:
        """Seconds spent queued and rendering, where the metadata has the timestamps to tell."""
        return timings_of(self.metadata)

    def describe_failure(self) -> str:
        what = self.error.describe() if self.error else "the gateway gave no error details"
        return f"Hailuo task {self.id} {self.status}: {what}"


def timings_of(metadata: Mapping[str, Any]) -> dict[str, float]:
    """Seconds spent queued and rendering, from a task's metadata (or a result's), where it tells.

    ``queued_seconds`` and ``rendering_seconds`` when the gateway stamped the start of rendering,
    else ``total_seconds`` from queueing to completion.
    """
    stamps = {key: _parse_time(metadata.get(key)) for key in ("in_queue_at", "started_at", "completed_at")}
    queued, started, completed = stamps["in_queue_at"], stamps["started_at"], stamps["completed_at"]
    result: dict[str, float] = {}
    if queued and started:
        result["queued_seconds"] = (started - queued).total_seconds()
    if started and completed:
        result["rendering_seconds"] = (completed - started).total_seconds()
    elif queued and completed:
        result["total_seconds"] = (completed - queued).total_seconds()
    return result


def render_seconds_of(metadata: Mapping[str, Any]) -> float | None:
    """Seconds from queueing to completion by the gateway's own stamps (one clock), where it gives
    both; what a render of the same ask may take next time (gateway/render_times.py)."""
    queued, completed = _parse_time(metadata.get("in_queue_at")), _parse_time(metadata.get("completed_at"))
    return (completed - queued).total_seconds() if queued and completed else None


def _parse_time(value: object) -> datetime | None:
    """A metadata timestamp; pendulum reads the ISO 8601 variants gateways write (``Z``, no offset)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = pendulum.parse(value)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        return None
    return parsed if isinstance(parsed, datetime) else None


def _parse_content(output: object) -> tuple[ContentItem, ...]:
    if output is None:
        return ()
    if not isinstance(output, list):
        raise HailuoProtocolError(f"'output' must be a list, got {type(output).__name__}")
    items: list[ContentItem] = []
    for entry in output:
        content = entry.get("content") if isinstance(entry, Mapping) else None
        if content is None:
            continue
        if not isinstance(content, list):
            raise HailuoProtocolError("'output[].content' must be a list")
        for item in content:
            if isinstance(item, Mapping) and isinstance(item.get("url"), str) and item["url"]:
                items.append(ContentItem(type=str(item.get("type") or "video"), url=item["url"]))
    return tuple(items)


def parse_task(payload: object) -> HailuoTask:
    """Read a create or poll response into a :class:`HailuoTask`; malformed ones raise."""
    if not isinstance(payload, Mapping):
        raise HailuoProtocolError(f"a task response must be a JSON object, got {type(payload).__name__}")
    task_id = payload.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise HailuoProtocolError(f"the task response has no 'id': {snippet(json.dumps(_jsonable(payload)))}")
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise HailuoProtocolError(f"the response for task {task_id} has no 'status'")
    usage = payload.get("usage") or {}
    if not isinstance(usage, Mapping):
        raise HailuoProtocolError(f"'usage' of task {task_id} must be an object")
    metadata = payload.get("metadata") or {}
    progress = payload.get("progress")
    model = payload.get("model")
    return HailuoTask(
        id=task_id,
        status=status.strip().lower(),
        model=model if isinstance(model, str) else None,
        progress=float(progress) if isinstance(progress, (int, float, Decimal)) else None,
        content=_parse_content(payload.get("output")),
        cost=_exact_decimal(usage.get("cost"), "usage.cost"),
        discount=_exact_decimal(usage.get("discount"), "usage.discount"),
        metadata=_jsonable(metadata) if isinstance(metadata, Mapping) else {},
        error=parse_task_error(payload.get("error")),
    )


def task_from_dict(data: Mapping[str, Any]) -> HailuoTask:
    """Rebuild a task from :meth:`HailuoTask.to_event` (a trigger event's payload)."""
    error = data.get("error")
    return HailuoTask(
        id=data["id"],
        status=data["status"],
        model=data.get("model"),
        progress=data.get("progress"),
        content=tuple(ContentItem(type=i["type"], url=i["url"]) for i in data.get("content") or ()),
        cost=data.get("cost"),
        discount=data.get("discount"),
        metadata=data.get("metadata") or {},
        error=TaskError(code=error.get("code"), message=error.get("message", "")) if error else None,
    )


# The gateway documents no way to cancel a task (MiniMax's own API has one). When one is learned,
# its path template (e.g. "/model/v1/generation/task/{task_id}/cancel") goes here and
# HailuoHook.cancel_task uses it; until then a killed Airflow task leaves its video rendering.
CANCEL_PATH: str | None = None


def still_rendering_warning(task_id: str) -> str:
    """What a killed Airflow task says of the gateway task it leaves behind."""
    return (
        f"Hailuo task {task_id} keeps rendering on the gateway and will be charged: the gateway offers no "
        "way to cancel it. With durable=True, a retry of this task instance resumes it rather than paying "
        "again."
    )


def task_path(template: str, task_id: str) -> str:
    """The poll path for a task id (the id is path-quoted; the template comes from the connection)."""
    return template.format(task_id=quote(task_id, safe=""))


def failure_error(task: HailuoTask) -> HailuoTaskFailedError:
    """The exception for a task that ended without a video, with the gateway's code and message."""
    return HailuoTaskFailedError(
        task.describe_failure(),
        hailuo_task_id=task.id,
        status=task.status,
        error_code=task.error.code if task.error else None,
        error_message=task.error.message if task.error else None,
    )
