"""HailuoQuotaWaitTrigger: holds a task whose create the gateway refused for quota, without a worker.

It sends nothing to the gateway (only a create can test the quota, and it is the worker that
holds the frames): it waits for the task's turn and yields one event, and the operator resumes on a
worker and sends the create again. It serialises the connection id and times only.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_hailuo.gateway.quota import ReleaseSchedule
from airflow_provider_hailuo.triggers.base import HailuoBaseTrigger

EVENT_QUOTA_TURN = "quota_turn"

# One schedule per connection per triggerer event loop: the tasks of one account take turns.
_schedules: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, ReleaseSchedule]] = (
    weakref.WeakKeyDictionary()
)


def release_schedule(hailuo_conn_id: str) -> ReleaseSchedule:
    """The running loop's schedule of turns for ``hailuo_conn_id``."""
    by_connection = _schedules.setdefault(asyncio.get_running_loop(), {})
    return by_connection.setdefault(hailuo_conn_id, ReleaseSchedule())


class HailuoQuotaWaitTrigger(HailuoBaseTrigger):
    """Wait in the triggerer until a refused create may be sent again; yield one event.

    :param hailuo_conn_id: the connection (the account) whose quota is waited for; its waiting
        tasks take turns, ``spacing`` seconds apart.
    :param not_before: Unix time before which the task may not return (the gateway's Retry-After,
        or a backoff).
    :param spacing: seconds between two tasks' turns.
    :param end_time: Unix time at which the task returns whatever its turn: its quota wait is over.
    :param try_number: the try of the task that deferred, echoed in the event.
    """

    def __init__(
        self,
        hailuo_conn_id: str,
        not_before: float,
        spacing: float,
        end_time: float,
        try_number: int | None = None,
    ) -> None:
        super().__init__(hailuo_conn_id, try_number)
        self.not_before = not_before
        self.spacing = spacing
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            self.classpath(),
            {
                "hailuo_conn_id": self.hailuo_conn_id,
                "not_before": self.not_before,
                "spacing": self.spacing,
                "end_time": self.end_time,
                "try_number": self.try_number,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        schedule = release_schedule(self.hailuo_conn_id)
        now = time.time()
        turn = schedule.reserve(self.not_before, self.spacing, now=now)
        if turn > self.end_time:  # the wait ends before this turn: give it to a task that can use it
            schedule.cancel(turn)
            turn = self.end_time
        try:
            await asyncio.sleep(max(0.0, turn - now))
        except asyncio.CancelledError:  # cleared, marked, or the triggerer stopping: no create comes
            schedule.cancel(turn)
            raise
        yield self.event({"status": EVENT_QUOTA_TURN})
