"""The emulator's per-key quotas: creates a minute (a token bucket), tasks in flight, polls a second.

Each refusal is the gateway's 429 JSON error, with a ``Retry-After`` where the wait is knowable,
and is counted in the stats by kind.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.emulator.client import EmulatorControlError

TIMEOUT = 10
BODY = {
    "model": "minimax_hailuo_02_i2v",
    "input": [{"params": {"first_frame_image": "https://example.com/a.png"}}],
}


def create(emulator: EmulatorServer) -> requests.Response:
    return requests.post(
        f"{emulator.url}/model/v1/generation",
        json=BODY,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=TIMEOUT,
    )


def poll(emulator: EmulatorServer, task_id: str) -> requests.Response:
    return requests.get(
        f"{emulator.url}/model/v1/generation/task/{task_id}",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=TIMEOUT,
    )


def test_no_quota_by_default(hailuo_emulator: EmulatorServer) -> None:
    assert all(create(hailuo_emulator).status_code == 200 for _ in range(30))
    assert hailuo_emulator.client.stats()["quota_refusals"] == {}


def test_a_create_quota_takes_a_minutes_burst_then_answers_429_with_retry_after(
    hailuo_emulator: EmulatorServer,
) -> None:
    hailuo_emulator.client.configure(create_quota_per_minute=3)
    assert [create(hailuo_emulator).status_code for _ in range(3)] == [200, 200, 200]
    refused = create(hailuo_emulator)
    assert refused.status_code == 429
    assert refused.json() == {"error": {"message": "rate limit exceeded (3 creates a minute)"}}
    assert 1 <= int(refused.headers["Retry-After"]) <= 20  # one token every 20 s
    stats = hailuo_emulator.client.stats()
    assert stats["tasks_created"] == 3
    assert stats["quota_refusals"] == {"create_rate": 1}
    assert stats["status_codes_by_endpoint"]["create"] == {"200": 3, "429": 1}


def test_a_cap_on_tasks_in_flight_frees_a_slot_when_a_task_ends(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=600, max_tasks_in_flight=2)
    first, _ = (create(hailuo_emulator).json()["id"] for _ in range(2))
    refused = create(hailuo_emulator)
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers  # when a render ends is not known
    assert "too many tasks in progress (at most 2)" in refused.text
    hailuo_emulator.client.set_task_status(first, "failed")
    assert create(hailuo_emulator).status_code == 200
    assert hailuo_emulator.client.stats()["quota_refusals"] == {"tasks_in_flight": 1}


def test_a_poll_quota_answers_429_with_retry_after(hailuo_emulator: EmulatorServer) -> None:
    task_id = create(hailuo_emulator).json()["id"]
    hailuo_emulator.client.configure(poll_quota_per_second=2)
    statuses = [poll(hailuo_emulator, task_id).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = poll(hailuo_emulator, task_id)
    assert refused.headers["Retry-After"] == "1"
    assert hailuo_emulator.client.stats()["quota_refusals"]["poll_rate"] >= 1


def test_reset_lifts_every_quota(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(
        create_quota_per_minute=1, max_tasks_in_flight=1, poll_quota_per_second=1
    )
    hailuo_emulator.client.reset()
    assert all(create(hailuo_emulator).status_code == 200 for _ in range(5))


@pytest.mark.parametrize(
    "change",
    [
        {"create_quota_per_minute": 0},
        {"create_quota_per_minute": -1},
        {"create_quota_per_minute": "many"},
        {"poll_quota_per_second": 0},
        {"max_tasks_in_flight": 0},
        {"max_tasks_in_flight": 1.5},
        {"max_tasks_in_flight": True},
    ],
)
def test_a_quota_must_be_positive(hailuo_emulator: EmulatorServer, change: dict[str, Any]) -> None:
    with pytest.raises(EmulatorControlError, match=next(iter(change))):
        hailuo_emulator.client.configure(**change)
