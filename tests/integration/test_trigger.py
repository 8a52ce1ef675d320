"""HailuoTaskTrigger against the emulator: what it serialises, every event it can yield, and that it
rides out transient faults, survives being re-created, and never blocks the event loop."""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.gateway.protocol import ERROR_CODES
from airflow_provider_hailuo.gateway.render_times import MARGIN, MIN_SAMPLES, RENDER_TIMES, RenderKey
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.integration.triggerers import poll_rate_share
from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger
from tests.airflow_versions import EVERY_AIRFLOW
from tests.integration.support import log_lines

pytestmark = EVERY_AIRFLOW

FRAME = Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg"


def submit(connection: str) -> str:
    return HailuoHook(connection).submit(GenerationRequest(first_frame_image=FRAME))


async def first_event(trigger: HailuoTaskTrigger) -> dict[str, Any]:
    """Run a trigger as the triggerer does, up to its first event."""
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def run(trigger: HailuoTaskTrigger) -> dict[str, Any]:
    return asyncio.run(first_event(trigger))


def test_it_serialises_only_what_identifies_the_work(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    trigger = HailuoTaskTrigger(
        "task_abc",
        fast_connection,
        poll_interval=2.5,
        end_time=1_900_000_000.0,
        try_number=3,
        not_before=1_899_990_000.0,
        created_at=1_899_989_000.0,
        render_key=["minimax_hailuo_02_i2v", "768P", 6],
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_hailuo.triggers.hailuo.HailuoTaskTrigger"
    assert kwargs == {
        "hailuo_task_id": "task_abc",
        "hailuo_conn_id": fast_connection,
        "poll_interval": 2.5,
        "end_time": 1_900_000_000.0,
        "try_number": 3,  # echoed in its event: a retry can tell an earlier try's event
        "not_before": 1_899_990_000.0,
        # When it was created and what it asked for: when its video can be ready (render_times.py).
        "created_at": 1_899_989_000.0,
        "render_key": ["minimax_hailuo_02_i2v", "768P", 6],
    }
    assert trigger.event({"status": "success"}).payload["try_number"] == 3
    assert hailuo_emulator.api_key not in json.dumps(kwargs)
    rebuilt = HailuoTaskTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_success_carries_the_task_but_no_url(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    task_id = submit(fast_connection)
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "success"
    assert event["hailuo_task_id"] == task_id
    assert event["task"]["status"] == "completed"
    assert event["task"]["cost"] == "0.28"
    text = json.dumps(event)  # an event must be serialisable to travel back to the task
    # Airflow 3.3's triggerer logs every event it fires: nothing signed may be in one.
    assert "Signature" not in text
    assert "://" not in text


@pytest.mark.parametrize("outcome", ["success", "error"])
def test_an_event_ready_before_not_before_is_held_until_then(
    fast_connection: str, hailuo_emulator: EmulatorServer, outcome: str
) -> None:
    """A video ready (or a poll failing for good) within seconds of the deferral fires no sooner
    than ``not_before``: Airflow can fail a task whose trigger fires that soon (deferral.py)."""
    task_id = submit(fast_connection)
    assert HailuoHook(fast_connection).wait_for_task(task_id, poll_interval=0.05, timeout=30).is_success
    if outcome == "error":
        hailuo_emulator.client.add_fault("status", target="poll", http_status=401)
    not_before = time.time() + 1.5
    event = run(
        HailuoTaskTrigger(
            task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30, not_before=not_before
        )
    )
    assert event["status"] == outcome
    assert time.time() >= not_before


@pytest.mark.parametrize(
    "faults",
    [
        [{"kind": "status", "http_status": 429, "retry_after": 0.05, "times": 3}],
        # More 502s than one poll's retries: the trigger must poll on, not fail the task.
        [{"kind": "status", "http_status": 502, "times": 10}],
        [{"kind": "drop", "times": 4}],
        [{"kind": "slow", "delay_seconds": 0.5, "times": 2}],
    ],
    ids=["429", "502-burst-beyond-retries", "dropped-connections", "slow"],
)
def test_it_rides_out_transient_faults(
    fast_connection: str, hailuo_emulator: EmulatorServer, faults: list[dict[str, Any]]
) -> None:
    task_id = submit(fast_connection)
    hailuo_emulator.client.add_faults([{**fault, "target": "poll"} for fault in faults])
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 120))
    assert event["status"] == "success"
    assert hailuo_emulator.client.faults() == []  # every fault was met on the way


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
@pytest.mark.parametrize("shape", ["seed", "string", "bare"])
def test_a_failed_task_gives_a_failed_event_with_the_gateway_error(
    fast_connection: str, hailuo_emulator: EmulatorServer, code: str, shape: str
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code=code, error_shape=shape)
    task_id = submit(fast_connection)
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "failed"
    assert event["hailuo_task_id"] == task_id
    if shape != "bare":  # a bare string carries no structured code
        assert event["task"]["error"]["code"] == code
        assert code in event["message"]


def test_a_cancelled_task_gives_a_cancelled_event(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.add_fault("task_failure", task_status="cancelled")
    task_id = submit(fast_connection)
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "cancelled"


def test_the_end_time_gives_a_timeout_event(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=60)
    task_id = submit(fast_connection)
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 0.3))
    assert event["status"] == "timeout"
    assert task_id in event["message"]


