"""When to poll a render: not before its video can be ready, then every ``poll_interval``.

*Purpose.* A render takes minutes, and how many depends on what was asked: the model, the
resolution, the duration. A waiter polling every ``poll_interval`` from the create on spends most
of its polls on a video that cannot be ready yet; at volume those polls are what the provider
costs the gateway and the account's request quota.

*How it works.* A process (a triggerer) remembers how long the last :data:`WINDOW` renders of each
ask took, from the create to the video, by the gateway's own timestamps where it gives them
(``metadata.in_queue_at`` and ``completed_at``, one clock, so no skew). With at least
:data:`MIN_SAMPLES` of them, a new task of the same ask is not expected before its *earliest*:
:data:`MARGIN` of the :data:`QUANTILE` of those renders. A waiter does not poll before the
earliest, then polls every ``poll_interval`` as without history. The first renders of a batch
teach the rest of it. (A task that fails at once is told at the earliest too: a failure costs
nothing more for being seen later, a poll does.)

*The bound.* From the earliest on, a video is seen at most one ``poll_interval`` after it is
ready, as without history (while the connection's pacer grants turns that often:
triggers/pacer.py). A video ready before the earliest is seen at the earliest: if renders take
as long as the remembered ones, under one in ten. The history counts queueing at the gateway
(``in_queue_at`` is all a gateway is known to stamp): after a batch that queued, a render that
does not queue is seen late, until faster renders replace the slow ones in the window. With no
history, or no creation time, the schedule is exactly ``poll_interval`` (nothing is assumed).
Nothing is persisted: a restarted triggerer starts without history.

*What it does not use.* ``progress``: its course is not documented, and where it is given it
stalls, jumps and stays at 0 before a render starts, so a schedule extrapolating it would be late
on exactly the renders it misjudges. The gateway's ``started_at`` neither: not every gateway
stamps it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Mapping
from typing import Any

from airflow_provider_hailuo.gateway.protocol import render_seconds_of

# What a render's length depends on: (model, resolution, duration), as the user asked them.
RenderKey = tuple[str, str, int]
# What a history is kept for: a trigger keys it by its connection too (connection id, ask), as two
# connections may reach two gateways, or two accounts of other tiers.
HistoryKey = Hashable

# Renders remembered per ask: recent enough to follow a gateway's load, enough for a low quantile.
WINDOW = 64
# Fewer renders than this teach nothing: the schedule stays poll_interval.
MIN_SAMPLES = 5
# The quantile of remembered renders that a new one is expected after, and the part of it taken:
# a render faster than 0.8 times the 10th percentile is rare, and seen late by at most that time.
QUANTILE = 0.1
MARGIN = 0.8


class RenderTimes:
    """The render times one process has seen, per key (connection and ask); shared by the
    process's waiters.

    Triggers of one triggerer run on one event loop, so no lock is needed.
    """

    def __init__(self) -> None:
        self._seen: dict[HistoryKey, deque[float]] = {}
        self._earliest: dict[HistoryKey, float | None] = {}

    def observe(self, key: HistoryKey, seconds: float) -> None:
        """One render of ``key`` took ``seconds`` from the create to the video."""
        if not math.isfinite(seconds) or seconds <= 0:
            return  # stamps out of order, or a clock that jumped: no evidence
        self._seen.setdefault(key, deque(maxlen=WINDOW)).append(seconds)
        self._earliest.pop(key, None)

    def earliest(self, key: HistoryKey | None) -> float | None:
        """Seconds after the create before which a render of ``key`` is not expected; ``None``
        below :data:`MIN_SAMPLES` renders (or no key)."""
        if key is None:
            return None
        if key not in self._earliest:  # computed once per render observed, not once per poll
            seen = self._seen.get(key)
            if seen is None or len(seen) < MIN_SAMPLES:
                return None
            ordered = sorted(seen)
            self._earliest[key] = MARGIN * ordered[int(QUANTILE * (len(ordered) - 1))]
        return self._earliest[key]

    def clear(self) -> None:
        self._seen.clear()
        self._earliest.clear()


# This process's history: in a triggerer, every HailuoTaskTrigger's.
RENDER_TIMES = RenderTimes()


def render_key(model: str | None, resolution: str | None, duration: int | None) -> RenderKey | None:
    """The ask a render's length depends on; ``None`` when the model is not known."""
    if not model:
        return None
    return (model, resolution or "", int(duration or 0))


def key_from_kwargs(value: object) -> RenderKey | None:
    """A key as a trigger's kwargs hold it (a JSON list); anything else is no key."""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return None
    model, resolution, duration = value
    if not isinstance(model, str) or not isinstance(resolution, str) or not isinstance(duration, int):
        return None
    return (model, resolution, duration)


def wait_for_earliest(elapsed: float | None, earliest: float | None) -> float:
    """Seconds from now, ``elapsed`` seconds after the create, until the render is expected
    (0 when it may be ready now, or nothing is known)."""
    if elapsed is None or earliest is None:
        return 0.0
    return max(0.0, earliest - elapsed)


def next_poll_delay(poll_interval: float, elapsed: float | None, earliest: float | None) -> float:
    """Seconds from a poll, ``elapsed`` seconds after the create, to the next one.

    ``poll_interval``, or the wait until ``earliest`` when that is longer.
    """
    return max(poll_interval, wait_for_earliest(elapsed, earliest))


def observed_render_seconds(metadata: Mapping[str, Any], *, lower_bound: float | None) -> float | None:
    """How long a completed render took: by the gateway's stamps, else ``lower_bound`` (the time
    from the create's sending to the last poll that saw it running: about as long as the render,
    never longer than the render and the create's own retries)."""
    return render_seconds_of(metadata) or lower_bound
