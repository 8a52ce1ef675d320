"""HailuoTaskTrigger: polls one gateway task from the triggerer until it is final.

It serialises only what identifies the work (connection id, gateway task id, poll interval, end
time, the earliest time to fire, when the task was created and what it asked for): never the API
key, never an image. Everything in ``run()`` is non-blocking: the connection is read through
Airflow's async lookup and the gateway through the hook's shared aiohttp pool.

When it polls: as gateway/render_times.py schedules (not before renders of the same ask have been
seen to finish, then every ``poll_interval``; without history, every ``poll_interval`` from a
first poll soon after it starts); each poll takes
its connection's turn (triggers/pacer.py), so a connection's polls keep to its rate and slow
together when the gateway refuses them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_hailuo.exceptions import (
    HailuoError,
    HailuoTimeoutError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway.defaults import DEFAULT_POLL_INTERVAL
from airflow_provider_hailuo.gateway.protocol import (
    STATUS_CANCELLED,
    STATUS_FAILED,
    HailuoTask,
    failure_error,
    still_rendering_warning,
    task_from_dict,
)
from airflow_provider_hailuo.gateway.quota import is_quota_refusal
from airflow_provider_hailuo.gateway.render_times import (
    RENDER_TIMES,
    RenderKey,
    key_from_kwargs,
    next_poll_delay,
    observed_render_seconds,
    wait_for_earliest,
)
from airflow_provider_hailuo.hooks.async_pool import SessionLease
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.hooks.settings import GatewaySettings
from airflow_provider_hailuo.integration.metrics import record_failed, record_timed_out
from airflow_provider_hailuo.integration.triggerers import poll_rate_share
from airflow_provider_hailuo.triggers.base import HailuoBaseTrigger
from airflow_provider_hailuo.triggers.pacer import PollPacer, connection_pacer

# The statuses of the one event a trigger yields.
EVENT_SUCCESS = "success"
EVENT_FAILED = STATUS_FAILED
EVENT_CANCELLED = STATUS_CANCELLED
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"
EVENT_STATUSES = frozenset({EVENT_SUCCESS, EVENT_FAILED, EVENT_CANCELLED, EVENT_TIMEOUT, EVENT_ERROR})
MAX_FIRST_POLL_SPREAD = 5.0  # seconds: a render takes minutes, the first poll may wait this long


class HailuoTaskTrigger(HailuoBaseTrigger):
    """Wait in the triggerer for a Hailuo gateway task; yield one event when it ends or time runs out.

    :param hailuo_task_id: the gateway task to watch.
    :param hailuo_conn_id: connection of type ``hailuo``.
    :param poll_interval: seconds between polls.
    :param end_time: Unix time after which a ``timeout`` event is yielded; ``None`` waits for as
        long as Airflow's own deferral timeout allows. An absolute time survives triggerer restarts.
    :param try_number: the try of the task that deferred, echoed in the event.
    :param not_before: Unix time before which no event is yielded (one ready sooner is held until
        then): a task that deferred comes back no sooner than
        :data:`~airflow_provider_hailuo.gateway.defaults.MIN_DEFERRAL_SECONDS` after deferring. ``None``
        (a sensor started in the triggerer, which no worker deferred) yields at once.
    :param created_at: Unix time at or before the gateway accepted the task (the operator takes
        it just before sending the create); ``None`` (a sensor, a resumed task) schedules no
        sparse polls.
    :param render_key: ``[model, resolution, duration]`` as the task asked them: renders of the
        same ask, seen by this triggerer, say when its video can be ready (gateway/render_times.py).
    """

    def __init__(
        self,
        hailuo_task_id: str,
        hailuo_conn_id: str = HailuoHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float | None = None,
        try_number: int | None = None,
        not_before: float | None = None,
        created_at: float | None = None,
        render_key: list[Any] | tuple[Any, ...] | None = None,
    ) -> None:
        super().__init__(hailuo_conn_id, try_number)
        self.hailuo_task_id = hailuo_task_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.not_before = not_before
        self.created_at = created_at
        self.render_key: RenderKey | None = key_from_kwargs(render_key)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            self.classpath(),
            {
                "hailuo_task_id": self.hailuo_task_id,
                "hailuo_conn_id": self.hailuo_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "try_number": self.try_number,
                "not_before": self.not_before,
                "created_at": self.created_at,
                "render_key": list(self.render_key) if self.render_key else None,
            },
        )

    def _event(self, status: str, message: str, task: HailuoTask | None = None) -> TriggerEvent:
        return self.event(
            {
                "status": status,
                "hailuo_task_id": self.hailuo_task_id,
                "message": message,
                "task": task.to_event() if task else None,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # One generator, no nested ones: Airflow closes a trigger's generator after its event,
        # and a nested generator would be closed twice at once when the loop shuts down.
        hook = HailuoHook(self.hailuo_conn_id)
        try:
            # Shared by the triggers of this connection starting together on this loop.
            settings = await hook.aget_settings()
        except Exception as err:  # a missing connection, one without a key: no poll can succeed
            # (CancelledError is a BaseException: a triggerer shutting down still stops the trigger.)
            event = self._event(
                EVENT_ERROR, f"cannot poll Hailuo task {self.hailuo_task_id}: {_describe(err)}"
            )
            await self._hold()
            yield event
            return
        # Triggers start in herds (a mapped batch deferring, a triggerer restarting): spread their
        # first polls over one interval, or a thousand polls due at the same moment, every
        # interval, would stall the loop and reach the gateway as one burst. With history of its
        # ask, the first poll waits for the earliest its render can be done, spread the same way.
        spread = random.uniform(0, min(self.poll_interval, MAX_FIRST_POLL_SPREAD))
        first = spread + wait_for_earliest(self._elapsed(), RENDER_TIMES.earliest(self._history_key))
        if self.end_time is not None:  # the timeout event, not Airflow's blunter deadline
            first = min(first, max(0.0, self.end_time - time.time()))
        await asyncio.sleep(first)
        pacer = connection_pacer(self.hailuo_conn_id, self._poll_rate(settings))
        seen = _RunState()
        async with SessionLease(settings.base_url):
            while True:
                # No turn before the end time (the connection held for a long Retry-After): no
                # poll, and the timeout event below.
                if await pacer.turn(until=self._monotonic_end()):
                    outcome = await self._poll_once(hook, pacer, seen)
                else:
                    outcome = self._next_delay()
                if isinstance(outcome, TriggerEvent):
                    await self._hold()
                    yield outcome
                    return
                delay = outcome
                if self.end_time is not None:
                    remaining = self.end_time - time.time()
                    if remaining <= 0:
                        await self._hold()
                        yield self._event(
                            EVENT_TIMEOUT,
                            f"Hailuo task {self.hailuo_task_id} did not finish before the timeout; it may "
                            "still finish: wait for it with HailuoTaskSensor(hailuo_task_id="
                            f"{self.hailuo_task_id!r})",
                        )
                        return
                    delay = min(delay, remaining)
                await asyncio.sleep(delay)

    async def _hold(self) -> None:
        """Keep an event until ``not_before``: see MIN_DEFERRAL_SECONDS."""
        if self.not_before is not None:
            await asyncio.sleep(max(0.0, self.not_before - time.time()))

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user marked the deferred task failed or succeeded, or cleared it.

        The gateway task renders on unless the hook can cancel it (a thread: the sync hook's
        request must not block the loop); either way the user is told what keeps running.
        """
        hook = HailuoHook(self.hailuo_conn_id)
        if not await asyncio.to_thread(hook.cancel_task, self.hailuo_task_id):
            self.log.warning("%s", still_rendering_warning(self.hailuo_task_id))

    def _monotonic_end(self) -> float | None:
        """The end time on the pacer's clock."""
        return None if self.end_time is None else time.monotonic() + (self.end_time - time.time())

    def _poll_rate(self, settings: GatewaySettings) -> float | None:
        """This triggerer's share of the connection's poll rate. A bad extra or ``[hailuo]
        triggerers`` is a warning, not the end of a wait for a video already paid for: unpaced."""
        try:
            return poll_rate_share(settings.max_polls_per_second())
        except HailuoError as err:
            self.log.warning("Hailuo task %s: its polls are not paced: %s", self.hailuo_task_id, err)
            return None

    @property
    def _history_key(self) -> tuple[str, RenderKey] | None:
        """Render times are remembered per connection and ask (gateway/render_times.py)."""
        return None if self.render_key is None else (self.hailuo_conn_id, self.render_key)

    def _elapsed(self) -> float | None:
        """Seconds since the create was sent, if known."""
        return None if self.created_at is None else time.time() - self.created_at

    def _next_delay(self) -> float:
        """Seconds to the next poll by the schedule: ``poll_interval``, or longer while renders of
        this ask are not expected to be done (gateway/render_times.py)."""
        return next_poll_delay(self.poll_interval, self._elapsed(), RENDER_TIMES.earliest(self._history_key))

    async def _poll_once(self, hook: HailuoHook, pacer: PollPacer, seen: _RunState) -> TriggerEvent | float:
        """One poll: the final event, or the seconds to wait before the next one."""
        try:
            # One poll (with the hook's retries) never outlives the end time, so the trigger's own
            # timeout event comes before Airflow's blunter deferral timeout.
            remaining = None if self.end_time is None else max(0.1, self.end_time - time.time())
            # asyncio.timeout, not wait_for: on 3.11 wait_for wraps every poll in one more Task.
            async with asyncio.timeout(remaining):
                # A 429 is not retried inside the poll: the next poll is its retry, and the
                # connection's pacer, which every trigger of the connection shares, slows them all.
                task = await hook.aget_task(self.hailuo_task_id, retry_refusals=False)
        except (HailuoTransientError, TimeoutError) as err:
            # Refused, or the hook's retries ran out on this poll; the task goes on rendering
            # regardless, so the trigger keeps polling until its end time instead of failing the task.
            retry_after = err.retry_after if isinstance(err, HailuoTransientError) else None
            if is_quota_refusal(err):
                pacer.refused(retry_after)  # the connection slows, and holds for Retry-After
            delay = max(self._next_delay(), retry_after or 0.0)
            self.log.warning(
                "Hailuo task %s: poll failed (%s); polling again in %.0f s",
                self.hailuo_task_id,
                _describe(err),
                delay,
            )
            return delay
        except Exception as err:
            # Not transient (a revoked key, an unknown task, an unreadable answer, anything else):
            # reported as the one event, never raised, so the task fails with this message.
            return self._event(
                EVENT_ERROR, f"polling Hailuo task {self.hailuo_task_id} failed: {_describe(err)}"
            )
        pacer.answered()
        if task.is_success:
            self._learn_render_time(task, seen.running_seen_at)
            return self._event(EVENT_SUCCESS, f"Hailuo task {task.id} completed", task)
        if task.is_final:
            return self._event(task.status, task.describe_failure(), task)
        seen.running_seen_at = time.time()
        if not task.is_known_status and task.status not in (seen.reported_statuses or ()):
            seen.reported_statuses = {*(seen.reported_statuses or ()), task.status}
            self.log.info("Hailuo task %s reports status %r; still waiting", task.id, task.status)
        return self._next_delay()

    def _learn_render_time(self, task: HailuoTask, running_seen_at: float | None) -> None:
        """Tell this triggerer's other waiters of the same ask how long this render took."""
        if self._history_key is None:
            return
        seen_running_for = (
            running_seen_at - self.created_at
            if running_seen_at is not None and self.created_at is not None
            else None
        )
        seconds = observed_render_seconds(task.metadata, lower_bound=seen_running_for)
        if seconds is not None:
            RENDER_TIMES.observe(self._history_key, seconds)


