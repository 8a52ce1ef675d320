"""Per-key quotas on demand: creates a minute, tasks in flight, polls a second.

MiniMax publishes per-account limits for its Hailuo video models (5 or 20 requests a minute, and
a cap on tasks in flight); the gateway says only that limits apply. Off by default, so that the
other tests see no 429 they did not ask for; on, a refused request is the gateway's 429 with a
``Retry-After`` where the wait is knowable (a token bucket's next token) and none where it is not
(a slot in flight frees when some render ends).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

REFUSED_CREATE_RATE = "create_rate"
REFUSED_IN_FLIGHT = "tasks_in_flight"
REFUSED_POLL_RATE = "poll_rate"


@dataclass
class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``: a burst, then the steady rate."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, allowance: float, period_seconds: float, now: float) -> TokenBucket:
        """``allowance`` requests a ``period``: as a burst when rested, then at that steady rate
        (a quota of 20 a minute takes 20 at once, then one every 3 s)."""
        capacity = max(1.0, allowance)
        return cls(rate=allowance / period_seconds, capacity=capacity, tokens=capacity, updated=now)

    def take(self, now: float) -> float | None:
        """``None`` when a token was taken; else the seconds until one will be there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


@dataclass
class Quotas:
    """The buckets of each API key, made on first use; ``refused`` counts each kind of refusal."""

    creates: dict[str, TokenBucket] = field(default_factory=dict)
    polls: dict[str, TokenBucket] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)

    def check_create(
        self, key: str, *, per_minute: float | None, max_in_flight: int | None, in_flight: int, now: float
    ) -> tuple[str, float | None] | None:
        """Why a create is refused and the ``Retry-After`` to send, or ``None`` to accept it.

        The cap on tasks in flight is checked first: a create it refuses takes no token.
        """
        if max_in_flight is not None and in_flight >= max_in_flight:
            self.refused[REFUSED_IN_FLIGHT] += 1
            return REFUSED_IN_FLIGHT, None
        if per_minute is not None:
            bucket = self.creates.setdefault(key, TokenBucket.full(per_minute, 60.0, now))
            wait = bucket.take(now)
            if wait is not None:
                self.refused[REFUSED_CREATE_RATE] += 1
                return REFUSED_CREATE_RATE, wait
        return None

    def check_poll(self, key: str, *, per_second: float | None, now: float) -> float | None:
        """The ``Retry-After`` of a refused poll, or ``None`` to answer it."""
        if per_second is None:
            return None
        wait = self.polls.setdefault(key, TokenBucket.full(per_second, 1.0, now)).take(now)
        if wait is not None:
            self.refused[REFUSED_POLL_RATE] += 1
        return wait


def retry_after_header(wait: float | None) -> dict[str, str] | None:
    """Whole seconds, rounded up (a client waiting that long finds the token there)."""
    return None if wait is None else {"Retry-After": str(max(1, math.ceil(wait)))}
