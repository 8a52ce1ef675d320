"""The cost caps and the dry run against the emulator: refusals send nothing, a mapped batch stops
at its run's cap with exactly the creates the cap allows, and actual costs replace estimates."""

from __future__ import annotations

import itertools
import json
import threading
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import HailuoError, HailuoSpendLimitError
from airflow_provider_hailuo.integration.spend import SPEND_XCOM_KEY
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, EVERY_AIRFLOW
from tests.integration.support import (
    RecordingTaskInstance,
    StandInStateStore,
    load_dag,
    log_lines,
    task_results,
)

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")
# The deployment's prices, as its connection holds them (the emulator bills 0.28 for 768P 6 s).
PRICES = {"minimax_hailuo_02_i2v": {"768P": {"6": "0.28", "10": "0.56"}, "512P": {"6": "0.10"}}}


def connect(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, prices: object) -> None:
    extra: dict[str, Any] = {"retry_limit": 3, "retry_delay": 0.01}
    if prices is not None:
        extra["price_table"] = prices
    connection = {"conn_type": "hailuo", "host": emulator.url, "password": emulator.api_key, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_HAILUO_DEFAULT", json.dumps(connection))


def run(**kwargs: Any) -> Any:
    operator = HailuoImageToVideoOperator(
        task_id="video", **{"first_frame_image": FRAME, "poll_interval": 0.05, "timeout": 60, **kwargs}
    )
    return operator.execute({"ti": RecordingTaskInstance(), "task_state_store": StandInStateStore()})


def requests_sent(emulator: EmulatorServer) -> int:
    stats = emulator.client.stats()
    return int(stats["create"] + stats["poll"] + stats["download"] + stats["other"])


def states(dag_run: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ti in dag_run.get_task_instances():
        counts[str(ti.state)] = counts.get(str(ti.state), 0) + 1
    return counts


# -- max_cost_usd -------------------------------------------------------------------------------


def test_a_video_over_max_cost_usd_is_refused_before_any_request(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    with pytest.raises(HailuoSpendLimitError, match=r"estimated at \$0.56 .* over max_cost_usd=0.5") as info:
        run(duration=10, max_cost_usd=0.5)
    assert info.value.parameter == "max_cost_usd"
    assert requests_sent(hailuo_emulator) == 0


def test_a_cap_without_a_price_says_what_to_set_and_sends_nothing(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    with pytest.raises(HailuoSpendLimitError, match=r"no price for .*'1080P'.* price_table extra"):
        run(resolution="1080P", max_cost_usd="1")
    connect(hailuo_emulator, monkeypatch, None)
    with pytest.raises(HailuoSpendLimitError, match="price_table"):
        run(max_cost_usd="1")
    assert requests_sent(hailuo_emulator) == 0


def test_a_video_within_max_cost_usd_is_made(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The text form of the extra, as the connection form stores it.
    connect(hailuo_emulator, monkeypatch, json.dumps(PRICES))
    result = run(max_cost_usd="0.28")
    assert result["cost"] == "0.28"
    assert hailuo_emulator.client.stats()["create"] == 1


@pytest.mark.parametrize("bad", [-1, "a dollar", float("nan"), True])
def test_a_bad_cap_is_refused_when_the_dag_is_parsed(bad: object) -> None:
    with pytest.raises(ValueError, match="max_cost_usd"):
        HailuoImageToVideoOperator(task_id="video", first_frame_image=FRAME, max_cost_usd=bad)


# -- dry_run -------------------------------------------------------------------------------------


def test_a_dry_run_resolves_everything_and_sends_nothing(
    hailuo_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    result = run(dry_run=True, prompt="A lighthouse [push in]", duration=10, max_cost_usd="0.56")
    assert requests_sent(hailuo_emulator) == 0
    assert result["dry_run"] is True
    assert result["hailuo_task_id"] is None
    assert result["estimated_cost"] == "0.56"
    assert result["params"]["duration"] == 10
    frame = result["params"]["first_frame_image"]
    assert frame.startswith("data:image/jpeg;base64,")  # resolved (read, checked, encoded) ...
    assert len(frame) < 100  # ... and shown shortened
    lines = "\n".join(log_lines(caplog, capsys))
    assert "Dry run: nothing was sent to the gateway. Estimated cost: $0.56" in lines
    assert "prompt='A lighthouse [push in]'" in lines
    assert hailuo_emulator.api_key not in lines + json.dumps(result)


def test_a_dry_run_is_refused_where_the_real_run_would_be(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    with pytest.raises(HailuoSpendLimitError, match="max_cost_usd"):
        run(dry_run=True, max_cost_usd="0.10")
    with pytest.raises(HailuoSpendLimitError, match="max_run_cost_usd"):
        run(dry_run=True, max_run_cost_usd="0.10")
    assert requests_sent(hailuo_emulator) == 0


# -- the run's cap --------------------------------------------------------------------------------

dag_test = pytest.mark.usefixtures("airflow_db")
# On the older lines, the two paths through Airflow's XComs: the other tasks of the run (a mapped
# batch) and the earlier tries of one task. How the cap adds them up is the provider's own.


@EVERY_AIRFLOW
@dag_test
def test_a_mapped_batch_stops_at_the_run_cap(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    dag_run = load_dag("tests", "hailuo_spend_dags", "hailuo_test_run_cap").test()
    # 4 x 0.28 = 1.12 fits in 1.20; a fifth would make 1.40.
    assert hailuo_emulator.client.stats()["create"] == 4
    assert states(dag_run) == {"success": 4, "failed": 6}
    spent = [
        ti.xcom_pull(task_ids=ti.task_id, key=SPEND_XCOM_KEY, map_indexes=ti.map_index)
        for ti in dag_run.get_task_instances()
        if str(ti.state) == "success"
    ]
    assert sum(Decimal(entry["amount"]) for entry in spent) == Decimal("1.12")
    assert all(entry["settled"] for entry in spent)


@dag_test
def test_a_run_cap_given_when_the_run_starts_wins(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    dag = load_dag("tests", "hailuo_spend_dags", "hailuo_test_run_cap")
    dag_run = dag.test(run_conf={"hailuo_max_run_cost_usd": "0.56"})
    assert hailuo_emulator.client.stats()["create"] == 2
    assert states(dag_run) == {"success": 2, "failed": 8}


@dag_test
def test_actual_costs_replace_estimates_in_the_run_cap(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The table says 0.20; the gateway bills 0.28. By estimates alone 6 would fit in 1.20; by what
    # the finished videos actually cost: 0.28 x 3 + 0.20 = 1.04 fits, 0.28 x 4 + 0.20 = 1.32 does not.
    connect(hailuo_emulator, monkeypatch, {"minimax_hailuo_02_i2v": {"768P": {"6": "0.20"}}})
    dag_run = load_dag("tests", "hailuo_spend_dags", "hailuo_test_run_cap").test()
    assert hailuo_emulator.client.stats()["create"] == 4
    assert states(dag_run) == {"success": 4, "failed": 6}


@dag_test
def test_the_run_cap_counts_the_other_tasks_of_the_run(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    dag_run = load_dag("tests", "hailuo_spend_dags", "hailuo_test_run_cap_operator").test()
    # "first" (uncapped) spent 0.28; "second" would take the run to 0.56, over its 0.50.
    assert hailuo_emulator.client.stats()["create"] == 1
    by_task = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert by_task == {"first": "success", "second": "failed"}


@EVERY_AIRFLOW
@dag_test
def test_the_run_cap_counts_the_videos_of_earlier_tries(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(hailuo_emulator, monkeypatch, PRICES)
    hailuo_emulator.client.add_fault("task_failure", error_code="010004095")
    dag_run = load_dag("tests", "hailuo_spend_dags", "hailuo_test_run_cap_retry").test()
    # Try 1's video failed at the gateway (it may still be billed); try 2's would take the task
    # instance to 0.56, over the run's 0.50, so it sends nothing and does not retry again.
    assert hailuo_emulator.client.stats()["create"] == 1
    (ti,) = dag_run.get_task_instances()
    assert str(ti.state) == "failed"


def test_a_create_the_gateway_refused_keeps_the_earlier_tries_counted(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hailuo.exceptions import HailuoPermissionError, HailuoTaskFailedError

    connect(hailuo_emulator, monkeypatch, PRICES)
    store = StandInStateStore()

    def a_try(ti: RecordingTaskInstance) -> None:
        # Each try starts with its XCom cleared (a new task instance here); the state store stays.
        operator = HailuoImageToVideoOperator(
            task_id="video", first_frame_image=FRAME, poll_interval=0.05, timeout=60, max_run_cost_usd="0.60"
        )
        operator.execute({"ti": ti, "task_state_store": store})

    hailuo_emulator.client.add_fault("task_failure", error_code="010004095")
    with pytest.raises(HailuoTaskFailedError):
        a_try(RecordingTaskInstance())
    hailuo_emulator.client.add_fault("status", target="create", http_status=403)
    with pytest.raises(HailuoPermissionError):
        a_try(RecordingTaskInstance())
    # The third try still counts the first try's failed video (it may be billed) under its own.
    third = RecordingTaskInstance()
    a_try(third)
    spent = third.xcom[SPEND_XCOM_KEY]
    assert (spent["carried"], spent["amount"], spent["settled"]) == ("0.28", "0.56", True)
    assert hailuo_emulator.client.stats()["tasks_created"] == 2


# -- the run cap through clears -----------------------------------------------------------------


class RunXComs:
    """One DAG run's XComs, which every task instance of the run reads and writes, and the states
    of its task instances (by map index)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, int, str], Any] = {}
        self.states: dict[int, str] = {}


class RunTaskInstance(RecordingTaskInstance):
    """A task instance of a mapped task in a :class:`RunXComs` run."""

    def __init__(self, run: RunXComs, map_index: int) -> None:
        super().__init__()
        self.run, self.map_index = run, map_index
        run.states[map_index] = "scheduled"

    def xcom_push(self, key: str, value: Any) -> None:
        self.run.values[(self.task_id, self.map_index, key)] = value

    def xcom_pull(self, task_ids: str | list[str], key: str = "return_value", **_: Any) -> Any:
        ids = [task_ids] if isinstance(task_ids, str) else task_ids
        return [value for (task, _, name), value in self.run.values.items() if task in ids and name == key]

    def get_task_states(self, dag_id: str, task_ids: list[str], run_ids: list[str], **_: Any) -> Any:
        """As Airflow 3's task SDK answers: a mapped task instance is keyed ``task_id_mapindex``."""
        return {self.run_id: {f"{self.task_id}_{index}": state for index, state in self.run.states.items()}}

    def new_try_starts(self) -> None:
        """What Airflow does when a try of a cleared (or retried) task instance starts: its state
        is running, then its XComs are deleted."""
        self.run.states[self.map_index] = "running"
        for entry in [entry for entry in self.run.values if entry[:2] == (self.task_id, self.map_index)]:
            del self.run.values[entry]


class GatedStore(StandInStateStore):
    """A task instance's state store whose first read waits for ``opened``: the time a try spends
    between its start (when Airflow deletes its XCom) and reading its record."""

    def __init__(self) -> None:
        super().__init__()
        self.gated = False
        self.reached, self.opened = threading.Event(), threading.Event()

    def get(self, key: str, default: Any = None) -> Any:
        if self.gated:
            self.gated = False
            self.reached.set()
            assert self.opened.wait(30)
        return super().get(key, default)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o)))
def test_the_run_cap_holds_when_the_whole_run_is_cleared_whatever_the_order(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, order: tuple[int, ...]
) -> None:
    """Cap 0.56 at 0.28 a video: the first run makes 2 and refuses 2. The whole run is cleared and
    its tries start in ``order``, each with its XCom deleted, as Airflow does. The worst timing: the
    tries that resume a video have started (their commitments gone) but not committed again until
    after the others have committed, waited their second and read the run's spend. The others wait
    on until the running tries have committed; committed again at the times they were first
    committed, the two videos come first, so the two others are refused again (before, those that
    read in the gap created: 3 or 4 videos)."""
    import airflow_provider_hailuo.integration.spend as spend

    connect(hailuo_emulator, monkeypatch, PRICES)
    run = RunXComs()
    instances = [RunTaskInstance(run, index) for index in range(4)]
    stores = [GatedStore() for _ in instances]
    refused: list[int] = []

    def a_try(index: int) -> None:
        instances[index].new_try_starts()
        operator = HailuoImageToVideoOperator(
            task_id="video", first_frame_image=FRAME, wait_for_completion=False, max_run_cost_usd="0.56"
        )
        try:
            operator.execute({"ti": instances[index], "task_state_store": stores[index]})
            run.states[index] = "success"
        except HailuoSpendLimitError:
            refused.append(index)
            run.states[index] = "failed"

    monkeypatch.setattr(spend, "time", SimpleNamespace(time=time.time, sleep=lambda seconds: None))
    for index in range(4):
        a_try(index)
    assert (refused, hailuo_emulator.client.stats()["create"]) == ([2, 3], 2)

    refused.clear()
    run.states.update(dict.fromkeys(run.states, "queued"))  # cleared: XComs stay until a try starts
    settling, read = threading.Semaphore(0), threading.Event()
    settled: set[int] = set()

    def settle(seconds: float) -> None:
        """A try's first wait (after committing) holds until ``read``; later ones are short."""
        if threading.get_ident() in settled:
            time.sleep(0.01)
            return
        settled.add(threading.get_ident())
        settling.release()
        assert read.wait(30)

    monkeypatch.setattr(spend, "time", SimpleNamespace(time=time.time, sleep=settle))
    resuming = [index for index in order if stores[index]]  # the two that made a video
    threads: dict[int, threading.Thread] = {}
    for index in order:
        stores[index].gated = index in resuming
        threads[index] = thread = threading.Thread(target=a_try, args=(index,))
        thread.start()
        if index in resuming:  # started, its XCom deleted, its record not read yet
            assert stores[index].reached.wait(30)
        else:  # refused at its first check, or committed and waiting to read
            while thread.is_alive() and not settling.acquire(timeout=0.05):
                pass
    read.set()  # the others read the run's spend while the resumed tries have not committed
    time.sleep(0.2)
    assert all(threads[index].is_alive() for index in order if index not in resuming and index not in refused)
    for index in resuming:  # they read their records and commit again
        stores[index].opened.set()
        threads[index].join(30)
    for thread in threads.values():
        thread.join(30)
    assert sorted(refused) == [2, 3]
    assert hailuo_emulator.client.stats()["create"] == 2


@EVERY_AIRFLOW
@dag_test
def test_the_run_cap_reads_the_states_of_the_runs_task_instances() -> None:
    """What spend.py waits on, read from a real task on each Airflow: every task instance of the
    asked tasks in the run, mapped ones by index, the reading one running."""
    dag_run = load_dag("tests", "hailuo_spend_dags", "hailuo_test_run_states").test()
    results = task_results(dag_run)
    assert {key: state for key, (state, _) in results.items()} == {
        ("alone", -1): "success",
        ("look", 0): "success",
        ("look", 1): "success",
        ("look", 2): "success",
    }
    for index in range(3):
        seen = {(task_id, map_index): state for task_id, map_index, state in results[("look", index)][1]}
        assert set(seen) == {("alone", -1), ("look", 0), ("look", 1), ("look", 2)}
        # Airflow 2's dag.test() runs a task in a transaction of its own, so the task reads its
        # own state as it was before it started; a worker commits "running" before the task runs.
        own = "running" if AIRFLOW_V_3_0_PLUS else "scheduled"
        assert (seen[("alone", -1)], seen[("look", index)]) == ("success", own)


def test_a_task_instance_running_without_a_commitment_is_waited_for_then_refused(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spending task instance that stays running without committing (a worker killed while it
    starts stays running until its heartbeat times out) is waited for up to UNCOMMITTED_WAIT_SECONDS;
    then the try fails, naming it, and its commitment is given back: the run's spend cannot be
    known, so nothing is paid, and a retry checks again."""
    import airflow_provider_hailuo.integration.spend as spend

    connect(hailuo_emulator, monkeypatch, PRICES)
    run = RunXComs()
    own, silent = RunTaskInstance(run, 0), RunTaskInstance(run, 1)
    silent.new_try_starts()
    own.new_try_starts()
    clock = [1000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr(spend, "time", SimpleNamespace(time=lambda: clock[0], sleep=sleep))
    operator = HailuoImageToVideoOperator(task_id="video", first_frame_image=FRAME, max_run_cost_usd="0.56")
    with pytest.raises(HailuoError, match=r"video\[1\] ran for 12\d s without committing") as failure:
        operator.execute({"ti": own, "task_state_store": StandInStateStore()})
    # Not a refusal: Airflow's retries may try again once the other task has committed or ended.
    assert not isinstance(failure.value, HailuoSpendLimitError)
    assert clock[0] - 1000.0 > spend.UNCOMMITTED_WAIT_SECONDS
    assert run.values[("video", 0, SPEND_XCOM_KEY)]["amount"] == "0"
    assert hailuo_emulator.client.stats()["create"] == 0
