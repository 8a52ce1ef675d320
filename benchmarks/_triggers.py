"""What the triggerer benchmarks share: driving triggers as a triggerer does, and watching the loop.

A run of triggers is measured from inside its event loop: a heartbeat's overshoot (the loop's
lag), the full (generation 2) garbage collections that stop it, the process's CPU time and peak
RSS growth, and, from the emulator, the polls each task received.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _harness import memory_status, percentile, reset_peak_rss

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

HEARTBEAT_SECONDS = 0.010


def succeeded(payload: Any) -> bool:
    """HttpSensorTrigger's event is ``True``; the provider's triggers send a dict with a status."""
    return payload is True or (isinstance(payload, dict) and payload.get("status") == "success")


async def drive(trigger: BaseTrigger) -> tuple[Any, float]:
    """Run a trigger as the triggerer does, up to its first event: (its payload, when it came, by
    ``time.perf_counter``)."""
    events = trigger.run()
    try:
        async for event in events:
            return event.payload, time.perf_counter()
    finally:
        await events.aclose()
    return None, time.perf_counter()


async def heartbeat(lags: list[float], stop: asyncio.Event) -> None:
    """Sleep 10 ms again and again; each overshoot is the loop's lag at that moment."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(HEARTBEAT_SECONDS)
        lags.append(time.perf_counter() - started - HEARTBEAT_SECONDS)


def poll_gaps(poll_log: list[dict[str, Any]], task_ids: set[str]) -> list[float]:
    """The seconds between consecutive polls of each task: a trigger's real pace, which falls behind
    its interval when its requests queue or its loop is busy."""
    last: dict[str, float] = {}
    gaps = []
    for poll in sorted(poll_log, key=lambda poll: poll["at"]):
        task_id = poll["task_id"]
        if task_id not in task_ids:
            continue
        if task_id in last:
            gaps.append(poll["at"] - last[task_id])
        last[task_id] = poll["at"]
    return gaps


@dataclass
class LoopWatch:
    """Watches one run of triggers: the loop's lag, full collections, CPU, peak RSS growth.

    ``async with LoopWatch() as watch:`` around the run; :meth:`figures` after.
    """

    lags: list[float] = field(default_factory=list)
    gc_pauses: list[float] = field(default_factory=list)
    _gc_started: list[float] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _beat: asyncio.Task[None] | None = None
    _rss_before: int = 0
    _hwm_reset: bool = False
    _usage: Any = None
    _usage_after: Any = None
    _peak_rss: int = 0

    def _gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_started.append(time.perf_counter())
        elif self._gc_started:
            self.gc_pauses.append(time.perf_counter() - self._gc_started.pop())

    async def __aenter__(self) -> LoopWatch:
        gc.collect()
        self._rss_before = memory_status("VmRSS")
        self._hwm_reset = reset_peak_rss()
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._beat = asyncio.create_task(heartbeat(self.lags, self._stop))
        gc.callbacks.append(self._gc_callback)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._gc_callback)
        self._stop.set()
        if self._beat is not None:
            await self._beat
        self._usage_after = resource.getrusage(resource.RUSAGE_SELF)
        self._peak_rss = memory_status("VmHWM") if self._hwm_reset else self._usage_after.ru_maxrss * 1024

    def figures(self) -> dict[str, Any]:
        before, after = self._usage, self._usage_after
        return {
            "lag_samples": len(self.lags),
            "lag_p50_ms": percentile(self.lags, 0.50) * 1000,
            "lag_p99_ms": percentile(self.lags, 0.99) * 1000,
            "lag_max_ms": max(self.lags, default=0.0) * 1000,
            "gc_full_count": len(self.gc_pauses),
            "gc_full_total_ms": sum(self.gc_pauses) * 1000,
            "gc_full_max_ms": max(self.gc_pauses, default=0.0) * 1000,
            "peak_rss_growth_bytes": max(0, self._peak_rss - self._rss_before),
            "peak_rss_measured_by": "VmHWM after clear_refs" if self._hwm_reset else "ru_maxrss",
            "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        }


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
