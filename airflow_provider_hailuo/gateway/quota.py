r"""Waiting out the gateway's quota: when a refused create may go out again, and how a herd is spread.

*Purpose.* A create the gateway itself answered 429 (the account's rate limit, or its cap on tasks
in flight) or 503, in its own error body, was accepted by nobody, so sending it again later pays
nothing twice (:mod:`~airflow_provider_hailuo.gateway.resend` says what proves it). A batch meets these
refusals together: the rule here decides, without I/O, when each refused task may try again, so
that the batch settles at the gateway's rate instead of returning as one herd.

*How it works.* A refused task waits at least the gateway's ``Retry-After`` (when it sent one),
and longer each time the same task is refused again (a jittered exponential backoff). In the
triggerer, the waiting tasks of one connection also take turns (:class:`ReleaseSchedule`): no two
return closer together than the longer of their two ``spacing``\ s, each being the ``Retry-After``
its task was given. A token bucket (which MiniMax's "N requests a minute" behaves like) answers
an empty bucket with the time to its next token, at most one token's interval: the longest of a
herd's answers is about that interval, so the turns come at about the gateway's rate.

*What it does not do.* It never probes the quota (only a create can, and a create that succeeds
is paid for), and turns are kept per triggerer process: two triggerers release at twice the
rate, and the backoff of the tasks refused again absorbs the difference.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from airflow_provider_hailuo.exceptions import HailuoTransientError
from airflow_provider_hailuo.gateway.resend import QUOTA_STATUSES, may_send_again

# Without a Retry-After, turns come every 3 s: MiniMax's published paid quota, 20 creates a minute.
DEFAULT_SPACING = 3.0
# A Retry-After is read as the time to the gateway's next free slot. A long one (a fixed window's
# reset, say) would make the turns of a big batch absurdly slow; the backoff covers such gateways.
# 15 s still covers MiniMax's free tier (5 creates a minute: one every 12 s).
MIN_SPACING = 0.5
MAX_SPACING = 15.0
# The longest single wait of a task refused again and again (the cap on tasks in flight frees a
# slot only when a render ends, which takes minutes).
MAX_BACKOFF = 300.0


def is_quota_refusal(error: BaseException) -> bool:
    """Whether ``error`` is the gateway's own "not now" to a create (429 or 503 in its error body):
    safe to send again after a wait. A proxy's 503 page proves nothing (see :mod:`~.resend`)."""
    return (
        isinstance(error, HailuoTransientError)
        and error.http_status in QUOTA_STATUSES
        and may_send_again(error)
    )


@dataclass(frozen=True)
class QuotaWait:
    """One wait for quota: this task's ``refusals`` so far, the earliest time to try again, the
    spacing of turns, and the ``deadline`` after which the task stops waiting (Unix times)."""

    refusals: int
    not_before: float
    spacing: float
    deadline: float

    @property
    def within_deadline(self) -> bool:
        return self.not_before <= self.deadline


def plan_wait(
    error: HailuoTransientError,
    *,
    refusals: int,
    now: float,
    deadline: float,
    rng: random.Random | None = None,
) -> QuotaWait:
    """When a task refused for quota for the ``refusals``-th time (1 for the first) may try again.

    The first wait is the Retry-After (or one spacing without one) plus up to one spacing of
    jitter; each further refusal doubles the window, the wait drawn from its upper half, so that
    tasks refused together drift apart (in a worker, the jitter is all that spreads them).
    """
    draw = (rng or random).uniform
    retry_after = error.retry_after
    # "Retry-After: 0" is an answer (a slot is free now), not a missing header: the shortest spacing.
    spacing = min(MAX_SPACING, max(MIN_SPACING, DEFAULT_SPACING if retry_after is None else retry_after))
    if refusals <= 1:
        wait = (retry_after if retry_after is not None else spacing) + draw(0, spacing)
    else:
        # The exponent is capped: 2 ** 1024 overflows a float, and the window is capped anyway.
        window = min(MAX_BACKOFF, spacing * 2.0 ** min(refusals - 1, 32))
        wait = max(retry_after or 0.0, draw(window / 2, window))
    return QuotaWait(refusals=refusals, not_before=now + wait, spacing=spacing, deadline=deadline)


class ReleaseSchedule:
    """The turns of the tasks waiting for one connection's quota in one triggerer: each gets the
    earliest time at or after its ``not_before`` that is, from every other turn, at least the
    longer of the two turns' spacings away."""

    def __init__(self) -> None:
        self._turns: list[tuple[float, float]] = []  # (time, spacing), sorted by time

    def __len__(self) -> int:
        return len(self._turns)

    @property
    def turns(self) -> list[float]:
        """The booked turns, earliest first."""
        return [turn for turn, _ in self._turns]

    def reserve(self, not_before: float, spacing: float, *, now: float) -> float:
        """Book and return a turn. Turns that are long past are forgotten."""
        del self._turns[: bisect.bisect_left(self._turns, (now - MAX_SPACING,))]
        turn = max(not_before, now)
        # Walk the turns from the first that could be too close: each one closer than the longer
        # spacing pushes the candidate past itself (turns are far fewer than a few thousand).
        index = bisect.bisect_left(self._turns, (turn - MAX_SPACING,))
        while index < len(self._turns):
            booked, booked_spacing = self._turns[index]
            gap = max(spacing, booked_spacing)
            if booked >= turn + gap:
                break
            if booked > turn - gap:
                turn = booked + gap
            index += 1
        bisect.insort(self._turns, (turn, spacing))
        return turn

    def cancel(self, turn: float) -> None:
        """Give a booked turn back (its task stopped waiting before it)."""
        for index, (booked, _) in enumerate(self._turns):
            if booked == turn:
                del self._turns[index]
                return
