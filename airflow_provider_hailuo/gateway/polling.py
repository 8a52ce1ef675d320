"""How long one waiter in a worker sleeps between polls of a gateway task: the pacing rule, without I/O.

*Purpose.* Waiters that share nothing (workers waiting with ``deferrable=False``, each in its own
process) may still poll one gateway whose poll quota is a small part of what they ask for. Told
"429, Retry-After: 1", a herd that comes back after exactly 1 s meets the same quota again,
forever; most of its polls are refused. Each waiter here slows down until the herd as a whole
polls at about the quota. (Triggers share their triggerer's loop, and pace a connection's polls
together instead: triggers/pacer.py.)

*How it works.* Each waiter (a worker in :meth:`HailuoHook.wait_for_task`) holds one
:class:`PollPacing`. A poll refused for quota (429, 503) multiplies the wait by 2 to 3 at random,
never below the gateway's ``Retry-After``; any other failure keeps the pace (honouring a longer
``Retry-After``); an answered poll shrinks the wait by a tenth, back toward ``poll_interval``.
Growing fast and shrinking slowly, each waiter settles where about one poll in ten is refused, whatever the quota and the
size of the herd, which neither it nor the gateway tells. A waiter that is never refused polls
every ``poll_interval``, exactly as asked.

*What it does not do.* Waiters share nothing: each learns the quota from its own polls, so a herd
still meets a burst of refusals while it spreads out, and the waits of its members drift apart
(some poll faster than others; :data:`MAX_POLL_DELAY` bounds the slowest). It never polls sooner
than ``poll_interval``, and it has no clock: the caller sleeps the seconds it returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# A failed poll multiplies the wait by a factor drawn from this range: at least doubling it, so a
# herd ten times over its quota spreads out within a few refusals; drawn, so that the waiters
# refused together do not come back together.
GROWTH = (2.0, 3.0)
# An answered poll multiplies the wait by this: gently, or the herd would be back at full speed
# (and refused) a few polls after settling.
RECOVERY = 0.9
# A render takes minutes: no waiter sleeps longer than this between polls unless the gateway's
# Retry-After asks for more.
MAX_POLL_DELAY = 300.0
# Growth starts from at least this, so that a waiter with a tiny poll_interval still backs off.
_SMALLEST_GROWTH_BASE = 0.01


@dataclass
class PollPacing:
    """The pacing state of one waiter: call :meth:`answered` or :meth:`failed` after each poll and
    sleep the seconds it returns.

    :param poll_interval: the wait between polls while the gateway answers them; never shortened.
    :param rng: the source of the jitter (tests pass a seeded one).
    """

    poll_interval: float
    # The module's shared generator by default: a Random of its own is about 3 KB per trigger.
    rng: random.Random | None = field(default=None, repr=False)
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.delay = self.poll_interval

    @property
    def _longest(self) -> float:
        return max(self.poll_interval, MAX_POLL_DELAY)

    def answered(self) -> float:
        """The poll was answered (whatever the task's status): the seconds to the next one."""
        self.delay = max(self.poll_interval, self.delay * RECOVERY)
        return self.delay

    def failed(self, retry_after: float | None = None, *, refused: bool = True) -> float:
        """The poll was refused (``refused``: a 429 or 503) or failed otherwise (a 5xx, a timeout,
        a dropped connection); ``retry_after`` is the gateway's, if it sent one.

        The seconds to the next poll, never less than ``retry_after``: after a refusal, the grown
        wait; after another failure, the current pace (a gateway in trouble is not over quota,
        and a slowed herd would see its videos minutes late once it recovers). A Retry-After
        beyond :data:`MAX_POLL_DELAY` is waited out once; the waits after it start again from the
        longest paced one.
        """
        floor = max(0.0, retry_after or 0.0)
        if not refused:
            return max(self.delay, floor)
        grown = max(self.delay, _SMALLEST_GROWTH_BASE) * (self.rng or random).uniform(*GROWTH)
        self.delay = min(self._longest, max(grown, floor))
        return max(self.delay, floor)