class _RunState:
    """What one trigger's run learns between polls: one small object, not one per poll."""

    __slots__ = ("reported_statuses", "running_seen_at")

    def __init__(self) -> None:
        self.reported_statuses: set[str] | None = None  # made for the rare unknown status only
        self.running_seen_at: float | None = None  # the last poll that saw the task running


def _describe(error: BaseException) -> str:
    """This provider's errors speak for themselves; anything else is named by its type too."""
    return str(error) if isinstance(error, HailuoError) else f"{type(error).__name__}: {error}"


def _summary(event: object) -> str:
    """An event as an error may quote it: its status and task id, never its task (whose video
    URLs carry signatures)."""
    if not isinstance(event, Mapping):
        return repr(event) if event is None or isinstance(event, str) else type(event).__name__
    return f"status={event.get('status')!r}, hailuo_task_id={event.get('hailuo_task_id')!r}, keys={sorted(event)}"


def completed_task(event: object, hook: HailuoHook) -> HailuoTask:
    """The completed task an event reports, read again from the gateway: an event carries no
    video URL (Airflow logs events), and the fresh read brings one that has not expired."""
    reported = task_from_event(event)
    task = hook.get_task(reported.id)
    if not task.is_success:
        raise HailuoError(
            f"Hailuo trigger reported task {reported.id} completed, but the gateway now says {task.status!r}"
        )
    return task