def test_a_revoked_key_gives_an_error_event(
    fast_connection: str, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = submit(fast_connection)
    hailuo_emulator.client.configure(api_key="rotated-key")
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "error"
    assert "check the API key" in event["message"]
    assert hailuo_emulator.client.stats()["poll"] == 1  # 401 is not retried


def test_a_connection_without_key_gives_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HAILUO_DEFAULT", json.dumps({"conn_type": "hailuo", "host": "http://127.0.0.1:9"})
    )
    event = run(HailuoTaskTrigger("task_x", "hailuo_default", poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "error"
    assert "password field" in event["message"]


def test_re_created_from_its_serialised_form_it_simply_goes_on(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """A triggerer restart: the running trigger is cancelled, a new one is built from its kwargs."""
    hailuo_emulator.client.configure(render_seconds=1.0)
    task_id = submit(fast_connection)
    original = HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30)

    async def interrupted_then_resumed() -> dict[str, Any]:
        running = asyncio.ensure_future(first_event(original))
        await asyncio.sleep(0.3)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        _, kwargs = original.serialize()
        return await first_event(HailuoTaskTrigger(**json.loads(json.dumps(kwargs))))

    event = asyncio.run(interrupted_then_resumed())
    assert event["status"] == "success"
    assert hailuo_emulator.client.stats()["create"] == 1


def test_it_never_blocks_the_event_loop(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    """Slow gateway answers must not stall the loop the other triggers share.

    Asserted as behaviour, not as a gap in milliseconds (a busy CI machine stretches any gap): a
    watcher on the same loop must get to run while one of the trigger's slow polls is outstanding.
    A blocking poll would hold the loop for its whole answer, so the watcher would only ever run
    before or after it and never see it in flight.
    """
    task_id = submit(fast_connection)
    hailuo_emulator.client.add_fault("slow", target="poll", delay_seconds=1.0, times=3)

    async def watch_the_loop() -> tuple[dict[str, Any], int]:
        seen_in_flight = 0
        done = asyncio.Event()

        async def watcher() -> None:
            nonlocal seen_in_flight
            while not done.is_set():
                # The emulator's own count of gateway requests it is answering (control calls excluded).
                if hailuo_emulator.client.stats()["in_flight"] > 0:
                    seen_in_flight += 1
                await asyncio.sleep(0.02)

        watching = asyncio.ensure_future(watcher())
        event = await first_event(
            HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30)
        )
        done.set()
        await watching
        return event, seen_in_flight

    event, seen_in_flight = asyncio.run(watch_the_loop())
    assert event["status"] == "success"
    assert hailuo_emulator.client.stats()["faults_applied"], "no slow answer was given"
    assert seen_in_flight > 0, "the loop never turned while a poll was outstanding"


def test_many_triggers_of_one_connection_share_one_pool(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.configure(render_seconds=1.0)
    task_ids = [submit(fast_connection) for _ in range(20)]

    async def staggered(index: int, task_id: str) -> dict[str, Any]:
        await asyncio.sleep(index * 0.01)  # so that first polls do not all land at once
        return await first_event(
            HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30)
        )

    async def all_of_them() -> list[dict[str, Any]]:
        return await asyncio.gather(*(staggered(i, t) for i, t in enumerate(task_ids)))

    events = asyncio.run(all_of_them())
    assert [event["status"] for event in events] == ["success"] * 20
    # Each task was polled while it rendered and again once ready (how many polls in all depends on
    # the machine's speed, so no count is asked for beyond that).
    polled = Counter(poll["task_id"] for poll in hailuo_emulator.client.polls())
    assert set(polled) == set(task_ids)
    assert min(polled.values()) >= 2, polled
    # A session per trigger keeps each connection to its own trigger's task; the shared pool hands
    # a kept-alive connection to whichever trigger polls next. How many connections it opens
    # depends on how the polls overlap (on a busy machine, up to one per trigger), so the test
    # asks what only sharing does: one connection carrying the polls of several tasks.
    tasks_by_port: dict[int, set[str]] = defaultdict(set)
    for poll in hailuo_emulator.client.polls():
        tasks_by_port[poll["client_port"]].add(poll["task_id"])
    assert max(len(tasks) for tasks in tasks_by_port.values()) > 1


def test_a_missing_connection_gives_an_error_event_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_HAILUO_NOWHERE", raising=False)
    event = run(HailuoTaskTrigger("task_x", "hailuo_nowhere", poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "error"
    assert "hailuo_nowhere" in event["message"]


def test_one_slow_poll_does_not_outlive_the_end_time(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    task_id = submit(fast_connection)
    hailuo_emulator.client.add_fault("slow", target="poll", delay_seconds=30, times=10)
    started = time.monotonic()
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 1))
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 10  # not the 30 s the gateway took to answer


def test_a_retry_after_beyond_the_hooks_bound_is_waited_out_between_polls(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    task_id = submit(fast_connection)
    # Longer than the retry policy waits inside one poll (max_retry_after): the hook gives up at once.
    hailuo_emulator.client.add_fault("status", target="poll", http_status=429, retry_after=600, times=100)
    event = run(HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 1.5))
    assert event["status"] == "timeout"
    # Polling every 0.05 s regardless would have met the 429 about 30 times in 1.5 s; it polled
    # once, and the connection held every poll for the Retry-After (triggers/pacer.py), past the
    # end time: no poll the gateway asked not to have.
    assert hailuo_emulator.client.stats()["poll"] == 1


def test_on_kill_warns_that_the_gateway_task_renders_on(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Airflow 3.3+ calls it when a user marks the deferred task failed or clears it."""
    trigger = HailuoTaskTrigger("task_rendering", "hailuo_default", poll_interval=1, end_time=None)
    with caplog.at_level("WARNING"):
        asyncio.run(trigger.on_kill())
    warning = "Hailuo task task_rendering keeps rendering on the gateway and will be charged"
    assert any(warning in line for line in log_lines(caplog, capsys))


ASK: RenderKey = ("minimax_hailuo_02_i2v", "768P", 6)


def teach(connection: str, ask: RenderKey, seconds: float) -> None:
    """History of the ask on the connection, as this process's triggers would have learned it."""
    for _ in range(MIN_SAMPLES):
        RENDER_TIMES.observe((connection, ask), seconds)


def watch_a_new_render(connection: str, *, creation_known: bool = True, within: float = 60) -> dict[str, Any]:
    """Create a task (of ASK) and watch it as a trigger deferred to by the operator: every 0.05 s."""
    created_at = time.time()
    task_id = submit(connection)
    trigger = HailuoTaskTrigger(
        task_id,
        connection,
        poll_interval=0.05,
        end_time=time.time() + within,
        created_at=created_at if creation_known else None,
        render_key=list(ASK),
    )
    return run(trigger)


def test_with_history_it_does_not_poll_before_renders_of_the_same_ask_finish(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """Renders of this ask took 3 s: the trigger waits for the earliest (0.8 of that) before it
    polls, not polling every 0.05 s meanwhile."""
    teach(fast_connection, ASK, 3.0)
    hailuo_emulator.client.configure(render_seconds=0.3)
    assert watch_a_new_render(fast_connection)["status"] == "success"
    # One poll, at the earliest, which finds the video. Without history: one poll each 0.05 s.
    assert hailuo_emulator.client.stats()["poll"] == 1


def test_waiting_for_the_earliest_never_outlives_the_end_time(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """History says 30 s; the trigger has 1 s: it polls at its end time and times out (a trigger
    that slept to the earliest would find the video done, long after Airflow's own deadline)."""
    teach(fast_connection, ASK, 30.0)
    hailuo_emulator.client.configure(render_seconds=5.0)
    assert watch_a_new_render(fast_connection, within=1.0)["status"] == "timeout"


@pytest.mark.parametrize("what", ["no-history", "another-ask", "another-connection", "no-creation-time"])
def test_without_history_of_its_ask_it_polls_every_interval(
    fast_connection: str, hailuo_emulator: EmulatorServer, what: str
) -> None:
    if what == "another-ask":
        teach(fast_connection, ("minimax_hailuo_02_i2v", "1080P", 6), 30.0)
    elif what == "another-connection":  # another gateway, or an account of another tier
        teach("hailuo_other", ASK, 30.0)
    elif what == "no-creation-time":
        teach(fast_connection, ASK, 30.0)
    hailuo_emulator.client.configure(render_seconds=2.0)
    event = watch_a_new_render(fast_connection, creation_known=what != "no-creation-time")
    assert event["status"] == "success"
    # Today's schedule: every 0.05 s for a 2 s render (about 40 polls; a busy machine polls fewer,
    # never as few as the one poll of a trigger that waited for 30 s renders).
    assert hailuo_emulator.client.stats()["poll"] >= 5


def test_it_learns_how_long_its_render_took_by_the_gateways_stamps(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.configure(render_seconds=0.5)
    for _ in range(MIN_SAMPLES):
        assert watch_a_new_render(fast_connection)["status"] == "success"
    # 0.5 s by the gateway's in_queue_at and completed_at, whatever this machine's polls saw.
    assert RENDER_TIMES.earliest((fast_connection, ASK)) == pytest.approx(MARGIN * 0.5, abs=0.01)
    assert RENDER_TIMES.earliest((fast_connection, ("minimax_hailuo_02_i2v", "1080P", 6))) is None


def test_a_failed_render_teaches_nothing(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0.2)
    for _ in range(MIN_SAMPLES):
        hailuo_emulator.client.add_fault("task_failure", error_code="010004095")
        assert watch_a_new_render(fast_connection)["status"] == "failed"
    assert RENDER_TIMES.earliest((fast_connection, ASK)) is None


def test_a_connections_polls_keep_to_its_rate(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 triggers polling every 0.05 s would poll 600 times a second; the connection allows 10:
    in no second does the gateway see more (one more at a window's edge)."""
    rate = 10.0
    connection = {
        "conn_type": "hailuo",
        "host": hailuo_emulator.url,
        "password": hailuo_emulator.api_key,
        "extra": {"retry_limit": 3, "retry_delay": 0.01, "max_polls_per_second": rate},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HAILUO_PACED", json.dumps(connection))
    hailuo_emulator.client.configure(render_seconds=1.0)
    task_ids = [submit("hailuo_paced") for _ in range(30)]

    async def all_of_them() -> list[dict[str, Any]]:
        end = time.time() + 120
        triggers = [HailuoTaskTrigger(t, "hailuo_paced", poll_interval=0.05, end_time=end) for t in task_ids]
        return await asyncio.gather(*(first_event(trigger) for trigger in triggers))

    events = asyncio.run(all_of_them())
    assert [event["status"] for event in events] == ["success"] * 30
    times = sorted(poll["at"] for poll in hailuo_emulator.client.polls())
    assert len(times) >= 30
    busiest = max(bisect.bisect_right(times, start + 1.0) - index for index, start in enumerate(times))
    assert busiest <= rate + 1, f"{busiest} polls in one second"


@pytest.mark.parametrize("extra", [{"max_polls_per_second": "fast"}, {"max_polls_per_second": -1}])
def test_a_bad_rate_leaves_the_polls_unpaced_and_the_wait_going(
    hailuo_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    extra: dict[str, Any],
) -> None:
    """An extra edited wrongly while videos render must not fail the waits for them."""
    connection = {
        "conn_type": "hailuo",
        "host": hailuo_emulator.url,
        "password": hailuo_emulator.api_key,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_HAILUO_SLIPPED", json.dumps(connection))
    task_id = submit("hailuo_slipped")
    event = run(HailuoTaskTrigger(task_id, "hailuo_slipped", poll_interval=0.05, end_time=time.time() + 30))
    assert event["status"] == "success"
    warning = "its polls are not paced: connection extra max_polls_per_second="
    assert any(warning in line for line in log_lines(caplog, capsys))


def test_the_triggerers_share_of_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HAILUO__TRIGGERERS", "4")
    assert poll_rate_share(10.0) == 2.5
    assert poll_rate_share(None) is None
    monkeypatch.setenv("AIRFLOW__HAILUO__TRIGGERERS", "0")
    with pytest.raises(HailuoValidationError, match=r"\[hailuo\] triggerers must be a whole number"):
        poll_rate_share(10.0)
