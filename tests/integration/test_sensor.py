"""HailuoTaskSensor in every mode, with ``dag.test()`` against the emulator."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_SECONDS
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.sensors.hailuo import CAN_START_FROM_TRIGGER, HailuoTaskSensor
from tests.airflow_versions import EVERY_AIRFLOW
from tests.integration.support import RESULT_KEYS, RecordingTaskInstance, load_dag, task_results

pytestmark = EVERY_AIRFLOW

FRAME = Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg"
MODES = ["deferrable", "poke", "reschedule"]


def started_elsewhere(connection: str) -> str:
    return HailuoHook(connection).submit(GenerationRequest(first_frame_image=FRAME, duration=10))


def run_sensor(mode: str, task_id: str, *, soft_fail: bool = False) -> tuple[str, object]:
    dag_id = f"hailuo_test_sensor_{mode}{'_soft_fail' if soft_fail else ''}"
    dag_run = load_dag("tests", "hailuo_test_dags", dag_id).test(run_conf={"hailuo_task_id": task_id})
    return task_results(dag_run)[("wait", -1)]


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_it_returns_the_same_result_as_the_operator(
    fast_connection: str, hailuo_emulator: EmulatorServer, mode: str
) -> None:
    task_id = started_elsewhere(fast_connection)
    state, result = run_sensor(mode, task_id)
    assert state == "success"
    assert isinstance(result, dict)
    assert set(result) == RESULT_KEYS
    assert result["hailuo_task_id"] == task_id
    assert result["cost"] == "0.56"
    assert hailuo_emulator.client.stats()["create"] == 1  # the sensor never creates anything


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("soft_fail", [False, True])
def test_a_failed_gateway_task_fails_the_sensor_or_skips_it(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
    mode: str,
    soft_fail: bool,
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code="010004096", error_message="could not parse")
    task_id = started_elsewhere(fast_connection)
    state, _ = run_sensor(mode, task_id, soft_fail=soft_fail)
    assert state == ("skipped" if soft_fail else "failed")
    output = capfd.readouterr()
    assert "010004096" in output.out + output.err


@pytest.mark.usefixtures("airflow_db")
def test_a_cancelled_gateway_task_fails_the_sensor(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.add_fault("task_failure", task_status="cancelled")
    state, _ = run_sensor("deferrable", started_elsewhere(fast_connection))
    assert state == "failed"


def test_deferrable_sensors_start_in_the_triggerer_where_airflow_can_render_there() -> None:
    sensor = HailuoTaskSensor(task_id="s", hailuo_task_id="{{ params.id }}", deferrable=True, timeout=120)
    if not CAN_START_FROM_TRIGGER:
        # The triggerer cannot render the templated id here: the sensor starts on a worker and defers.
        assert not sensor.start_from_trigger
        return
    assert sensor.start_from_trigger
    args = sensor.start_trigger_args
    assert args is not None
    assert args.trigger_cls == "airflow_provider_hailuo.triggers.hailuo.HailuoTaskTrigger"
    assert args.trigger_kwargs == {
        "hailuo_task_id": "{{ params.id }}",
        "hailuo_conn_id": "hailuo_default",
        "poll_interval": sensor.poll_interval,
        "end_time": None,
    }
    assert args.next_method == "execute_complete"
    assert args.timeout is not None
    assert args.timeout.total_seconds() == 120
    assert not HailuoTaskSensor(task_id="p", hailuo_task_id="t", deferrable=False).start_from_trigger


def test_a_sensor_wired_to_an_xcomarg_starts_on_a_worker() -> None:
    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

    with DAG(dag_id="xcomarg_wiring", schedule=None):
        submit = HailuoImageToVideoOperator(
            task_id="submit", first_frame_image=str(FRAME), wait_for_completion=False
        )
        sensor = HailuoTaskSensor(task_id="wait", hailuo_task_id=submit.output, deferrable=True)
    assert not sensor.start_from_trigger


@pytest.mark.parametrize(
    ("parameter", "value"), [("poll_interval", 0), ("poll_interval", "30"), ("timeout", None)]
)
def test_a_bad_timing_setting_is_refused_naming_it(parameter: str, value: Any) -> None:
    with pytest.raises(HailuoValidationError) as info:
        HailuoTaskSensor(task_id="s", hailuo_task_id="t", **{parameter: value})
    assert info.value.parameter == parameter


def test_timing_settings_take_a_timedelta() -> None:
    sensor = HailuoTaskSensor(
        task_id="s", hailuo_task_id="t", poll_interval=timedelta(seconds=30), timeout=timedelta(hours=2)
    )
    assert (sensor.poll_interval, sensor.timeout) == (30.0, 7200.0)


@pytest.mark.parametrize("soft_fail", [False, True])
def test_a_timeout_event_is_a_sensor_timeout(soft_fail: bool) -> None:
    sensor = HailuoTaskSensor(task_id="s", hailuo_task_id="task_1", soft_fail=soft_fail)
    event = {
        "status": "timeout",
        "hailuo_task_id": "task_1",
        "message": "task_1 did not finish before the timeout",
    }
    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected, match="task_1"):
        sensor.execute_complete({"ti": RecordingTaskInstance()}, event)


@pytest.mark.parametrize("rendered", ["", "None"])
def test_an_id_that_rendered_empty_is_refused(rendered: str) -> None:
    sensor = HailuoTaskSensor(task_id="s", hailuo_task_id="{{ ti.xcom_pull(task_ids='x') }}")
    sensor.hailuo_task_id = rendered
    with pytest.raises(HailuoValidationError, match="no gateway task to wait for"):
        sensor.execute({"ti": RecordingTaskInstance()})


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_poking_rides_out_transient_faults(
    fast_connection: str, hailuo_emulator: EmulatorServer, mode: str
) -> None:
    task_id = started_elsewhere(fast_connection)
    # More 502s than one poke's retries (3): the first pokes fail, the sensor pokes on.
    hailuo_emulator.client.add_fault("status", target="poll", http_status=502, times=5)
    state, _ = run_sensor(mode, task_id)
    assert state == "success"
    assert hailuo_emulator.client.faults() == []


@pytest.mark.usefixtures("deferral_floor")
def test_a_deferrable_sensor_comes_back_no_sooner_than_the_floor_or_pokes_in_the_worker(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """A target already done defers anyway (its event is held until the floor), and a timeout
    under the floor pokes in the worker instead of deferring (deferral.py)."""
    task_id = started_elsewhere(fast_connection)
    assert HailuoHook(fast_connection).wait_for_task(task_id, poll_interval=0.05, timeout=30).is_success
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        HailuoTaskSensor(task_id="wait", hailuo_task_id=task_id, deferrable=True, timeout=600).execute(
            {"ti": RecordingTaskInstance()}  # type: ignore[arg-type]
        )
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["not_before"] >= started + MIN_DEFERRAL_SECONDS
    sensor = HailuoTaskSensor(
        task_id="wait", hailuo_task_id=task_id, deferrable=True, timeout=10, poll_interval=0.05
    )
    result = sensor.execute({"ti": RecordingTaskInstance()})  # type: ignore[arg-type]
    assert result["hailuo_task_id"] == task_id


def test_a_retry_resumed_with_the_failed_tries_event_waits_afresh(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    # Airflow 3.0/3.1.0 resume a retry with the event that failed the try before
    # (apache/airflow#56704): the sensor waits again instead of failing every retry the same way.
    hailuo_emulator.client.configure(render_seconds=30)
    task_id = started_elsewhere(fast_connection)
    retry = {"ti": RecordingTaskInstance()}
    retry["ti"].try_number = 2
    sensor = HailuoTaskSensor(task_id="wait", hailuo_task_id=task_id, deferrable=True)
    stale = {
        "status": "error",
        "hailuo_task_id": task_id,
        "message": "HTTP 401",
        "task": None,
        "try_number": 1,
    }
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute_complete(retry, stale)  # type: ignore[arg-type]
    assert deferred.value.trigger.serialize()[1]["try_number"] == 2
