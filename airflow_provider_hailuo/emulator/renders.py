"""How long an emulated render takes, how long it waits for a slot, and how its progress reads.

Two profiles:

- ``fixed`` (the default): every task renders ``render_seconds`` at once, its progress a straight
  line; what most tests time against.
- ``realistic``: a render time drawn per task from a lognormal around a median per (model,
  resolution, duration) (about a minute for Hailuo 02 at 768P and 6 s; the long tail puts one
  render in twenty past twice the median), scaled by ``render_time_scale`` for tests; at most
  ``render_slots`` tasks render at once and the rest queue at progress 0; progress stalls and
  jumps rather than climbing a line, and one task in four reports none at all. A client that
  assumes renders of one length, or a progress that can be extrapolated, is wrong on it.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from dataclasses import dataclass

PROFILE_FIXED = "fixed"
PROFILE_REALISTIC = "realistic"
PROFILES = (PROFILE_FIXED, PROFILE_REALISTIC)

# The median render of Hailuo 02 at 768P and 6 s, and how the others compare (the gateway publishes
# no render times; Hailuo 2.3 Fast is advertised as about twice as fast).
MEDIAN_SECONDS = 60.0
_RESOLUTION_FACTOR = {"512P": 0.7, "768P": 1.0, "1080P": 1.7}
_DURATION_FACTOR = {6: 1.0, 10: 1.8}
_MODEL_FACTOR = {
    "minimax_hailuo_23_fast_i2v": 0.5,
    "minimax_hailuo_23_t2v": 1.1,
    "minimax_hailuo_02_t2v": 1.1,
}
# The lognormal's spread: p95 = median * e^(1.645 * 0.5), about 2.3 times the median.
SIGMA = 0.5
# A running task never reports 1.0: that value means "done" to a reader of the progress bar.
MAX_RUNNING_PROGRESS = 0.99
# Tasks whose polls carry no ``progress`` at all, out of four.
_SILENT_IN_FOUR = 1


def median_seconds(model: str, resolution: str | None, duration: int | None) -> float:
    """The median render time of a (model, resolution, duration), unscaled; unset: 768P, 6 s."""
    return (
        MEDIAN_SECONDS
        * _MODEL_FACTOR.get(model, 1.0)
        * _RESOLUTION_FACTOR.get(resolution or "768P", 1.0)
        * _DURATION_FACTOR.get(duration or 6, 1.0)
    )


@dataclass(frozen=True)
class RenderPlan:
    """One task's render: ``queued_seconds`` waiting for a slot, then ``render_seconds``.

    ``steps`` are ``(fraction of the render, progress shown from then on)``; ``()`` is a straight
    line; ``None`` means the task reports no progress.
    """

    queued_seconds: float
    render_seconds: float
    steps: tuple[tuple[float, float], ...] | None = ()

    def progress(self, elapsed: float) -> float | None:
        """What a poll ``elapsed`` seconds after the create shows while the task runs."""
        if self.steps is None:
            return None
        if elapsed < self.queued_seconds:
            return 0.0
        if self.render_seconds <= 0:
            return MAX_RUNNING_PROGRESS
        fraction = (elapsed - self.queued_seconds) / self.render_seconds
        if not self.steps:
            return round(min(fraction, MAX_RUNNING_PROGRESS), 2)
        shown = 0.0
        for at, value in self.steps:
            if fraction >= at:
                shown = value
        return shown


class RenderPlanner:
    """Plans each new task's render under the emulator's settings; keeps the slots' queue."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        # Render times from a generator of their own: how many draws a task's progress takes
        # depends on its (random) id, and must not shift the renders of the tasks after it, so
        # that one seed gives every run the same render times in the same order.
        self._random = random.Random(seed)
        self._progress_random = random.Random(None if seed is None else seed + 1)
        self._slots: list[float] = []  # when each busy slot frees, as monotonic times

    def plan(
        self,
        *,
        task_id: str,
        model: str,
        resolution: str | None,
        duration: int | None,
        profile: str,
        render_seconds: float,
        time_scale: float,
        slots: int | None,
        now: float,
    ) -> RenderPlan:
        if profile != PROFILE_REALISTIC:
            return RenderPlan(0.0, render_seconds)
        median = median_seconds(model, resolution, duration) * time_scale
        render = median * math.exp(self._random.gauss(0.0, SIGMA))
        queued = self._queue(render, slots, now)
        return RenderPlan(queued, render, self._steps(task_id))

    def _queue(self, render: float, slots: int | None, now: float) -> float:
        """How long a new render waits for one of ``slots`` (None: no limit)."""
        if slots is None:
            return 0.0
        while self._slots and self._slots[0] <= now:
            heapq.heappop(self._slots)
        start = now if len(self._slots) < slots else heapq.heappop(self._slots)
        heapq.heappush(self._slots, start + render)
        return start - now

    def _steps(self, task_id: str) -> tuple[tuple[float, float], ...] | None:
        """A progress that stalls and jumps: a few steps at random moments, to random heights;
        silent for one task in four (chosen by its id, so a task keeps its manner)."""
        if int(hashlib.sha256(task_id.encode()).hexdigest(), 16) % 4 < _SILENT_IN_FOUR:
            return None
        draw = self._progress_random
        count = draw.randint(2, 5)
        moments = sorted(draw.uniform(0.05, 0.95) for _ in range(count))
        heights = sorted(round(draw.uniform(0.05, MAX_RUNNING_PROGRESS), 2) for _ in range(count))
        return tuple(zip(moments, heights, strict=True))
