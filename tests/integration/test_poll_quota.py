"""A thousand triggers of one account meet a poll quota: they settle at it instead of hammering it,
and none gives up on its task for it.

A behaviour test, not a benchmark: it asserts each trigger's event and how many polls the gateway
refused against how many it answered, never how long anything took (CI is a busy 2-core machine).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import requests

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger

TRIGGERS = 1000
POLL_INTERVAL = 1.0
# A fifth of the thousand polls a second the herd asks for at its poll interval.
POLL_QUOTA_PER_SECOND = 200.0
# Long enough for the herd to spread out, short enough for a test: afterwards every trigger needs
# one more answered poll, and the quota lets through only so many a second.
RENDER_SECONDS = 15.0
# Far beyond what the run needs: a trigger's timeout event here would be one that gave up early.
END_TIME_SECONDS = 240.0


def create_tasks(emulator: EmulatorServer, count: int) -> list[str]:
    """Gateway tasks made through the emulator's create endpoint (a frame URL: nothing to encode)."""
    body = {
        "model": "minimax_hailuo_02_i2v",
        "input": [{"params": {"first_frame_image": "https://example.com/frame.png"}}],
    }
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    url = f"{emulator.url}/model/v1/generation"
    with requests.Session() as session:
        return [session.post(url, json=body, headers=headers, timeout=10).json()["id"] for _ in range(count)]


async def first_event(trigger: HailuoTaskTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def test_a_thousand_triggers_settle_at_a_poll_quota(
    hailuo_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """The connection's default retry settings; one event loop, as in one triggerer."""
    hailuo_emulator.client.configure(render_seconds=RENDER_SECONDS)
    task_ids = create_tasks(hailuo_emulator, TRIGGERS)
    hailuo_emulator.client.configure(poll_quota_per_second=POLL_QUOTA_PER_SECOND)
    end_time = time.time() + END_TIME_SECONDS

    async def all_of_them() -> list[dict[str, Any]]:
        triggers = [HailuoTaskTrigger(t, hailuo_connection, POLL_INTERVAL, end_time) for t in task_ids]
        return await asyncio.gather(*(first_event(trigger) for trigger in triggers))

    events = asyncio.run(all_of_them())
    stats = hailuo_emulator.client.stats()

    outcomes = Counter(event["status"] for event in events)
    assert outcomes == {"success": TRIGGERS}, [e["message"] for e in events if e["status"] != "success"][:5]
    assert sorted(event["hailuo_task_id"] for event in events) == sorted(task_ids)
    answered = stats["status_codes_by_endpoint"]["poll"].get("200", 0)
    refused = stats["quota_refusals"].get("poll_rate", 0)
    assert answered >= TRIGGERS  # each trigger saw its task completed
    # Hammering (each trigger back after 1 s, as its interval and the Retry-After say) has most
    # polls refused: about 3 for each answered one here. Triggers each backing off on their own
    # met a burst of refusals while they spread out: about 1 for 2 answered. Paced as one
    # connection (triggers/pacer.py), the herd halves its rate at the first refusals and creeps
    # back: 1 refused for 3,303 answered in one run.
    assert refused * 10 < answered, f"{refused} polls refused for {answered} answered"
