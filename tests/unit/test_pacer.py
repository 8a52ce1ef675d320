"""The per-connection poll pacer (triggers/pacer.py), on a real event loop.

Behaviour only: the turns it grants are never closer than its rate allows (a busy machine only
spreads them further), they are granted in the order asked, refusals slow the connection as a
whole and answers give the rate back. No test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest

from airflow_provider_hailuo.triggers.pacer import (
    DECREASE,
    MAX_HOLD_SECONDS,
    MIN_RATE,
    PollPacer,
    connection_pacer,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def granted_times(pacer: PollPacer, count: int) -> list[tuple[int, float]]:
    granted: list[tuple[int, float]] = []

    async def one(index: int) -> None:
        await pacer.turn()
        granted.append((index, time.monotonic()))

    await asyncio.gather(*(one(i) for i in range(count)))
    return granted


def test_a_rate_is_never_exceeded_and_turns_come_in_order() -> None:
    rate = 50.0
    granted = asyncio.run(granted_times(PollPacer(rate), 40))
    assert [index for index, _ in granted] == list(range(40))  # FIFO: nobody drifts behind
    times = [at for _, at in granted]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Granted one at a time, each at least 1/rate after the one before (the clock's own
    # resolution aside): however late the loop wakes a turn, it never bunches two.
    assert min(gaps) >= 1.0 / rate - 1e-6


def test_without_a_rate_nothing_waits() -> None:
    pacer = PollPacer(None)

    async def many() -> None:
        for _ in range(1000):
            assert await pacer.turn()

    asyncio.run(many())
    assert pacer.rate is None


def test_a_refusal_halves_the_rate_once_for_a_burst() -> None:
    clock = FakeClock()
    pacer = PollPacer(10.0, clock=clock)
    for _ in range(20):  # polls sent at 10 a second
        pacer._count(clock.now)
        clock.now += 0.1
    for _ in range(50):  # a burst of refusals of polls already in flight: one signal
        pacer.refused()
    assert pacer.rate == pytest.approx(10.0 * DECREASE)
    clock.now += 1.1  # another refusal a second later halves it again
    pacer.refused()
    assert pacer.rate == pytest.approx(10.0 * DECREASE * DECREASE)


def test_an_unpaced_connection_is_slowed_from_the_rate_it_polled_at() -> None:
    clock = FakeClock()
    pacer = PollPacer(None, clock=clock)
    for _ in range(100):  # 100 polls in 2 s
        pacer._count(clock.now)
        clock.now += 0.02
    pacer._count(clock.now)
    pacer.refused()
    assert pacer.rate == pytest.approx(50.0 * DECREASE, rel=0.05)


def test_the_rate_never_falls_below_the_floor() -> None:
    clock = FakeClock()
    pacer = PollPacer(1.0, clock=clock)
    for _ in range(30):
        pacer.refused()
        clock.now += 2.0
    assert pacer.rate == MIN_RATE


def test_answers_give_the_rate_back_up_to_the_configured_one() -> None:
    clock = FakeClock()
    pacer = PollPacer(10.0, clock=clock)
    pacer.refused()
    assert pacer.rate is not None
    assert pacer.rate < 10.0
    for _ in range(10_000):
        pacer.answered()
    assert pacer.rate == 10.0


def test_an_unpaced_connection_is_unpaced_again_once_polls_need_little() -> None:
    clock = FakeClock()
    pacer = PollPacer(None, clock=clock)
    for _ in range(10):
        pacer._count(clock.now)
        clock.now += 0.2  # 5 a second
    pacer.refused()
    assert pacer.rate is not None
    clock.now += 10.0  # later, 1 poll in 2 s
    for _ in range(3):
        pacer._count(clock.now)
        clock.now += 2.0
    for _ in range(200):
        pacer.answered()
        if pacer.rate is None:
            break
    assert pacer.rate is None


def test_a_retry_after_holds_every_turn_of_the_connection() -> None:
    async def scenario() -> tuple[bool, bool]:
        pacer = PollPacer(None)
        pacer.refused(retry_after=30.0)
        # A turn wanted before the hold ends is not granted: it waits until its own deadline.
        soon = time.monotonic() + 0.05
        before = await pacer.turn(until=soon)
        pacer._hold_until = time.monotonic()  # the hold over
        after = await pacer.turn(until=time.monotonic() + 5)
        return before, after

    assert asyncio.run(scenario()) == (False, True)


def test_one_pacer_per_connection_and_loop_whose_rate_follows_the_connection() -> None:
    async def scenario() -> None:
        first = connection_pacer("conn_a", 4.0)
        assert connection_pacer("conn_a", 4.0) is first
        assert connection_pacer("conn_b", 4.0) is not first
        connection_pacer("conn_a", 2.0)  # the extra edited: the next trigger brings the new rate
        assert first.max_rate == 2.0
        assert first.rate == 2.0

    asyncio.run(scenario())
    asyncio.run(scenario())  # a new loop: new pacers (a pacer's lock belongs to one loop)


def test_a_turn_queued_behind_others_gives_up_at_its_deadline() -> None:
    """One poll a second: the fourth in the queue would wait 3 s; its deadline is sooner."""

    async def scenario() -> list[bool]:
        pacer = PollPacer(1.0)
        deadline = time.monotonic() + 0.3
        results = await asyncio.gather(*(pacer.turn(until=deadline) for _ in range(4)))
        return list(results)

    assert asyncio.run(scenario()) == [True, False, False, False]


def test_a_refusal_never_lifts_a_small_rate_to_the_floor() -> None:
    clock = FakeClock()
    pacer = PollPacer(0.125, clock=clock)  # a small share of a small rate
    pacer.refused()
    assert pacer.rate is not None
    assert pacer.rate <= 0.125


def test_a_few_turns_in_a_new_window_do_not_read_as_a_burst() -> None:
    """Polls at a steady 20 a second; refused 10 ms into a window: halved from 20, not from the
    hundreds that 3 turns in 10 ms would read as."""
    clock = FakeClock()
    pacer = PollPacer(None, clock=clock)
    for _ in range(41):  # 2 s at 20 a second: one whole window
        pacer._count(clock.now)
        clock.now += 0.05
    for _ in range(3):
        pacer._count(clock.now)
        clock.now += 0.005
    pacer.refused()
    assert pacer.rate == pytest.approx(20.0 * DECREASE, rel=0.1)


@pytest.mark.parametrize("retry_after", [math.inf, 86_400.0])
def test_a_retry_after_holds_the_connection_for_at_most_the_longest_hold(retry_after: float) -> None:
    clock = FakeClock()
    pacer = PollPacer(None, clock=clock)
    pacer.refused(retry_after)
    assert pacer._hold_until <= clock.now + MAX_HOLD_SECONDS


def test_a_herds_first_burst_halves_its_rate_not_to_the_floor() -> None:
    """1,000 polls in the first 0.2 s, then a refusal: slowed from what was sent, not to one poll
    in 5 s (which would keep a thousand triggers waiting for minutes)."""
    clock = FakeClock()
    pacer = PollPacer(None, clock=clock)
    for _ in range(1000):
        pacer._count(clock.now)
        clock.now += 0.0002
    pacer.refused()
    assert pacer.rate is not None
    assert pacer.rate >= 100.0
