"""One emulated gateway task: how it progresses, how it ends, and how a poll response shows it.

A task's fate is decided when it is created (``outcome``) and revealed when its render time has
passed, the way a real render ends; the control API can force a status at any moment.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_hailuo.emulator.config import ControlError
from airflow_provider_hailuo.emulator.renders import RenderPlan
from airflow_provider_hailuo.gateway.params import IMAGE_PARAMETERS
from airflow_provider_hailuo.gateway.protocol import (
    ERROR_CODES,
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_IN_PROGRESS,
)

# The three shapes of a failed task's ``error`` that docs/gateway-protocol.md lists.
ERROR_SHAPE_SEED = "seed"  # {"code": 10004095, "error_message": "..."}: an integer code, leading zero lost
ERROR_SHAPE_STRING = "string"  # {"code": "010004095", "message": "..."}
ERROR_SHAPE_BARE = "bare"  # "internal generation error (code 010004095)"
ERROR_SHAPES: tuple[str, ...] = (ERROR_SHAPE_SEED, ERROR_SHAPE_STRING, ERROR_SHAPE_BARE)
DEFAULT_ERROR_CODE = "010004095"

_SHOWN_IMAGE_CHARS = 48


def new_task_id() -> str:
    return f"task_{secrets.token_hex(12)}"


def isoformat(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, to the millisecond, as gateways usually write it."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shorten_image(value: object) -> object:
    """Keep a data URL's head only: a task list must not hold (or print) megabytes of base64."""
    if isinstance(value, str) and len(value) > _SHOWN_IMAGE_CHARS:
        return f"{value[:_SHOWN_IMAGE_CHARS]}...({len(value)} chars)"
    return value


def check_error_spec(status: str, error_code: str | None, error_shape: str) -> None:
    """Refuse an error the emulator could not render in the asked-for shape."""
    if error_shape not in ERROR_SHAPES:
        raise ControlError(f"error_shape={error_shape!r}: must be one of {', '.join(ERROR_SHAPES)}")
    if error_code is not None and (not isinstance(error_code, str) or not error_code):
        raise ControlError(f"error_code must be a non-empty string such as {DEFAULT_ERROR_CODE!r}")
    if error_shape == ERROR_SHAPE_SEED and error_code is not None and not error_code.isdigit():
        raise ControlError(
            f"error_code={error_code!r}: the seed shape sends an integer code, so it must be digits"
        )
    if status not in (STATUS_FAILED, STATUS_CANCELLED) and error_code is not None:
        raise ControlError(f"an error_code only goes with status 'failed' or 'cancelled', not {status!r}")


def task_error_payload(error_code: str | None, error_shape: str, error_message: str | None) -> object:
    """The ``error`` field of a failed task, in one of the three shapes; ``None`` when there is none."""
    if error_code is None and error_message is None:
        return None
    text = error_message or ERROR_CODES.get(error_code or "", "task failed")
    if error_shape == ERROR_SHAPE_SEED:
        return {"code": int(error_code), "error_message": text} if error_code else {"error_message": text}
    if error_shape == ERROR_SHAPE_STRING:
        return {"code": error_code, "message": text} if error_code else {"message": text}
    return f"{text} (code {error_code})" if error_code else text


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ends (or, when forced, where it stands): a status and the ``error`` it shows."""

    status: str
    error: object = None


COMPLETED = TaskOutcome(STATUS_COMPLETED)


@dataclass
class EmulatedTask:
    id: str
    model: str
    params: Mapping[str, Any]
    cost: str
    created_at: datetime
    created_monotonic: float
    render_seconds: float
    outcome: TaskOutcome
    forced: TaskOutcome | None = None
    forced_at: datetime | None = None
    plan: RenderPlan | None = None

    @classmethod
    def create(
        cls,
        *,
        model: str,
        params: Mapping[str, Any],
        cost: str,
        render_seconds: float,
        outcome: TaskOutcome,
        now: datetime,
        now_monotonic: float,
        task_id: str | None = None,
        plan: RenderPlan | None = None,
    ) -> EmulatedTask:
        shown = {k: shorten_image(v) if k in IMAGE_PARAMETERS else v for k, v in params.items()}
        plan = plan or RenderPlan(0.0, render_seconds)
        return cls(
            id=task_id or new_task_id(),
            model=model,
            params=shown,
            cost=cost,
            created_at=now,
            created_monotonic=now_monotonic,
            render_seconds=plan.queued_seconds + plan.render_seconds,
            outcome=outcome,
            plan=plan,
        )

    def force(self, outcome: TaskOutcome, *, now: datetime) -> None:
        self.forced, self.forced_at = outcome, now

    def _rendered(self, now_monotonic: float) -> bool:
        return now_monotonic - self.created_monotonic >= self.render_seconds

    def current(self, now_monotonic: float) -> TaskOutcome:
        if self.forced is not None:
            return self.forced
        return self.outcome if self._rendered(now_monotonic) else TaskOutcome(STATUS_IN_PROGRESS)

    def status(self, now_monotonic: float) -> str:
        return self.current(now_monotonic).status

    def _progress(self, now_monotonic: float) -> float | None:
        plan = self.plan or RenderPlan(0.0, self.render_seconds)
        return plan.progress(max(0.0, now_monotonic - self.created_monotonic))

    def _started_at(self) -> datetime:
        queued = self.plan.queued_seconds if self.plan else 0.0
        return self.created_at + timedelta(seconds=queued)

    def _finished_at(self) -> datetime:
        if self.forced_at is not None:
            return self.forced_at
        return self.created_at + timedelta(seconds=self.render_seconds)

    def view(self, now_monotonic: float, video_url: Callable[[], str]) -> dict[str, Any]:
        """The poll response, shaped like docs/gateway-protocol.md: output and usage only once completed.

        ``video_url`` issues a URL; it is called for a completed task only, so that polls of
        running tasks do not pile up URLs nobody was given.
        """
        state = self.current(now_monotonic)
        metadata = {"in_queue_at": isoformat(self.created_at)}
        if now_monotonic - self.created_monotonic >= (self.plan.queued_seconds if self.plan else 0.0):
            metadata["started_at"] = isoformat(self._started_at())
        body: dict[str, Any] = {"id": self.id, "status": state.status, "model": self.model}
        if state.status == STATUS_COMPLETED:
            body["progress"] = 1.0
            body["output"] = [{"content": [{"type": "video", "url": video_url()}]}]
            body["usage"] = {"cost": self.cost, "discount": 0}
        elif state.status not in (STATUS_FAILED, STATUS_CANCELLED):
            progress = self._progress(now_monotonic)
            if progress is not None:  # some tasks report none (see renders.py)
                body["progress"] = progress
        if state.status in (STATUS_COMPLETED, STATUS_FAILED, STATUS_CANCELLED):
            metadata["completed_at"] = isoformat(self._finished_at())
        body["metadata"] = metadata
        body["error"] = state.error
        return body

    def summary(self, now_monotonic: float) -> dict[str, Any]:
        """What the control API lists: the status, the planned ending and the (shortened) params."""
        return {
            "id": self.id,
            "status": self.status(now_monotonic),
            "model": self.model,
            "created_at": isoformat(self.created_at),
            "render_seconds": self.render_seconds,
            "planned_status": self.outcome.status,
            "planned_error": self.outcome.error,
            "forced": self.forced is not None,
            "cost": self.cost,
            "params": dict(self.params),
        }
