"""The polls of one connection from one triggerer: never above a rate, spread evenly, and slowed
as a whole when the gateway refuses them.

*Purpose.* A mapped batch defers thousands of triggers of one account into one triggerer. Each
polling on its own schedule, they reach the gateway as bursts; told "429", each used to back off
on its own, so after a burst some drifted into long waits and saw their videos tens of seconds
late while others polled on. Here the connection's polls take turns instead.

*How it works.* Every poll first takes a turn (:meth:`PollPacer.turn`). With a rate (the
connection's ``max_polls_per_second``, this triggerer's share of it: see
``integration/triggerers.py``), turns are granted one at a time, at least ``1 / rate`` apart,
in the order asked: the rate is never exceeded, and no trigger falls behind the others. A poll
refused for quota (429, 503) halves the connection's rate, from the rate polls were actually
sent at (at most once a :data:`DECREASE_EVERY`: the refusals of one burst of polls already in
flight are one signal), and holds every turn for the gateway's ``Retry-After`` (at most
:data:`MAX_HOLD_SECONDS`); each answered poll gives a little back (:data:`RECOVERY` polls a
second: about 5% of the rate a second while the connection polls at it), up to the configured
rate, or, with none, until polls need less than half of it, when the connection is unpaced again.
So a herd settles near the quota with few refusals, every trigger at the same pace.

*What it does not do.* It knows nothing of other triggerers: each paces its own share, and
Airflow does not share the triggers evenly among them (nor tell a survivor that another died), so
a deployment whose triggerers carry few triggers each polls under the quota. The retries inside
one poll (a 5xx, a dropped connection: the connection's ``retry_limit``) take no turn. It does not
shorten any trigger's wait: a trigger's schedule (``poll_interval``, gateway/render_times.py)
decides when it wants to poll, the pacer only when it may.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable

# A refusal halves the connection's rate...
DECREASE = 0.5
# ...at most once in this many seconds: a burst of polls in flight refused together is one signal.
DECREASE_EVERY = 1.0
# Each answered poll adds this much to the rate (polls a second): a connection polling at its rate
# r gets about 5% of it back a second (from half the quota back to it in about 14 s, so a
# connection at its quota meets about one refusal in that time).
RECOVERY = 0.05
# A connection slowed by refusals still polls at least this often (a second): one poll in 5 s.
MIN_RATE = 0.2
# How long the sent rate is measured over, when no rate is set, for the first refusal to halve it.
MEASURE_SECONDS = 2.0
# The longest a Retry-After holds a connection's polls: a gateway's "inf" or a day must not freeze
# every trigger of the connection (each then polls again, and is told again if it must wait).
MAX_HOLD_SECONDS = 300.0


class PollPacer:
    """The turns of one connection's polls in one event loop.

    :param max_rate: polls a second this pacer never exceeds; ``None``: unpaced until refused.
    :param clock: monotonic seconds (tests pass a fake one only where no loop runs).
    """

    def __init__(self, max_rate: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_rate = max_rate
        self.rate: float | None = max_rate  # the rate turns are granted at now; None: unpaced
        self._clock = clock
        self._lock: asyncio.Lock | None = None  # made on first paced turn (one loop owns a pacer)
        self._last_turn = -math.inf
        self._hold_until = -math.inf
        self._last_decrease = -math.inf
        self._window_start = clock()
        self._window_turns = 0
        self._sent_rate = 0.0  # the rate measured over the last whole window

    async def turn(self, until: float | None = None) -> bool:
        """Wait for this poll's turn; ``False`` if it does not come by ``until`` (the clock's time:
        a trigger's end), having waited until then."""
        now = self._clock()
        if self.rate is None and now >= self._hold_until:
            self._count(now)  # unpaced: no lock, no wait (the usual case)
            return True
        if self._lock is None:
            self._lock = asyncio.Lock()
        try:
            # FIFO: turns are granted in the order asked. A turn queued behind many others at a
            # low rate gives up at its deadline, not when its place in the queue comes.
            async with asyncio.timeout(None if until is None else max(0.0, until - now)):
                await self._lock.acquire()
        except TimeoutError:
            return False
        try:
            while True:
                now = self._clock()
                due = self._hold_until
                if self.rate is not None:
                    due = max(due, self._last_turn + 1.0 / self.rate)
                if now >= due:
                    break
                if until is not None and due > until:
                    await asyncio.sleep(max(0.0, until - now))
                    return False
                # The rate may change while this turn waits (a refusal): due is computed again.
                await asyncio.sleep(due - now)
            self._last_turn = now
            self._count(now)
            return True
        finally:
            self._lock.release()

    def refused(self, retry_after: float | None = None) -> None:
        """A poll was refused for quota; ``retry_after`` is the gateway's, if it sent one."""
        now = self._clock()
        if retry_after and math.isfinite(retry_after):
            self._hold_until = max(self._hold_until, now + min(retry_after, MAX_HOLD_SECONDS))
        if now - self._last_decrease < DECREASE_EVERY:
            return
        self._last_decrease = now
        # From the rate polls actually went at: a configured rate far above what the triggers
        # need would take many halvings to slow anything.
        sent = self.sent_rate(now)
        base = sent if self.rate is None or 0 < sent < self.rate else self.rate
        slowed = max(MIN_RATE, base * DECREASE)
        # The floor never lifts a configured rate below it (a small share of a small rate).
        self.rate = slowed if self.max_rate is None else min(slowed, self.max_rate)

    def answered(self) -> None:
        """A poll was answered (whatever the task's status): give a little of the rate back."""
        if self.rate is None:
            return
        grown = self.rate + RECOVERY
        if self.max_rate is not None:
            self.rate = min(grown, self.max_rate)
        elif grown > 2.0 * self.sent_rate(self._clock()) > 0:
            self.rate = None  # polls need less than half of it: unpaced again
        else:
            self.rate = grown

    def set_max_rate(self, max_rate: float | None) -> None:
        """The connection's rate changed (an edited extra, a trigger started after it)."""
        if max_rate == self.max_rate:
            return
        self.max_rate = max_rate
        if max_rate is not None:
            self.rate = max_rate if self.rate is None else min(self.rate, max_rate)

    def sent_rate(self, now: float) -> float:
        """Turns a second lately: the last whole window's, or the current one's if it is busier.
        The current one counts as at least half a window long: over a few milliseconds a handful
        of turns would read as a rate many times the true one (and a herd's first burst, read as
        nothing, would drop the connection to its floor)."""
        current = self._window_turns / max(now - self._window_start, MEASURE_SECONDS / 2)
        return max(self._sent_rate, current)

    def _count(self, now: float) -> None:
        if now - self._window_start >= MEASURE_SECONDS:
            self._sent_rate = self._window_turns / (now - self._window_start)
            self._window_start, self._window_turns = now, 0
        self._window_turns += 1


_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, PollPacer]] = (
    weakref.WeakKeyDictionary()
)


def connection_pacer(conn_id: str, max_rate: float | None) -> PollPacer:
    """The running loop's pacer for connection ``conn_id``, made on first use.

    Keyed by connection, as the rate is set on the connection: two connections to one account
    are paced apart.
    """
    by_connection = _pacers.setdefault(asyncio.get_running_loop(), {})
    pacer = by_connection.get(conn_id)
    if pacer is None:
        pacer = by_connection[conn_id] = PollPacer(max_rate)
    else:
        pacer.set_max_rate(max_rate)
    return pacer
