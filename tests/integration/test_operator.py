"""HailuoImageToVideoOperator: parse-time checks, deferral, every execute_complete path, the
non-deferrable path, resuming across tries, and whole DAG runs with ``dag.test()``."""

from __future__ import annotations

import hashlib
import io
import json
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from PIL import Image

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import (
    HailuoAmbiguousSubmitError,
    HailuoError,
    HailuoImageError,
    HailuoTaskFailedError,
    HailuoTimeoutError,
    HailuoValidationError,
)
from airflow_provider_hailuo.gateway.defaults import DEFERRAL_GRACE_SECONDS
from airflow_provider_hailuo.gateway.protocol import ERROR_CODES
from airflow_provider_hailuo.integration.links import HailuoVideoLink
from airflow_provider_hailuo.operators.hailuo import GENERATION_FIELDS, HailuoImageToVideoOperator
from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger
from tests.airflow_versions import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_3_PLUS,
    EVERY_AIRFLOW,
)
from tests.integration.support import (
    RESULT_KEYS,
    RecordingTaskInstance,
    StandInStateStore,
    load_dag,
    log_lines,
    task_results,
)

pytestmark = EVERY_AIRFLOW

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")


def context(store: StandInStateStore | None = None) -> dict[str, Any]:
    """What the operator reads of a running task's context: its task instance and its store."""
    return {
        "ti": RecordingTaskInstance(),
        "task_state_store": StandInStateStore() if store is None else store,
    }


def operator(**kwargs: Any) -> HailuoImageToVideoOperator:
    return HailuoImageToVideoOperator(
        task_id="video", **{"first_frame_image": FRAME, "poll_interval": 0.05, "timeout": 60, **kwargs}
    )


# -- before any request ---------------------------------------------------------------------------


def test_every_generation_parameter_is_templated() -> None:
    assert set(HailuoImageToVideoOperator.template_fields) == {*GENERATION_FIELDS, "download_to"}
    assert {"first_frame_image", "last_frame_image", "fast_pretreatment", "callback_url"} <= set(
        GENERATION_FIELDS
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"duration": 10, "resolution": "1080P"}, "resolution"),
        ({"last_frame_image": FRAME, "resolution": "512P"}, "resolution"),
        ({"prompt": "[pan lft]"}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"duration": "6"}, "duration"),
        ({"aigc_watermark": "yes"}, "aigc_watermark"),
        ({"callback_url": "ftp://example.com/cb"}, "callback_url"),
        ({"first_frame_image": 12345}, "first_frame_image"),
        ({"first_frame_image": None}, "first_frame_image"),
        ({"model": ""}, "model"),
    ],
)
def test_a_literal_mistake_is_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(HailuoValidationError) as info:
        operator(**kwargs)
    assert info.value.parameter == parameter


def test_templated_values_wait_for_rendering() -> None:
    op = operator(duration="{{ params.duration }}", resolution="1080P", prompt="{{ params.prompt }}")
    assert op.duration == "{{ params.duration }}"


@pytest.mark.parametrize(
    ("parameter", "value", "match"),
    [
        ("poll_interval", 0, "must be positive"),
        ("timeout", -1, "must be positive"),
        ("timeout", timedelta(0), "must be positive"),
        ("timeout", float("nan"), "must be positive"),
        ("max_quota_wait", -1, "must be 0 or positive"),
        ("timeout", "3600", "must be a number of seconds or a datetime.timedelta, not str"),
        ("max_quota_wait", None, "not NoneType"),
        ("poll_interval", True, "not bool"),
    ],
)
def test_a_bad_timing_setting_is_refused_naming_it(parameter: str, value: Any, match: str) -> None:
    with pytest.raises(HailuoValidationError, match=match) as info:
        HailuoImageToVideoOperator(task_id="v", first_frame_image=FRAME, **{parameter: value})
    assert info.value.parameter == parameter
    assert str(info.value).startswith(f"{parameter}=")


def test_timing_settings_take_a_timedelta_as_airflow_operators_do() -> None:
    video = HailuoImageToVideoOperator(
        task_id="v",
        first_frame_image=FRAME,
        timeout=timedelta(hours=1),
        poll_interval=timedelta(seconds=20),
        max_quota_wait=timedelta(0),
    )
    assert (video.timeout, video.poll_interval, video.max_quota_wait) == (3600.0, 20.0, 0.0)


