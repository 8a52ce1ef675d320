"""A create refused for the gateway's quota (429, 503) waits, in the triggerer when deferrable, and is
sent again: one accepted create per task, no failed task, no Airflow retry."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import (
    HailuoError,
    HailuoQuotaWaitExpiredError,
    HailuoRateLimitError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_SECONDS
from airflow_provider_hailuo.gateway.quota import MAX_SPACING
from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger
from airflow_provider_hailuo.triggers.quota import EVENT_QUOTA_TURN, HailuoQuotaWaitTrigger, release_schedule
from tests.airflow_versions import EVERY_AIRFLOW
from tests.integration.support import StandInStateStore, load_dag, log_lines, task_results
from tests.integration.test_operator import context, operator


def refuse_creates(
    emulator: EmulatorServer, times: int, http_status: int = 429, retry_after: Any = 1
) -> None:
    emulator.client.add_faults(
        [
            {
                "kind": "status",
                "target": "create",
                "http_status": http_status,
                "retry_after": retry_after,
                "times": times,
            }
        ]
    )


@EVERY_AIRFLOW
def test_a_refused_create_defers_to_the_triggerer_with_nothing_secret(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hailuo_emulator.client.configure(create_quota_per_minute=1)
    store = StandInStateStore()
    operator(wait_for_completion=False).execute(context())  # takes the minute's only create
    op = operator(deferrable=True, timeout=900, max_quota_wait=600)
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(store))
    trigger = deferred.value.trigger
    assert isinstance(trigger, HailuoQuotaWaitTrigger)
    _, kwargs = trigger.serialize()
    assert set(kwargs) == {"hailuo_conn_id", "not_before", "spacing", "end_time", "try_number"}
    assert hailuo_emulator.api_key not in json.dumps(kwargs)
    # The token bucket's next token is a minute away: the Retry-After is honoured, and the wait
    # is bounded by max_quota_wait (the smaller of it and timeout) from the first refusal.
    assert kwargs["not_before"] >= started + 55
    assert started + 600 <= kwargs["end_time"] <= time.time() + 600
    assert kwargs["spacing"] == MAX_SPACING  # a long Retry-After does not make turns a minute apart
    assert deferred.value.method_name == "execute_after_quota_wait"
    # The commitment's place in the run (nothing without a price) comes back with the task.
    assert deferred.value.kwargs == {
        "refusals": 1,
        "quota_deadline": kwargs["end_time"],
        "committed_at": pytest.approx(started, abs=60),
    }
    assert store == {}  # the refused create left no intent behind: nothing to resume
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"], stats["quota_refusals"]["create_rate"]) == (2, 1, 1)
    lines = [line for line in log_lines(caplog, capsys) if "refused the create" in line]
    assert len(lines) == 1
    assert "rate limit exceeded" in lines[0]
    assert "in the triggerer" in lines[0]
    assert "gives up 600 s from now" in lines[0]

    # The quota is back: the resumed task sends the create once and defers to wait for the video.
    hailuo_emulator.client.reset()  # no quota, and fresh counts
    with pytest.raises(TaskDeferred) as resumed:
        op.execute_after_quota_wait(context(store), {"status": EVENT_QUOTA_TURN}, **deferred.value.kwargs)
    assert isinstance(resumed.value.trigger, HailuoTaskTrigger)
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (1, 1)
    assert store  # the new task's id is recorded


@EVERY_AIRFLOW
@pytest.mark.usefixtures("deferral_floor")
def test_a_deferred_task_comes_back_no_sooner_than_airflow_can_take_it_back(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    refuse_creates(hailuo_emulator, times=1, retry_after=1)
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True).execute(context())
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["not_before"] >= started + MIN_DEFERRAL_SECONDS
    assert kwargs["spacing"] == 1.0  # the turns after it keep the gateway's pace


def test_a_refusal_after_the_quota_deadline_fails_and_names_the_settings(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    refuse_creates(hailuo_emulator, times=1, retry_after=30)
    op = operator(deferrable=True, max_quota_wait=5)
    with pytest.raises(HailuoQuotaWaitExpiredError, match=r"max_quota_wait=5 s.*pool"):
        op.execute(context())
    refuse_creates(hailuo_emulator, times=1)
    with pytest.raises(HailuoQuotaWaitExpiredError):  # the deadline carried over the deferral
        op.execute_after_quota_wait(context(), None, refusals=3, quota_deadline=time.time() - 1)
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


@EVERY_AIRFLOW
def test_a_retry_resumed_with_an_earlier_tries_quota_turn_starts_its_own_wait(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    # Airflow 3.0/3.1.0 resume a retry with the earlier try's event and kwargs (apache/airflow#56704):
    # its spent quota deadline must not fail the new try.
    refuse_creates(hailuo_emulator, times=1, retry_after=30)
    retry = context()
    retry["ti"].try_number = 2
    op = operator(deferrable=True, max_quota_wait=600)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute_after_quota_wait(
            retry, {"status": "quota_turn", "try_number": 1}, refusals=3, quota_deadline=time.time() - 1
        )
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["try_number"] == 2
    assert kwargs["end_time"] > time.time() + 30  # a wait of its own, not the spent one
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


@pytest.mark.parametrize("http_status", [429, 503])
def test_without_deferral_the_worker_waits_and_sends_again(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    http_status: int,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    refuse_creates(hailuo_emulator, times=2, http_status=http_status, retry_after=0)
    store = StandInStateStore()
    task_id = operator(wait_for_completion=False, deferrable=False).execute(context(store))
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (3, 1)
    assert hailuo_emulator.client.tasks()[0]["id"] == task_id
    waits = [line for line in log_lines(caplog, capsys) if "refused the create" in line]
    assert len(waits) == 2  # one line per wait
    assert all("in this worker" in line for line in waits)


def test_max_quota_wait_0_keeps_the_connection_s_retries_and_then_fails(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    refuse_creates(hailuo_emulator, times=10, retry_after=0)
    with pytest.raises(HailuoRateLimitError):
        operator(wait_for_completion=False, deferrable=True, max_quota_wait=0).execute(context())
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (3, 0)  # the connection's retry_limit


def test_an_ambiguous_failure_is_still_never_resent(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    from airflow_provider_hailuo.exceptions import HailuoAmbiguousSubmitError

    refuse_creates(hailuo_emulator, times=1, http_status=502)
    with pytest.raises(HailuoAmbiguousSubmitError):
        operator(deferrable=True).execute(context())
    assert hailuo_emulator.client.stats()["create"] == 1


def test_waiting_tasks_of_one_connection_take_turns_in_the_triggerer() -> None:
    now = time.time()

    async def run_all() -> tuple[list[float], list[float], list[float]]:
        triggers = [
            HailuoQuotaWaitTrigger("hailuo_default", not_before=now + 2, spacing=0.3, end_time=now + 60)
            for _ in range(4)
        ] + [HailuoQuotaWaitTrigger("other_account", not_before=now + 2, spacing=0.3, end_time=now + 60)]

        async def turn(trigger: HailuoQuotaWaitTrigger) -> float:
            async for event in trigger.run():
                assert event.payload == {"status": EVENT_QUOTA_TURN}
            return time.time()

        returns = await asyncio.gather(*(turn(trigger) for trigger in triggers))
        return returns, release_schedule("hailuo_default").turns, release_schedule("other_account").turns

    returns, same_account, other_account = asyncio.run(run_all())
    # Each task of one account booked a turn one spacing after the other, none before its
    # Retry-After, and none returned before its turn; another account's task takes turns apart.
    assert same_account == pytest.approx([now + 2, now + 2.3, now + 2.6, now + 2.9], abs=0.01)
    assert other_account == pytest.approx([now + 2], abs=0.01)
    assert all(back >= turn for back, turn in zip(sorted(returns[:4]), same_account, strict=True))


def test_the_trigger_returns_at_its_end_time_whatever_its_turn() -> None:
    now = time.time()
    trigger = HailuoQuotaWaitTrigger("hailuo_default", not_before=now + 3600, spacing=1, end_time=now + 0.1)

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    assert asyncio.run(first_event()) == {"status": EVENT_QUOTA_TURN}
    # The triggerer rebuilds it from its classpath and kwargs, into the same trigger.
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_a_mapped_batch_rides_out_refusals_without_a_failure_or_a_retry(
    fast_connection: str, hailuo_emulator: EmulatorServer, mode: str
) -> None:
    # dag.test() runs the trigger inline: no scheduler to race with, and the tests' sandbox sets
    # the deferral floor to 0, so a refusal need not wait 15 s.
    dag = load_dag("tests", "hailuo_test_dags", f"hailuo_test_quota_{mode}")
    refuse_creates(hailuo_emulator, times=4, retry_after=0)
    dag_run = dag.test()
    results = task_results(dag_run)
    assert [state for state, _ in results.values()] == ["success"] * 3
    assert {ti.try_number for ti in dag_run.get_task_instances()} == {1}  # no Airflow retry
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (3 + 4, 3)
    assert sorted(result["hailuo_task_id"] for _, result in results.values()) == sorted(
        task["id"] for task in hailuo_emulator.client.tasks()
    )


@EVERY_AIRFLOW
def test_a_refusal_whose_record_cannot_be_removed_fails_instead_of_waiting(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    from tests.integration.test_operator import FlakyStateStore

    # Waiting would end in a try that finds the intent and refuses to send: fail now, saying so.
    refuse_creates(hailuo_emulator, times=1)
    store = FlakyStateStore(fail_deletes=True)
    with pytest.raises(HailuoError, match=r"could not be removed.*nothing was created") as failure:
        operator(deferrable=True).execute(context(store))
    assert not isinstance(failure.value, HailuoTransientError)
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


def test_a_file_object_frame_is_read_once_however_often_the_create_is_refused(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    from tests.integration.test_operator import FRAME

    refuse_creates(hailuo_emulator, times=2, retry_after=0)
    with open(FRAME, "rb") as frame:
        op = operator(first_frame_image=frame, wait_for_completion=False, deferrable=False)
        assert op.execute(context())
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (3, 1)


@pytest.mark.usefixtures("deferral_floor")
def test_a_quota_wait_shorter_than_the_deferral_floor_is_waited_in_the_worker(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """5 s of quota wait left: deferring would bring the task back within the floor, so the worker
    waits for the turn and sends the create again itself; the video's wait then defers."""
    refuse_creates(hailuo_emulator, times=1, retry_after=1)
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True, max_quota_wait=5).execute(context())
    assert isinstance(deferred.value.trigger, HailuoTaskTrigger)
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["not_before"] >= time.time() + MIN_DEFERRAL_SECONDS - 5
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (2, 1)
