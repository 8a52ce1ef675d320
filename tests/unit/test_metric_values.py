"""The pure parts of airflow_provider_hailuo/integration/metrics.py: the cost unit, the tags, the failure reason."""

from __future__ import annotations

import pytest

from airflow_provider_hailuo.gateway.protocol import HailuoTask, TaskError
from airflow_provider_hailuo.integration.metrics import failure_reason, micro_dollars, video_tags


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ("0.28", 280_000),
        ("2.01", 2_010_000),  # int(float("2.01") * 1_000_000) is 2009999
        ("0", 0),
        ("1234.567891", 1_234_567_891),
        ("0.0000005", 0),  # finer than a micro-dollar: half to even
        ("0.0000015", 2),
    ],
)
def test_a_cost_is_whole_micro_dollars_exactly(cost: str, expected: int) -> None:
    assert micro_dollars(cost) == expected


def test_tags_are_always_the_same_keys_and_safe_for_statsd() -> None:
    assert video_tags("minimax_hailuo_02_i2v", "768P", 6) == {
        "model": "minimax_hailuo_02_i2v",
        "resolution": "768P",
        "duration": "6",
    }
    # "," and "=" would break InfluxDB-style tags; a space would get the whole metric dropped.
    assert video_tags("my model,v=2", None, "") == {
        "model": "my_model_v_2",
        "resolution": "unknown",
        "duration": "unknown",
    }


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        (HailuoTask(id="t", status="failed", error=TaskError(code="010004095", message="x")), "010004095"),
        (HailuoTask(id="t", status="cancelled", error=TaskError(code="010004095", message="x")), "cancelled"),
        (HailuoTask(id="t", status="failed", error=TaskError(code=None, message="nsfw")), "unknown"),
        (HailuoTask(id="t", status="failed"), "unknown"),
    ],
)
def test_a_failure_is_counted_by_its_code_with_its_leading_zeros(task: HailuoTask, reason: str) -> None:
    assert failure_reason(task) == reason
