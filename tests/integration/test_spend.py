"""The cost caps and the dry run against the emulator: refusals send nothing, a mapped batch stops
at its run's cap with exactly the creates the cap allows, and actual costs replace estimates."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import HailuoSpendLimitError
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.spend import SPEND_XCOM_KEY
from tests.airflow_versions import EVERY_AIRFLOW
from tests.integration.support import RecordingTaskInstance, StandInStateStore, load_dag, log_lines

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