def test_a_corrupt_frame_is_refused_naming_it_before_the_run_cap_is_touched(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hailuo.integration.spend import RunBudget

    def touched(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the run cap was touched")

    monkeypatch.setattr(RunBudget, "reserve", touched)
    cut_short = tmp_path / "frame.webp"
    buffer = io.BytesIO()
    Image.open(FRAME).save(buffer, "WEBP")
    cut_short.write_bytes(buffer.getvalue()[:40])
    with pytest.raises(HailuoImageError, match="corrupt or cut short") as info:
        operator(first_frame_image=str(cut_short)).execute(context())
    assert info.value.parameter == "first_frame_image"
    assert hailuo_emulator.client.stats()["total"] == 0


@pytest.mark.parametrize(
    ("rendered", "error"),
    [
        ({"duration": "12"}, HailuoValidationError),
        ({"first_frame_image": "/no/such/frame.png"}, HailuoImageError),
    ],
)
def test_a_bad_rendered_value_fails_the_task_and_sends_nothing(
    fast_connection: str, hailuo_emulator: EmulatorServer, rendered: dict[str, Any], error: type[Exception]
) -> None:
    op = operator(duration="{{ params.duration }}", first_frame_image="{{ params.frame }}")
    op.first_frame_image = FRAME
    op.duration = 6
    for name, value in rendered.items():
        setattr(op, name, value)  # as Jinja would have rendered them
    with pytest.raises(error):
        op.execute(context())
    assert hailuo_emulator.client.stats()["total"] == 0


# -- deferral ------------------------------------------------------------------------------------


def test_deferral_hands_the_triggerer_nothing_secret_and_records_the_task_id(
    fast_connection: str, hailuo_emulator: EmulatorServer, deferral_floor: float
) -> None:
    ctx = context()
    op = operator(deferrable=True, timeout=600, poll_interval=7)
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    trigger = deferred.value.trigger
    assert isinstance(trigger, HailuoTaskTrigger)
    _, kwargs = trigger.serialize()
    assert set(kwargs) == {
        "hailuo_task_id",
        "hailuo_conn_id",
        "poll_interval",
        "end_time",
        "try_number",
        "not_before",
        "created_at",
        "render_key",
    }
    # When the create was sent and what it asked for: when its video can be ready (render_times.py).
    assert started <= kwargs["created_at"] <= time.time()
    assert kwargs["render_key"] == ["minimax_hailuo_02_i2v", "768P", 6]
    # The video (or an error) comes back no sooner than the floor after deferring (deferral.py).
    assert started + deferral_floor <= kwargs["not_before"] <= time.time() + deferral_floor
    assert kwargs["try_number"] == ctx["ti"].try_number
    serialised = json.dumps(kwargs)
    assert hailuo_emulator.api_key not in serialised
    assert "base64" not in serialised
    assert kwargs["hailuo_task_id"] == ctx["ti"].xcom["hailuo_task_id"]
    assert started + 600 <= kwargs["end_time"] <= time.time() + 600
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 600 + 7 + DEFERRAL_GRACE_SECONDS
    assert hailuo_emulator.client.stats()["create"] == 1


@pytest.mark.usefixtures("deferral_floor")
def test_with_less_than_the_deferral_floor_to_wait_the_worker_waits(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """timeout=10 under the 15 s floor: deferring could only come back within it, so the worker
    waits for the video itself and returns the result, deferring nothing."""
    result = operator(deferrable=True, timeout=10, poll_interval=0.05).execute(context())
    assert result["status"] == "completed"
    assert hailuo_emulator.client.stats()["create"] == 1


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_deferral_floor_is_refused_naming_the_option(
    fast_connection: str, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_ENV

    monkeypatch.setenv(MIN_DEFERRAL_ENV, value)
    with pytest.raises(HailuoValidationError, match=r"\[hailuo\] min_deferral_seconds must be"):
        operator(deferrable=True, timeout=600).execute(context())


def test_not_waiting_returns_the_task_id_at_once(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.configure(render_seconds=60)
    ctx = context()
    returned = operator(wait_for_completion=False, deferrable=True).execute(ctx)
    assert returned == ctx["ti"].xcom["hailuo_task_id"]
    assert hailuo_emulator.client.stats()["poll"] == 0


# -- execute_complete -----------------------------------------------------------------------------


def completed_event(fast_connection: str, **fault: Any) -> dict[str, Any]:
    """A real event: the trigger run to its end against the emulator."""
    import asyncio

    from airflow_provider_hailuo.gateway.params import GenerationRequest
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook

    task_id = HailuoHook(fast_connection).submit(GenerationRequest(first_frame_image=FRAME))
    trigger = HailuoTaskTrigger(task_id, fast_connection, poll_interval=0.05, end_time=time.time() + 30)

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def test_a_success_event_gives_exactly_the_result_keys(
    fast_connection: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = completed_event(fast_connection)
    ctx = context()
    capsys.readouterr()
    with caplog.at_level("INFO"):
        result = operator(download_to=f"{tmp_path}/").execute_complete(ctx, event)
    logged = "\n".join(log_lines(caplog, capsys))
    assert "Signature=" in result["video_url"]  # the whole signed URL goes downstream...
    assert "video_url=" in logged
    assert "Signature=" not in logged  # ...but never into the log
    assert set(result) == RESULT_KEYS | {
        "local_path",
        "local_paths",
        "local_size_bytes",
        "local_sha256",
        "local_files",
    }
    written = Path(result["local_path"]).read_bytes()
    assert result["local_files"] == [
        {
            "path": result["local_path"],
            "size_bytes": len(written),
            "sha256": hashlib.sha256(written).hexdigest(),
        }
    ]
    assert result["cost"] == "0.28"
    assert isinstance(result["cost"], str)
    assert Path(result["local_path"]).read_bytes()[4:8] == b"ftyp"
    assert ctx["ti"].xcom["hailuo_video_url"] == result["video_url"]
    json.dumps(result)


def test_a_success_event_whose_url_expired_downloads_from_a_fresh_one(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The worker may take the event long after the trigger read the URL (a busy pool, a queue)."""
    from airflow_provider_hailuo.emulator.videos import task_id_of_video

    hailuo_emulator.client.configure(video_url_ttl_seconds=2)
    event = completed_event(fast_connection)
    time.sleep(2.5)
    result = operator(download_to=f"{tmp_path}/").execute_complete(context(), event)
    assert task_id_of_video(Path(result["local_path"]).read_bytes()) == event["hailuo_task_id"]
    assert hailuo_emulator.client.stats()["create"] == 1


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_a_failed_event_raises_with_the_code_the_message_and_the_task_id(
    fast_connection: str, hailuo_emulator: EmulatorServer, code: str
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code=code, error_message="frame rejected")
    event = completed_event(fast_connection)
    with pytest.raises(HailuoTaskFailedError) as info:
        operator().execute_complete(context(), event)
    message = str(info.value)
    assert code in message
    assert "frame rejected" in message
    assert event["hailuo_task_id"] in message
    assert ERROR_CODES[code] in message


def test_a_cancelled_event_is_a_failure(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("task_failure", task_status="cancelled")
    with pytest.raises(HailuoTaskFailedError, match="cancelled"):
        operator().execute_complete(context(), completed_event(fast_connection))


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (
            {"status": "timeout", "hailuo_task_id": "task_1", "message": "task_1 did not finish"},
            HailuoTimeoutError,
            "task_1",
        ),
        ({"status": "error", "hailuo_task_id": "task_1", "message": "HTTP 401"}, HailuoError, "task_1"),
        (None, HailuoError, "malformed"),
        ({}, HailuoError, "malformed"),
        ({"status": "bogus"}, HailuoError, "malformed"),
        ("success", HailuoError, "malformed"),
        ({"status": "success", "hailuo_task_id": "task_1"}, HailuoError, "without the task"),
        (
            {"status": "success", "hailuo_task_id": "t", "task": {"id": "t", "status": "in_progress"}},
            HailuoError,
            "in status 'in_progress'",
        ),
        ({"status": "success", "task": {"status": "completed"}}, HailuoError, "unreadable"),
    ],
)
def test_anything_but_a_real_success_raises(event: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        operator().execute_complete(context(), event)


# -- without deferral ----------------------------------------------------------------------------


def test_without_deferral_the_worker_polls_with_the_same_logic(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.add_fault("status", target="poll", http_status=502, times=2)
    result = operator(deferrable=False).execute(context())
    assert set(result) == RESULT_KEYS
    assert result["status"] == "completed"


def test_without_deferral_a_failed_task_fails(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code="010004099")
    with pytest.raises(HailuoTaskFailedError, match="010004099"):
        operator(deferrable=False).execute(context())


# -- whole DAG runs ------------------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_a_dag_run_renders_templates_and_returns_the_result(
    fast_connection: str, hailuo_emulator: EmulatorServer, mode: str
) -> None:
    dag = load_dag("tests", "hailuo_test_dags", f"hailuo_test_video_{mode}")
    dag_run = dag.test(run_conf={"duration": 10})
    state, result = task_results(dag_run)[("video", -1)]
    assert state == "success"
    assert set(result) == RESULT_KEYS
    assert result["cost"] == "0.56"  # 10 s at 768P: the templated "10" reached the gateway as 10
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (1, 1)


@pytest.mark.parametrize(
    ("first", "later", "outcome"),
    [
        ((0, "2026-12-01T10:00:00+00:00"), (0, "2026-12-01T10:00:00+00:00"), "resumed"),  # a retry
        ((0, "2026-12-01T10:00:00+00:00"), (1, "2026-12-01T11:00:00+00:00"), "resumed"),  # cleared since
        ((0, "2026-12-01T10:00:00+00:00"), (3, None), "resumed"),  # cleared again, queued
        ((2, "2026-12-01T10:00:00+00:00"), (0, "2026-12-01T11:00:00+00:00"), "new"),  # another run
        # The same clear number, another start: another run with this id, or this run set back to
        # queued (which starts it again without a new clear number). Refused, sending nothing.
        ((0, "2026-12-01T10:00:00+00:00"), (0, "2026-12-01T11:00:00+00:00"), "refused"),
        ((0, "2026-12-01T10:00:00+00:00"), (0, None), "refused"),
    ],
    ids=["retry", "cleared", "cleared-queued", "recreated", "restarted", "restarted-queued"],
)
def test_a_record_belongs_to_its_dag_run_not_to_its_run_id(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    first: tuple[int, str | None],
    later: tuple[int, str | None],
    outcome: str,
) -> None:
    """A later try resumes the first try's video only in the first try's DAG run; a run deleted
    and created again with the same run id makes its own; when it cannot be told, nothing is sent."""
    from datetime import datetime
    from types import SimpleNamespace

    store = StandInStateStore()

    def a_try(clears: int, started: str | None) -> dict[str, Any]:
        dag_run = SimpleNamespace(
            clear_number=clears, start_date=None if started is None else datetime.fromisoformat(started)
        )
        ctx = {**context(store), "dag_run": dag_run}
        return operator(poll_interval=0.05, timeout=30).execute(ctx)  # type: ignore[no-any-return]

    made = a_try(*first)
    if outcome == "refused":
        with pytest.raises(HailuoAmbiguousSubmitError, match=rf"{made['hailuo_task_id']}.*remove the record"):
            a_try(*later)
        assert hailuo_emulator.client.stats()["tasks_created"] == 1
        return
    second = a_try(*later)
    assert (second["hailuo_task_id"] == made["hailuo_task_id"]) is (outcome == "resumed")
    assert hailuo_emulator.client.stats()["tasks_created"] == (1 if outcome == "resumed" else 2)


@pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="before 3.3, dag.test() starts every run at its logical date"
)
@pytest.mark.usefixtures("airflow_db")
def test_a_record_belongs_to_its_dag_run_not_to_a_reused_run_id(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    """A DAG run deleted and created again with its run id (scheduled runs have deterministic ids;
    dag.test() with one logical date does it) makes its own video. On 3.3 and later only:
    before, dag.test() starts both runs at the logical date, which no scheduler does, so the
    records kept in Variables cannot tell them apart here (the test above covers the rule)."""
    from datetime import datetime

    dag = load_dag("tests", "hailuo_test_dags", "hailuo_test_reused_run_id")
    when = datetime(2026, 12, 1, tzinfo=UTC)
    dated = {"logical_date": when, "run_after": when} if AIRFLOW_V_3_0_PLUS else {"execution_date": when}
    first = dag.test(**dated)
    results = [task_results(first)[("video", -1)]]
    # Deleted as the UI deletes a run (a bulk delete: Airflow 2's ORM delete of a run loads
    # relations to the FAB user table, which this database has not).
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == first.run_id))
    second = dag.test(**dated)
    assert first.run_id == second.run_id
    results.append(task_results(second)[("video", -1)])
    assert [state for state, _ in results] == ["success", "success"]
    tasks = hailuo_emulator.client.tasks()
    assert len(tasks) == 2
    assert results[1][1]["hailuo_task_id"] == tasks[1]["id"]  # the new run's own video


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_a_retry_resumes_the_gateway_task_instead_of_paying_twice(
    fast_connection: str, hailuo_emulator: EmulatorServer, mode: str
) -> None:
    dag = load_dag("tests", "hailuo_test_dags", f"hailuo_test_resume_{mode}")
    # Try 1 submits, then its first poll is refused: the try fails with the gateway task running.
    hailuo_emulator.client.add_fault("status", target="poll", http_status=401)
    dag_run = dag.test()
    (ti,) = dag_run.get_task_instances()
    assert str(ti.state) == "success"
    assert ti.try_number == 2
    stats = hailuo_emulator.client.stats()
    result = ti.xcom_pull(task_ids="video")
    # On every Airflow: the task state store on 3.3+, a Variable before.
    assert (stats["create"], stats["tasks_created"]) == (1, 1)
    assert result["hailuo_task_id"] == hailuo_emulator.client.tasks()[0]["id"]
    if not AIRFLOW_V_3_3_PLUS:
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session

        from airflow_provider_hailuo.integration.durable import variable_key

        # Kept after success, as the task state store is: a retry after the video was delivered
        # (a failed XCom push, a lost heartbeat) must not pay again either.
        key = variable_key(dag.dag_id, dag_run.run_id, "video", -1)
        with create_session() as session:
            (stored,) = session.query(Variable).filter(Variable.key == key).all()
            assert json.loads(stored.val)["hailuo_task_id"] == result["hailuo_task_id"]


@pytest.mark.usefixtures("airflow_db")
def test_a_failed_gateway_task_fails_the_airflow_task_with_its_code(
    fast_connection: str, hailuo_emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code="010004097", error_message="upstream said no")
    dag_run = load_dag("tests", "hailuo_test_dags", "hailuo_test_video_deferrable").test()
    state, _ = task_results(dag_run)[("video", -1)]
    assert state == "failed"
    output = capfd.readouterr()
    log = output.out + output.err
    assert "010004097" in log
    assert "upstream said no" in log


@pytest.mark.usefixtures("airflow_db")
def test_the_extra_link_points_at_the_video(fast_connection: str) -> None:
    dag = load_dag("tests", "hailuo_test_dags", "hailuo_test_video_deferrable")
    dag_run = dag.test()
    (ti,) = dag_run.get_task_instances()
    result = ti.xcom_pull(task_ids="video")
    if AIRFLOW_V_3_0_PLUS:
        # Airflow 3 resolves links when a try ends and keeps them in XCom for the UI.
        assert ti.xcom_pull(task_ids="video", key="_link_HailuoVideoLink") == result["video_url"]
    else:
        # Airflow 2's webserver asks the link itself.
        assert HailuoVideoLink().get_link(dag.get_task("video"), ti_key=ti.key) == result["video_url"]


# -- more of what is refused before any request ----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"download_to": 123},
        {"download_to": "not a scheme://bucket/videos/"},
        {"download_to": "   "},
        {"download_to": "/tmp/videos/", "wait_for_completion": False},
    ],
)
def test_a_bad_download_destination_is_refused_when_the_dag_is_parsed(kwargs: dict[str, Any]) -> None:
    with pytest.raises(HailuoValidationError) as info:
        operator(**kwargs)
    assert info.value.parameter == "download_to"


@pytest.mark.parametrize(
    ("rendered", "parameter"),
    [
        ({"download_to": "ftp://files.example/videos/"}, "download_to"),
        ({"first_frame_image": "ftp://files.example/stills/a.png"}, "first_frame_image"),
        ({"last_frame_image": "gopher://files.example/b.png"}, "last_frame_image"),
    ],
)
def test_a_scheme_airflow_cannot_open_is_refused_before_any_request(
    fast_connection: str, hailuo_emulator: EmulatorServer, rendered: dict[str, Any], parameter: str
) -> None:
    op = operator(download_to="{{ params.videos }}", last_frame_image="{{ params.last }}")
    op.download_to, op.last_frame_image = None, None
    for name, value in rendered.items():
        setattr(op, name, value)  # as Jinja would have rendered them
    with pytest.raises(HailuoValidationError, match="Airflow has no filesystem for") as info:
        op.execute(context())
    assert info.value.parameter == parameter
    assert hailuo_emulator.client.stats()["total"] == 0


@pytest.mark.parametrize("rendered", ["None", "", "  "])
def test_a_download_to_template_that_renders_empty_downloads_nothing(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rendered: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    op = operator(download_to="{{ params.videos }}", deferrable=False)
    op.download_to = rendered
    result = op.execute(context())
    assert "local_path" not in result
    assert list(tmp_path.iterdir()) == []
    assert hailuo_emulator.client.stats()["download"] == 0


def test_optional_templates_that_render_empty_are_unset(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    op = operator(
        last_frame_image="{{ params.last }}", prompt="{{ params.prompt }}", wait_for_completion=False
    )
    op.last_frame_image, op.prompt = "None", ""  # as Jinja renders a missing value
    task_id = op.execute(context())
    assert set(hailuo_emulator.client.task(task_id)["params"]) == {"first_frame_image"}


# -- resuming: every branch (the store is the task state store here; the DAG runs below use the
# store of the Airflow under test) ---------------------------------------------------------------


def first_try(hailuo_emulator: EmulatorServer, **kwargs: Any) -> tuple[StandInStateStore, str]:
    """A first try that submitted and recorded its gateway task (and then, say, its worker died)."""
    store = StandInStateStore()
    task_id = operator(wait_for_completion=False, **kwargs).execute(context(store))
    assert store["hailuo_task_id"]["hailuo_task_id"] == task_id
    return store, task_id


def test_a_retry_returns_the_completed_task_and_records_its_id(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    store, task_id = first_try(hailuo_emulator)
    operator(deferrable=False).hook.wait_for_task(task_id, poll_interval=0.05, timeout=30)
    ctx = context(store)
    result = operator(deferrable=True, download_to=f"{tmp_path}/").execute(ctx)  # no deferral needed
    assert result["hailuo_task_id"] == task_id
    assert Path(result["local_path"]).exists()
    assert ctx["ti"].xcom["hailuo_task_id"] == task_id  # this try's XCom, for the sensor and the link
    assert hailuo_emulator.client.stats()["create"] == 1


def test_a_retry_waits_for_the_running_task(fast_connection: str, hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0.5)
    store, task_id = first_try(hailuo_emulator)
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True).execute(context(store))
    assert deferred.value.trigger.serialize()[1]["hailuo_task_id"] == task_id
    assert hailuo_emulator.client.stats()["create"] == 1


def test_a_retry_resumed_with_the_failed_tries_event_resumes_the_same_gateway_task(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    # Airflow 3.0/3.1.0 resume a retry in execute_complete with the event that failed the try
    # before (apache/airflow#56704): taken as is, every retry would fail the same way.
    hailuo_emulator.client.configure(render_seconds=30)
    store, task_id = first_try(hailuo_emulator)
    stale = {
        "status": "error",
        "hailuo_task_id": task_id,
        "message": "HTTP 401",
        "task": None,
        "try_number": 1,
    }
    retry = context(store)
    retry["ti"].try_number = 2
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True).execute_complete(retry, stale)
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["hailuo_task_id"], kwargs["try_number"]) == (task_id, 2)
    assert hailuo_emulator.client.stats()["create"] == 1
    # The same try's own event is the answer, not an earlier try's.
    with pytest.raises(HailuoError, match="HTTP 401"):
        operator(deferrable=True).execute_complete(retry, {**stale, "try_number": 2})


@pytest.mark.parametrize("ending", ["failed", "cancelled", "other parameters", "durable=False"])
def test_a_retry_submits_anew_when_the_stored_task_cannot_be_used(
    fast_connection: str, hailuo_emulator: EmulatorServer, ending: str
) -> None:
    store, task_id = first_try(hailuo_emulator)
    retry_kwargs: dict[str, Any] = {"wait_for_completion": False}
    if ending in ("failed", "cancelled"):
        hailuo_emulator.client.set_task_status(task_id, ending)
    elif ending == "other parameters":
        retry_kwargs["prompt"] = "The DAG changed since [zoom out]"
    else:
        retry_kwargs["durable"] = False
    new_task_id = operator(**retry_kwargs).execute(context(store))
    assert new_task_id != task_id
    assert hailuo_emulator.client.stats()["create"] == 2


class FailingXComTaskInstance(RecordingTaskInstance):
    """An API server hiccup, or a custom XCom backend failing: every push raises."""

    def xcom_push(self, key: str, value: Any) -> None:
        raise ConnectionError("the API server did not answer")


def test_the_id_is_recorded_before_any_xcom_so_a_failed_push_does_not_pay_twice(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    store = StandInStateStore()
    with pytest.raises(ConnectionError):
        operator(wait_for_completion=False).execute(
            {"ti": FailingXComTaskInstance(), "task_state_store": store}
        )
    task_id = operator(wait_for_completion=False).execute(context(store))
    assert task_id == hailuo_emulator.client.tasks()[0]["id"]
    assert hailuo_emulator.client.stats()["create"] == 1


def test_a_create_whose_answer_was_never_recorded_is_not_sent_again(
    fast_connection: str, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook

    create_task = HailuoHook.create_task

    def accepted_then_killed(self: HailuoHook, body: dict[str, Any], **kwargs: Any) -> str:
        create_task(self, body, **kwargs)
        raise SystemExit("the worker died as the answer arrived")

    store = StandInStateStore()
    monkeypatch.setattr(HailuoHook, "create_task", accepted_then_killed)
    with pytest.raises(SystemExit):
        operator(wait_for_completion=False).execute(context(store))
    monkeypatch.setattr(HailuoHook, "create_task", create_task)  # the connection stays set
    with pytest.raises(HailuoAmbiguousSubmitError, match="remove the record") as info:
        operator(wait_for_completion=False).execute(context(store))
    assert "/state-store/hailuo_task_id on the API server" in str(info.value)
    assert hailuo_emulator.client.stats()["create"] == 1


class FlakyStateStore(StandInStateStore):
    """A store that fails what the test names: writing an id, or deleting."""

    def __init__(self, *, fail_id_writes: bool = False, fail_deletes: bool = False) -> None:
        super().__init__()
        self.fail_id_writes, self.fail_deletes = fail_id_writes, fail_deletes

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        if self.fail_id_writes and value.get("hailuo_task_id"):
            raise ConnectionError("the API server did not answer")
        super().set(key, value, **kwargs)

    def delete(self, key: str) -> None:
        if self.fail_deletes:
            raise ConnectionError("the API server did not answer")
        super().delete(key)


def test_a_task_id_that_cannot_be_recorded_is_kept_not_thrown_away(
    fast_connection: str, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    task_id = operator(wait_for_completion=False).execute(context(FlakyStateStore(fail_id_writes=True)))
    assert task_id == hailuo_emulator.client.tasks()[0]["id"]  # the paid-for video goes on
    assert hailuo_emulator.client.stats()["create"] == 1


def test_a_failed_cleanup_does_not_hide_why_the_create_failed(
    fast_connection: str, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    hailuo_emulator.client.add_fault("status", target="create", http_status=400, message="bad frame")
    with pytest.raises(HailuoError, match="bad frame"):
        operator(wait_for_completion=False).execute(context(FlakyStateStore(fail_deletes=True)))
    assert waits == [1, 2]  # the store is tried three times, a second apart, then two


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "target": "create", "http_status": 400, "message": "bad frame"},
        {"kind": "status", "target": "create", "http_status": 429, "times": 10},
    ],
)
def test_a_create_the_gateway_refused_leaves_nothing_to_resume(
    fast_connection: str, hailuo_emulator: EmulatorServer, fault: dict[str, Any]
) -> None:
    hailuo_emulator.client.add_faults([fault])
    store = StandInStateStore()
    with pytest.raises(HailuoError):
        operator(wait_for_completion=False, max_quota_wait=0).execute(context(store))
    assert "hailuo_task_id" not in store
    hailuo_emulator.client.clear_faults()
    assert operator(wait_for_completion=False).execute(context(store))
    assert hailuo_emulator.client.stats()["tasks_created"] == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "http_status": 503, "body_shape": "html", "after_accept": True},
        {"kind": "status", "http_status": 429, "body_shape": "message", "after_accept": True},
        {"kind": "status", "http_status": 403, "body_shape": "html"},
        {"kind": "malformed", "malformed": "undecodable"},
        {"kind": "status", "http_status": 307, "after_accept": True},
    ],
    ids=["proxy-html-503", "foreign-json-429", "proxy-html-403", "undecodable-200", "redirect"],
)
@pytest.mark.parametrize("max_quota_wait", [3600, 0], ids=["quota-wait", "hook-retries"])
def test_a_create_answered_without_proof_keeps_its_intent_and_is_never_sent_again(
    fast_connection: str, hailuo_emulator: EmulatorServer, fault: dict[str, Any], max_quota_wait: int
) -> None:
    """Neither the quota wait, nor the hook's own retries (max_quota_wait=0), nor Airflow's retry
    sends it again."""
    hailuo_emulator.client.add_faults([{**fault, "target": "create"}])
    store = StandInStateStore()
    with pytest.raises(HailuoAmbiguousSubmitError):
        operator(wait_for_completion=False, max_quota_wait=max_quota_wait).execute(context(store))
    assert store["hailuo_task_id"]["hailuo_task_id"] is None  # the intent stays
    with pytest.raises(HailuoAmbiguousSubmitError, match="remove the record"):
        operator(wait_for_completion=False, max_quota_wait=max_quota_wait).execute(context(store))
    assert hailuo_emulator.client.stats()["create"] == 1


@pytest.mark.parametrize(
    ("answer", "fault"),
    [
        ("a proxy's HTML 404", {"body_shape": "html"}),
        ("Kong's JSON 404", {"body_shape": "message", "message": "no Route matched with those values"}),
        ("the gateway's own 404", {}),
    ],
)
def test_a_stored_task_answered_not_found_fails_and_pays_nothing(
    fast_connection: str, hailuo_emulator: EmulatorServer, answer: str, fault: dict[str, Any]
) -> None:
    """Whoever says it, "not found" is no proof the video is gone: long after the create, too."""
    store, task_id = first_try(hailuo_emulator)
    store["hailuo_task_id"]["recorded_at"] = time.time() - 86_400
    hailuo_emulator.client.add_fault("status", target="poll", http_status=404, times=10, **fault)
    with pytest.raises(HailuoError, match="Nothing is sent") as info:
        operator(wait_for_completion=False).execute(context(store))
    message = str(info.value)
    assert task_id in message
    assert "HTTP 404" in message
    assert "to make a new video (and pay for it), remove the record" in message
    assert "/state-store/hailuo_task_id" in message
    assert not isinstance(info.value, HailuoAmbiguousSubmitError)
    assert hailuo_emulator.client.stats()["create"] == 1


@pytest.mark.parametrize("where", ["a/front.jpg", "b/front.jpg"])
def test_a_frame_of_the_same_name_in_another_folder_is_another_request(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path, where: str
) -> None:
    import shutil

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(FRAME, tmp_path / folder / "front.jpg")
    store, task_id = first_try(hailuo_emulator, first_frame_image=str(tmp_path / "a" / "front.jpg"))
    again = operator(wait_for_completion=False, first_frame_image=str(tmp_path / where)).execute(
        context(store)
    )
    assert (again == task_id) == (where == "a/front.jpg")


def test_a_file_object_frame_resumes_on_a_retry(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    frame = Path(FRAME)
    with frame.open("rb") as handle:
        store, task_id = first_try(hailuo_emulator, first_frame_image=handle)
    with frame.open("rb") as handle:  # a new file object, as a retry's would be
        assert (
            operator(wait_for_completion=False, first_frame_image=handle).execute(context(store)) == task_id
        )
    assert hailuo_emulator.client.stats()["create"] == 1


def test_on_kill_warns_that_the_gateway_task_renders_on(
    fast_connection: str,
    hailuo_emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hailuo_emulator.client.configure(render_seconds=60)
    op = operator(deferrable=False, timeout=0.3)
    with pytest.raises(HailuoTimeoutError):
        op.execute(context())
    task_id = hailuo_emulator.client.tasks()[0]["id"]
    capsys.readouterr()
    with caplog.at_level("WARNING"):
        op.on_kill()
    warning = f"Hailuo task {task_id} keeps rendering on the gateway and will be charged"
    assert any(warning in line for line in log_lines(caplog, capsys))


@pytest.mark.usefixtures("airflow_db")
def test_an_ambiguous_create_is_not_retried_by_airflow_either(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    dag = load_dag("tests", "hailuo_test_dags", "hailuo_test_resume_sync")  # retries=1
    hailuo_emulator.client.add_fault("drop_after_accept")
    dag_run = dag.test()
    (ti,) = dag_run.get_task_instances()
    assert str(ti.state) == "failed"
    assert ti.try_number == 1
    assert hailuo_emulator.client.stats()["create"] == 1
