"""The emulator's render plans: fixed by default, and when realistic, a long-tailed time per
(model, resolution, duration), a queue beyond the render slots, and a progress that cannot be
extrapolated. Seeded, so every figure below is exact for its seed, not a timing."""

from __future__ import annotations

import statistics

import pytest

from airflow_provider_hailuo.emulator.config import ControlError, EmulatorConfig
from airflow_provider_hailuo.emulator.renders import (
    MAX_RUNNING_PROGRESS,
    PROFILE_FIXED,
    PROFILE_REALISTIC,
    RenderPlan,
    RenderPlanner,
    median_seconds,
)


def plan(planner: RenderPlanner, index: int, **kwargs: object) -> RenderPlan:
    settings: dict[str, object] = {
        "task_id": f"task_{index}",
        "model": "minimax_hailuo_02_i2v",
        "resolution": None,
        "duration": None,
        "profile": PROFILE_REALISTIC,
        "render_seconds": 3.0,
        "time_scale": 1.0,
        "slots": None,
        "now": 0.0,
        **kwargs,
    }
    return planner.plan(**settings)  # type: ignore[arg-type]


def test_the_default_profile_renders_every_task_for_render_seconds_with_a_straight_progress() -> None:
    fixed = plan(RenderPlanner(), 0, profile=PROFILE_FIXED)
    assert (fixed.queued_seconds, fixed.render_seconds, fixed.steps) == (0.0, 3.0, ())
    assert [fixed.progress(seconds) for seconds in (0, 1.5, 3, 9)] == [0.0, 0.5, MAX_RUNNING_PROGRESS, 0.99]
    assert EmulatorConfig().render_profile == PROFILE_FIXED


def test_realistic_renders_center_on_the_median_with_a_long_tail() -> None:
    planner = RenderPlanner(seed=7)
    times = [plan(planner, index, time_scale=0.5).render_seconds for index in range(4000)]
    median = median_seconds("minimax_hailuo_02_i2v", None, None) * 0.5
    assert median == 30.0
    assert abs(statistics.median(times) / median - 1) < 0.05
    p95 = statistics.quantiles(times, n=20)[-1]
    assert p95 > 2 * median  # one render in twenty takes over twice the median
    assert min(times) < 0.5 * median


def test_the_median_depends_on_the_model_the_resolution_and_the_duration() -> None:
    base = median_seconds("minimax_hailuo_02_i2v", "768P", 6)
    assert median_seconds("minimax_hailuo_23_fast_i2v", "768P", 6) < base
    assert median_seconds("minimax_hailuo_02_i2v", "1080P", 6) > base
    assert median_seconds("minimax_hailuo_02_i2v", "768P", 10) > base
    assert median_seconds("minimax_hailuo_02_i2v", "512P", 6) < base


def test_renders_beyond_the_slots_queue_at_progress_zero() -> None:
    planner = RenderPlanner(seed=1)
    first, second, third = (plan(planner, index, slots=2, now=100.0) for index in range(3))
    assert first.queued_seconds == second.queued_seconds == 0.0
    assert third.queued_seconds == pytest.approx(min(first.render_seconds, second.render_seconds))
    assert third.progress(third.queued_seconds / 2) in (0.0, None)
    # A slot that freed before a new task arrives is free for it.
    later = plan(planner, 4, slots=2, now=100.0 + 10 * max(first.render_seconds, second.render_seconds))
    assert later.queued_seconds == 0.0


def test_progress_stalls_jumps_or_is_absent_and_never_says_done() -> None:
    planner = RenderPlanner(seed=3)
    plans = [plan(planner, index) for index in range(400)]
    silent = [p for p in plans if p.steps is None]
    assert 0.15 < len(silent) / len(plans) < 0.35  # about one in four reports no progress
    for render in plans:
        if render.steps is None:
            assert render.progress(render.render_seconds / 2) is None
            continue
        shown = [render.progress(render.render_seconds * step / 100) for step in range(100)]
        assert shown == sorted(shown)  # never goes back
        assert max(shown) <= MAX_RUNNING_PROGRESS  # type: ignore[type-var]
        # Not a line: somewhere the shown progress is far from the fraction of the render done.
        assert max(abs(value - step / 100) for step, value in enumerate(shown)) > 0.1  # type: ignore[operator]
        # Stalls: the same value over several consecutive readings.
        assert any(shown[i] == shown[i + 5] for i in range(len(shown) - 5))


def test_the_same_seed_plans_the_same_renders() -> None:
    first = [plan(RenderPlanner(seed=11), index) for index in range(3)]
    again = [plan(RenderPlanner(seed=11), index) for index in range(3)]
    assert first == again


def test_the_same_seed_draws_the_same_render_times_whatever_the_task_ids() -> None:
    """Task ids are random, and decide which tasks report no progress (drawing nothing for it):
    the render times of a seed must not depend on them, or two benchmark runs would differ."""
    planner, other = RenderPlanner(seed=5), RenderPlanner(seed=5)
    ours = [plan(planner, index).render_seconds for index in range(20)]
    theirs = [plan(other, index, task_id=f"other_{index}").render_seconds for index in range(20)]
    assert ours == theirs


@pytest.mark.parametrize(
    "change",
    [
        {"render_profile": "slow"},
        {"render_time_scale": 0},
        {"render_slots": 0},
        {"render_seed": -1},
        {"render_slots": True},
    ],
)
def test_bad_render_settings_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ControlError):
        EmulatorConfig().updated(change)