def task_from_event(event: object) -> HailuoTask:
    """The completed task an event reports, or the exception that says why there is none.

    A missing, malformed or unknown event is an error, never a success.
    """
    if not isinstance(event, Mapping) or event.get("status") not in EVENT_STATUSES:
        raise HailuoError(f"Hailuo trigger sent a malformed event: {_summary(event)}")
    status, task_id, message = event["status"], event.get("hailuo_task_id"), event.get("message") or ""
    task_data = event.get("task")
    if status == EVENT_TIMEOUT:
        record_timed_out()
        raise HailuoTimeoutError(message or f"Hailuo task {task_id} timed out")
    if status == EVENT_ERROR:
        raise HailuoError(
            f"{message} (Hailuo task {task_id})" if task_id and str(task_id) not in message else message
        )
    if not isinstance(task_data, Mapping):
        raise HailuoError(f"Hailuo trigger sent a {status!r} event without the task: {_summary(event)}")
    try:
        task = task_from_dict(task_data)
    except (KeyError, TypeError, ValueError) as err:
        raise HailuoError(f"Hailuo trigger sent an unreadable task: {_summary(event)}") from err
    if status == EVENT_SUCCESS and task.is_success:
        return task  # without its videos: see completed_task
    if status == EVENT_SUCCESS:
        raise HailuoError(f"Hailuo trigger reported success for task {task.id} in status {task.status!r}")
    # Counted here, where the worker reads the event (once per try), not in the trigger: a
    # triggerer restarted before its event was handled runs the trigger, and would count, again.
    record_failed(task)
    raise failure_error(task)
