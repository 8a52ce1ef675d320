"""PollPacing: the wait between one waiter's polls (pure: no clock, no sleeping, seeded jitter)."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from airflow_provider_hailuo.emulator.quotas import TokenBucket
from airflow_provider_hailuo.gateway.polling import GROWTH, MAX_POLL_DELAY, RECOVERY, PollPacing


def pacing(poll_interval: float = 1.0, seed: int = 0) -> PollPacing:
    return PollPacing(poll_interval, rng=random.Random(seed))


def test_a_waiter_that_is_always_answered_polls_every_interval() -> None:
    waiter = pacing(15.0)
    assert [waiter.answered() for _ in range(5)] == [15.0] * 5


def test_a_failed_poll_multiplies_the_wait_within_the_growth_range() -> None:
    waiter = pacing(1.0)
    first = waiter.failed()
    assert GROWTH[0] <= first <= GROWTH[1]
    second = waiter.failed()
    assert GROWTH[0] * first <= second <= GROWTH[1] * first


def test_the_growth_is_jittered_so_waiters_refused_together_drift_apart() -> None:
    waits = {pacing(1.0, seed).failed() for seed in range(20)}
    assert len(waits) == 20


def test_the_same_seed_gives_the_same_waits() -> None:
    one, two = pacing(seed=7), pacing(seed=7)
    assert [one.failed() for _ in range(4)] == [two.failed() for _ in range(4)]


@pytest.mark.parametrize("retry_after", [30.0, 250.0])
def test_a_retry_after_is_never_undercut(retry_after: float) -> None:
    waiter = pacing(1.0)
    assert waiter.failed(retry_after) == retry_after
    # The next refusal grows from there: the gateway said the quota needs at least that long.
    assert waiter.failed(retry_after) >= min(MAX_POLL_DELAY, GROWTH[0] * retry_after)


def test_a_zero_retry_after_or_none_changes_nothing() -> None:
    assert pacing(seed=3).failed(0.0) == pacing(seed=3).failed(None)


def test_the_wait_is_bounded_by_max_poll_delay() -> None:
    waiter = pacing(1.0)
    waits = [waiter.failed() for _ in range(20)]
    assert max(waits) == MAX_POLL_DELAY
    assert waits[-1] == MAX_POLL_DELAY


def test_a_retry_after_beyond_the_bound_is_waited_out_once() -> None:
    waiter = pacing(1.0)
    assert waiter.failed(3600.0) == 3600.0
    # The paced wait itself stays bounded: an answered poll after the long pause shrinks from it.
    assert waiter.answered() == pytest.approx(MAX_POLL_DELAY * RECOVERY)


def test_an_interval_longer_than_the_bound_is_kept() -> None:
    waiter = pacing(600.0)
    assert waiter.failed() == 600.0
    assert waiter.answered() == 600.0


def test_answered_polls_shrink_the_wait_gently_back_to_the_interval() -> None:
    waiter = pacing(1.0)
    grown = waiter.failed(retry_after=40.0)
    assert grown == 40.0
    shrinking = [waiter.answered() for _ in range(60)]
    assert shrinking[0] == pytest.approx(40.0 * RECOVERY)  # gently: not back to full speed at once
    assert shrinking == sorted(shrinking, reverse=True)
    assert shrinking[-1] == 1.0  # and never below the interval


def test_a_tiny_interval_still_backs_off() -> None:
    waiter = pacing(0.0)
    assert waiter.answered() == 0.0
    waits = [waiter.failed() for _ in range(12)]
    assert waits[0] > 0
    assert waits == sorted(waits)
    assert waits[-1] > 10


def simulate_herd(waiters: int, quota: float, seconds: float) -> tuple[int, int]:
    """``waiters`` PollPacings at a 1 s interval against a token bucket of ``quota`` polls a second
    (the emulator's own) in simulated time, starting within one interval; the second half's
    (answered, refused) polls. A refusal carries the bucket's Retry-After in whole seconds, as the
    emulator sends it."""
    rng = random.Random(42)
    bucket = TokenBucket.full(quota, 1.0, now=0.0)
    pacings = [PollPacing(1.0, rng=random.Random(rng.random())) for _ in range(waiters)]
    due = [(rng.uniform(0, 1.0), index) for index in range(waiters)]
    heapq.heapify(due)
    answered = refused = 0
    while due[0][0] < seconds:
        now, index = heapq.heappop(due)
        wait = bucket.take(now)
        if wait is None:
            delay = pacings[index].answered()
            answered += now >= seconds / 2
        else:
            delay = pacings[index].failed(max(1, math.ceil(wait)))
            refused += now >= seconds / 2
        heapq.heappush(due, (now + delay, index))
    return answered, refused


def test_a_herd_over_its_quota_settles_at_it() -> None:
    """Ten times more waiters than the quota serves at their interval: once spread out, they use the
    quota and few of their polls are refused (waiting only the 1 s Retry-After, nine in ten would be)."""
    answered, refused = simulate_herd(waiters=500, quota=50.0, seconds=120.0)
    assert answered >= 0.9 * 50.0 * 60.0  # the quota is used, not left idle by waiters slowed too far
    assert refused < 0.5 * answered


def test_a_failure_that_is_not_a_refusal_keeps_the_pace() -> None:
    # A 5xx or a timeout: the gateway is in trouble, not over quota; slowing down would see the
    # videos minutes late once it recovers.
    pacing = PollPacing(poll_interval=15.0)
    assert [pacing.failed(refused=False) for _ in range(5)] == [15.0] * 5
    assert pacing.failed(40.0, refused=False) == 40.0  # a Retry-After is still honoured
    assert pacing.answered() == 15.0
