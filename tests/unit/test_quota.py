"""The quota rule: which answers mean "come back later", when, and how a herd takes turns."""

from __future__ import annotations

import random

import pytest

from airflow_provider_hailuo.exceptions import HailuoRateLimitError, HailuoTransientError
from airflow_provider_hailuo.gateway.http_errors import error_for_status
from airflow_provider_hailuo.gateway.quota import (
    DEFAULT_SPACING,
    MAX_BACKOFF,
    MAX_SPACING,
    MIN_SPACING,
    ReleaseSchedule,
    is_quota_refusal,
    plan_wait,
)


@pytest.mark.parametrize(
    ("status", "refusal"), [(429, True), (503, True), (500, False), (502, False), (504, False), (408, False)]
)
def test_only_429_and_503_are_refusals_that_accepted_nothing(status: int, refusal: bool) -> None:
    error = error_for_status(status, b'{"error": {"message": "x"}}')
    assert error is not None
    assert is_quota_refusal(error) is refusal


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "x"}',
        b'{"message": "x"}',
        b"<html><title>503 Service Temporarily Unavailable</title></html>",
        b"",
    ],
)
def test_a_refusal_not_in_the_gateways_own_shape_proves_nothing(status: int, body: bytes) -> None:
    """A proxy's 503 page can follow a create the gateway accepted: not a reason to send it again."""
    error = error_for_status(status, body)
    assert error is not None
    assert not is_quota_refusal(error)


def test_a_dropped_connection_is_not_a_quota_refusal() -> None:
    assert not is_quota_refusal(HailuoTransientError("connection refused", never_sent=True))
    assert not is_quota_refusal(ValueError("429"))


def refusal(retry_after: float | None) -> HailuoRateLimitError:
    return HailuoRateLimitError("429", status_code=429, retry_after=retry_after, gateway_error=True)


def test_the_first_wait_is_the_retry_after_plus_up_to_one_spacing_of_jitter() -> None:
    waits = [plan_wait(refusal(2), refusals=1, now=1000.0, deadline=5000.0) for _ in range(50)]
    assert {(wait.spacing, wait.refusals) for wait in waits} == {(2.0, 1)}
    assert all(1002.0 <= wait.not_before <= 1004.0 for wait in waits)
    assert len({wait.not_before for wait in waits}) == 50  # workers refused together spread out
    assert all(wait.within_deadline for wait in waits)


def test_without_retry_after_turns_come_at_the_published_paid_rate() -> None:
    wait = plan_wait(refusal(None), refusals=1, now=0.0, deadline=100.0)
    assert wait.spacing == DEFAULT_SPACING
    assert DEFAULT_SPACING <= wait.not_before <= 2 * DEFAULT_SPACING


def test_a_retry_after_of_zero_is_the_shortest_spacing_not_a_missing_header() -> None:
    wait = plan_wait(refusal(0), refusals=1, now=0.0, deadline=100.0)
    assert wait.spacing == MIN_SPACING
    assert 0.0 <= wait.not_before <= MIN_SPACING


def test_a_long_retry_after_is_honoured_but_does_not_space_the_turns_apart() -> None:
    wait = plan_wait(refusal(60), refusals=1, now=0.0, deadline=100.0)
    assert 60.0 <= wait.not_before <= 60.0 + MAX_SPACING
    assert wait.spacing == MAX_SPACING


def test_a_free_tier_quota_is_covered_by_the_spacing() -> None:
    assert MAX_SPACING >= 60 / 5  # MiniMax's free accounts: 5 creates a minute


def test_each_further_refusal_waits_longer_never_less_than_retry_after_and_at_most_the_cap() -> None:
    rng = random.Random(7)
    for refusals in [*range(2, 30), 1025, 10**6]:  # days of refusals overflow no float
        window = min(MAX_BACKOFF, 2.0 * 2 ** min(refusals - 1, 32))
        wait = plan_wait(refusal(2), refusals=refusals, now=0.0, deadline=1e9, rng=rng)
        assert max(2.0, window / 2) <= wait.not_before <= window


def test_tasks_refused_together_again_drift_apart() -> None:
    rng = random.Random(1)
    returns = {
        plan_wait(refusal(1), refusals=3, now=0.0, deadline=1e9, rng=rng).not_before for _ in range(20)
    }
    assert len(returns) == 20


def test_turns_keep_the_longer_of_two_spacings() -> None:
    schedule = ReleaseSchedule()
    assert schedule.reserve(10.0, 3.0, now=0.0) == 10.0
    # A task told "1 s" still keeps 3 s from one told "3 s" (the bucket's real interval), both ways.
    assert schedule.reserve(10.0, 1.0, now=0.0) == 13.0
    # Two "1 s" tasks keep 1 s between themselves.
    assert schedule.reserve(8.0, 1.0, now=0.0) == 14.0
    assert schedule.turns == [10.0, 13.0, 14.0]


def test_a_cancelled_turn_is_given_back() -> None:
    schedule = ReleaseSchedule()
    first = schedule.reserve(10.0, 2.0, now=0.0)
    schedule.cancel(first)
    assert schedule.reserve(10.0, 2.0, now=0.0) == 10.0


def test_a_wait_past_the_deadline_is_not_within_it() -> None:
    assert not plan_wait(refusal(30), refusals=1, now=0.0, deadline=10.0).within_deadline


def test_turns_are_spacing_apart_and_never_before_their_not_before() -> None:
    schedule = ReleaseSchedule()
    turns = [schedule.reserve(10.0, 2.0, now=0.0) for _ in range(5)]
    assert turns == [10.0, 12.0, 14.0, 16.0, 18.0]
    # A later task fits into no gap smaller than a spacing, and one whose not_before is free keeps it.
    assert schedule.reserve(11.0, 2.0, now=0.0) == 20.0
    assert schedule.reserve(30.0, 2.0, now=0.0) == 30.0
    assert schedule.reserve(25.0, 2.0, now=0.0) == 25.0
    assert schedule.reserve(26.0, 2.0, now=0.0) == 27.0


def test_turns_long_past_are_forgotten() -> None:
    schedule = ReleaseSchedule()
    for _ in range(100):
        schedule.reserve(0.0, 1.0, now=0.0)
    assert schedule.reserve(500.0, 1.0, now=500.0) == 500.0
    assert len(schedule) == 1


def test_a_turn_is_never_in_the_past() -> None:
    assert ReleaseSchedule().reserve(5.0, 1.0, now=50.0) == 50.0
