"""The render-aware schedule (gateway/render_times.py): pure, no clock.

What it promises: with no history (or no creation time) the schedule is exactly poll_interval;
from a render's earliest expected time on, never more than poll_interval between polls; the
earliest comes from the renders seen for the same ask only.
"""

from __future__ import annotations

import math

import pytest

from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.gateway.render_times import (
    MARGIN,
    MIN_SAMPLES,
    WINDOW,
    RenderTimes,
    key_from_kwargs,
    next_poll_delay,
    observed_render_seconds,
    render_key,
    wait_for_earliest,
)

KEY = ("minimax_hailuo_02_i2v", "768P", 6)
OTHER = ("minimax_hailuo_02_i2v", "1080P", 6)


def taught(seconds: list[float], key: tuple[str, str, int] = KEY) -> RenderTimes:
    times = RenderTimes()
    for value in seconds:
        times.observe(key, value)
    return times


@pytest.mark.parametrize("elapsed", [None, 0.0, 3.0, 50.0, 1e6])
@pytest.mark.parametrize("poll_interval", [0.05, 1.0, 15.0])
def test_without_history_the_schedule_is_the_poll_interval(
    poll_interval: float, elapsed: float | None
) -> None:
    assert next_poll_delay(poll_interval, elapsed, None) == poll_interval


def test_without_a_creation_time_nothing_is_assumed() -> None:
    assert next_poll_delay(5.0, None, 60.0) == 5.0


def test_fewer_renders_than_the_minimum_teach_nothing() -> None:
    times = taught([60.0] * (MIN_SAMPLES - 1))
    assert times.earliest(KEY) is None
    times.observe(KEY, 60.0)
    assert times.earliest(KEY) == pytest.approx(MARGIN * 60.0)


def test_the_earliest_is_a_low_quantile_of_the_same_ask_only() -> None:
    times = taught([float(s) for s in range(10, 110, 10)])  # 10 .. 100
    assert times.earliest(KEY) == pytest.approx(MARGIN * 10.0)
    assert times.earliest(OTHER) is None
    assert times.earliest(None) is None


def test_renders_faster_than_those_before_move_the_earliest_sooner() -> None:
    times = taught([60.0] * 10)
    before = times.earliest(KEY)
    times.observe(KEY, 5.0)
    times.observe(KEY, 5.0)  # a tenth of the renders: the quantile now
    after = times.earliest(KEY)
    assert before is not None
    assert after is not None
    assert after < before


def test_only_the_latest_renders_count() -> None:
    times = taught([5.0] * WINDOW + [100.0] * WINDOW)
    assert times.earliest(KEY) == pytest.approx(MARGIN * 100.0)


@pytest.mark.parametrize("bad", [0.0, -3.0, math.nan, math.inf])
def test_a_nonsense_render_time_is_no_evidence(bad: float) -> None:
    times = taught([bad] * 10)
    assert times.earliest(KEY) is None


@pytest.mark.parametrize("poll_interval", [0.1, 1.0, 15.0])
@pytest.mark.parametrize("earliest", [0.5, 30.0, 200.0])
def test_from_the_earliest_on_polls_are_never_more_than_an_interval_apart(
    poll_interval: float, earliest: float
) -> None:
    """Walk the schedule from the create: before the earliest it may skip ahead (never past it);
    from the earliest on every wait is the poll interval."""
    elapsed = 0.0
    for _ in range(1000):
        delay = next_poll_delay(poll_interval, elapsed, earliest)
        assert delay >= poll_interval  # never sooner than asked
        if elapsed >= earliest:
            assert delay == poll_interval
        else:
            assert elapsed + delay <= max(earliest, elapsed + poll_interval)
        elapsed += delay
    assert elapsed >= earliest


def test_the_first_poll_waits_for_the_earliest_only_when_it_is_known() -> None:
    assert wait_for_earliest(None, 40.0) == 0.0
    assert wait_for_earliest(3.0, None) == 0.0
    assert wait_for_earliest(3.0, 40.0) == pytest.approx(37.0)
    assert wait_for_earliest(50.0, 40.0) == 0.0


def test_the_wait_before_the_earliest_is_one_sleep() -> None:
    assert next_poll_delay(5.0, 2.0, 40.0) == pytest.approx(38.0)
    assert next_poll_delay(5.0, 37.0, 40.0) == 5.0  # the earliest is nearer than an interval


def test_the_gateways_stamps_measure_a_render_else_the_last_running_poll() -> None:
    stamps = {"in_queue_at": "2026-12-04T10:00:00Z", "completed_at": "2026-12-04T10:01:05Z"}
    assert observed_render_seconds(stamps, lower_bound=10.0) == pytest.approx(65.0)
    assert observed_render_seconds({"in_queue_at": "2026-12-04T10:00:00Z"}, lower_bound=10.0) == 10.0
    assert observed_render_seconds({}, lower_bound=None) is None
    assert observed_render_seconds({"in_queue_at": "soon", "completed_at": "later"}, lower_bound=None) is None


def test_the_key_is_the_ask_with_the_models_defaults() -> None:
    frame = "https://example.com/frame.png"
    assert GenerationRequest(first_frame_image=frame).render_ask() == KEY
    ask = GenerationRequest(
        first_frame_image=frame, resolution="1080P", model="minimax_hailuo_23_i2v"
    ).render_ask()
    assert ask == ("minimax_hailuo_23_i2v", "1080P", 6)
    assert render_key(*KEY) == KEY
    assert render_key(None, "768P", 6) is None


@pytest.mark.parametrize(
    "value", [None, "x", ["m", "768P"], ["m", "768P", "6"], [1, "768P", 6], ("m", None, 6), {"model": "m"}]
)
def test_a_key_from_kwargs_that_is_not_one_is_no_key(value: object) -> None:
    assert key_from_kwargs(value) is None


def test_a_key_from_kwargs_round_trips_as_json_holds_it() -> None:
    assert key_from_kwargs(list(KEY)) == KEY
