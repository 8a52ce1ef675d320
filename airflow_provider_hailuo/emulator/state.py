"""Everything the emulator remembers, in one object that lives on the emulator's event loop.

All mutation happens in request handlers on that loop (the control API is HTTP too), so no lock
is needed and every counter is exact.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from airflow_provider_hailuo.emulator.cdn import VideoUrls
from airflow_provider_hailuo.emulator.config import ControlError, EmulatorConfig
from airflow_provider_hailuo.emulator.faults import FaultQueue
from airflow_provider_hailuo.emulator.pricing import cost_for
from airflow_provider_hailuo.emulator.quotas import Quotas
from airflow_provider_hailuo.emulator.renders import RenderPlanner
from airflow_provider_hailuo.emulator.stats import RequestStats
from airflow_provider_hailuo.emulator.tasks import (
    COMPLETED,
    DEFAULT_ERROR_CODE,
    ERROR_SHAPE_SEED,
    EmulatedTask,
    TaskOutcome,
    check_error_spec,
    new_task_id,
    task_error_payload,
)
from airflow_provider_hailuo.gateway.protocol import FINAL_STATUSES, STATUS_CANCELLED, STATUS_FAILED


def _utcnow() -> datetime:
    return datetime.now(UTC)


# The poll log keeps the latest polls only, so a long benchmark cannot grow it without bound.
POLL_LOG_LIMIT = 500_000


class EmulatorState:
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.default_config = config or EmulatorConfig()
        self.config = self.default_config
        self.tasks: dict[str, EmulatedTask] = {}
        self.stats = RequestStats()
        self.faults = FaultQueue()
        self.videos = VideoUrls()
        self.quotas = Quotas()
        self.renders = RenderPlanner(self.config.render_seed)
        # The first URL issued for each task, handed out again under stable_video_urls.
        self.first_video_urls: dict[str, str] = {}
        # Not a counter since reset but the present: connections open now stay open across a reset.
        self.connections_open = 0
        # (task id, the client's TCP port, wall time) of every answered poll: which connection,
        # and so which client process, polled what and when (the e2e suite checks that no task is
        # polled by two triggerers at once).
        self.polls: deque[tuple[str, int | None, float]] = deque(maxlen=POLL_LOG_LIMIT)

    def connection_made(self) -> None:
        """A TCP connection was accepted (called by the server, not by a request handler)."""
        self.stats.connections_opened += 1
        self.connections_open += 1

    def connection_lost(self) -> None:
        self.connections_open -= 1

    def record_poll(self, task_id: str, client_port: int | None) -> None:
        self.polls.append((task_id, client_port, time.time()))

    def reset(self) -> None:
        """Back to the state at start: no tasks, counters, faults or video URLs, and the starting config.

        ``connections_open`` is kept: the connections open now, the control API's own among them,
        are still open after it.
        """
        self.config = self.default_config
        self.tasks.clear()
        self.stats = RequestStats()
        self.faults = FaultQueue()
        self.videos.clear()
        self.quotas = Quotas()
        self.renders = RenderPlanner(self.config.render_seed)
        self.first_video_urls.clear()
        self.polls.clear()

    def tasks_in_flight(self, now_monotonic: float) -> int:
        """Tasks created and not final yet: what a gateway's cap on tasks in flight counts."""
        return sum(1 for task in self.tasks.values() if task.status(now_monotonic) not in FINAL_STATUSES)

    def create_task(self, model: str, params: Mapping[str, Any]) -> EmulatedTask:
        """Record a validated request as a task; a queued ``task_failure`` decides its ending."""
        failure = self.faults.take_task_failure()
        task_id, now = new_task_id(), time.monotonic()
        config = self.config
        if self.renders.seed != config.render_seed:  # a new seed starts its sequence afresh
            self.renders = RenderPlanner(config.render_seed)
        plan = self.renders.plan(
            task_id=task_id,
            model=model,
            resolution=params.get("resolution"),
            duration=params.get("duration"),
            profile=config.render_profile,
            render_seconds=config.render_seconds,
            time_scale=config.render_time_scale,
            slots=config.render_slots,
            now=now,
        )
        task = EmulatedTask.create(
            model=model,
            params=params,
            cost=cost_for(params.get("duration"), params.get("resolution"), model),
            render_seconds=config.render_seconds,
            outcome=failure.task_outcome() if failure else COMPLETED,
            now=_utcnow(),
            now_monotonic=now,
            task_id=task_id,
            plan=plan,
        )
        self.tasks[task.id] = task
        self.stats.tasks_created += 1
        return task

    def force_status(
        self,
        task: EmulatedTask,
        status: object,
        *,
        error_code: str | None = None,
        error_shape: str = ERROR_SHAPE_SEED,
        error_message: str | None = None,
    ) -> None:
        """Any non-empty status string is accepted: unknown ones test a client's "still running" path."""
        if not isinstance(status, str) or not status.strip():
            raise ControlError(f"status must be a non-empty string, got {status!r}")
        check_error_spec(status, error_code, error_shape)
        if error_message is not None and (
            not isinstance(error_message, str) or status not in (STATUS_FAILED, STATUS_CANCELLED)
        ):
            raise ControlError("error_message must be a string, and only goes with 'failed' or 'cancelled'")
        if status == STATUS_FAILED and error_code is None:
            error_code = DEFAULT_ERROR_CODE
        task.force(
            TaskOutcome(status, task_error_payload(error_code, error_shape, error_message)), now=_utcnow()
        )

    def to_dict(self) -> dict[str, Any]:
        """The stats endpoint's answer: request and connection counters, tasks by status and fault use."""
        now = time.monotonic()
        by_status = Counter(task.status(now) for task in self.tasks.values())
        return {
            **self.stats.to_dict(),
            "connections_open": self.connections_open,
            "tasks_by_status": dict(sorted(by_status.items())),
            "faults_pending": len(self.faults.pending()),
            "faults_applied": dict(sorted(self.faults.applied.items())),
            "quota_refusals": dict(sorted(self.quotas.refused.items())),
        }
