"""HailuoHook against the emulator over real HTTP on loopback: the happy path, every retry and
no-retry rule, and the request counts they imply."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import (
    HailuoAmbiguousSubmitError,
    HailuoAuthenticationError,
    HailuoImageError,
    HailuoPermissionError,
    HailuoProtocolError,
    HailuoRateLimitError,
    HailuoTimeoutError,
    HailuoTransientError,
    HailuoValidationError,
)
from airflow_provider_hailuo.hooks.async_pool import close_shared_sessions, shared_session
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.params import GenerationRequest
from airflow_provider_hailuo.protocol import ERROR_CODES, failure_error
from airflow_provider_hailuo.retry import RetryPolicy

IMAGES = Path(__file__).resolve().parents[2] / "dags_examples" / "images"
FAST_RETRIES = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05, max_retry_after=5.0)
SECRET_KEY = "sk-test-SECRET-do-not-log-1234567890"


@pytest.fixture
def hook(hailuo_connection: str) -> HailuoHook:
    return HailuoHook(hailuo_connection, retry_policy=FAST_RETRIES)


def set_connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HAILUO_DEFAULT", json.dumps({"conn_type": "hailuo", **fields}))


def lighthouse(**params: Any) -> GenerationRequest:
    return GenerationRequest(first_frame_image=IMAGES / "lighthouse.jpg", **params)


def counts(emulator: EmulatorServer) -> dict[str, Any]:
    return emulator.client.stats()


# -- the happy path ------------------------------------------------------------------------------


def test_submit_wait_download_end_to_end(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task_id = hook.submit(lighthouse(prompt="A lighthouse at dusk [push in], then [pan left]", duration=10))
    task = hook.wait_for_task(task_id, poll_interval=0.05, timeout=30)

    assert task.is_success
    assert task.cost == "0.56"  # 768P (default) for 10 s, exact
    assert task.video_url is not None
    path = Path(hook.download_video(task.video_url, tmp_path))
    assert path.parent == tmp_path
    assert path.read_bytes()[4:8] == b"ftyp"  # a real MP4
    stats = counts(hailuo_emulator)
    assert stats["create"] == 1
    assert stats["download"] == 1
    assert stats["tasks_created"] == 1


def test_the_create_body_is_wrapped_and_holds_only_what_was_set(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse(resolution="1080P", aigc_watermark=True))
    params = hailuo_emulator.client.task(task_id)["params"]
    assert set(params) == {"first_frame_image", "resolution", "aigc_watermark"}
    assert params["first_frame_image"].startswith("data:image/jpeg;base64,")
    assert params["resolution"] == "1080P"
    assert params["aigc_watermark"] is True


def test_an_http_url_frame_is_sent_as_is(hook: HailuoHook, hailuo_emulator: EmulatorServer) -> None:
    url = "https://example.com/stills/lighthouse.jpg"
    task_id = hook.submit(GenerationRequest(first_frame_image=url, last_frame_image=IMAGES / "harbour.jpg"))
    params = hailuo_emulator.client.task(task_id)["params"]
    assert params["first_frame_image"] == url
    assert params["last_frame_image"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (lighthouse(duration=10, resolution="1080P"), HailuoValidationError),
        (lighthouse(prompt="[pan lft]"), HailuoValidationError),
        (GenerationRequest(first_frame_image=b"GIF89a not really an image"), HailuoImageError),
        (
            GenerationRequest(first_frame_image=IMAGES / "lighthouse.jpg", last_frame_image="/no/such.png"),
            HailuoImageError,
        ),
    ],
)
def test_a_bad_request_is_refused_before_anything_is_sent(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, request_: GenerationRequest, error: type[Exception]
) -> None:
    with pytest.raises(error):
        hook.submit(request_)
    assert counts(hailuo_emulator)["total"] == 0


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_a_failed_task_reports_its_code_and_meaning(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, code: str
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code=code, error_message="the model gave up")
    task = hook.wait_for_task(hook.submit(lighthouse()), poll_interval=0.05, timeout=30)
    assert task.status == "failed"
    error = failure_error(task)
    assert error.error_code == code
    assert code in str(error)
    assert ERROR_CODES[code] in str(error)
    assert "the model gave up" in str(error)
    assert task.id in str(error)


def test_waiting_gives_up_after_its_timeout(hook: HailuoHook, hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=60)
    task_id = hook.submit(lighthouse())
    with pytest.raises(HailuoTimeoutError, match=f"{task_id} still in_progress"):
        hook.wait_for_task(task_id, poll_interval=0.05, timeout=0.3)


# -- reads: retried --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "http_status": 429, "retry_after": 0.05, "times": 2},
        {"kind": "status", "http_status": 502, "times": 3},
        {"kind": "status", "http_status": 500, "body_shape": "error.error_message", "times": 1},
        {"kind": "status", "http_status": 503, "body_shape": "text", "times": 2},
        {"kind": "drop", "times": 3},
    ],
    ids=["429-retry-after", "502-burst", "500", "503-text-body", "dropped-connections"],
)
def test_polling_rides_out_transient_faults(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, fault: dict[str, Any]
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_faults([{**fault, "target": "poll"}])
    task = hook.get_task(task_id)
    assert task.id == task_id
    assert counts(hailuo_emulator)["poll"] == fault["times"] + 1


def test_a_read_timeout_on_a_poll_is_retried(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key, extra={"timeout": 0.2}
    )
    hook = HailuoHook(retry_policy=FAST_RETRIES)
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("slow", target="poll", delay_seconds=1.0)
    assert hook.get_task(task_id).id == task_id
    assert counts(hailuo_emulator)["poll"] == 2


def retry_lines(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The hook's "retrying in" log lines (Airflow 3 logs through structlog to stdout, 2.x through logging)."""
    lines = [r.getMessage() for r in caplog.records] + capsys.readouterr().out.splitlines()
    return [line for line in lines if "retrying in" in line]


def test_retry_after_is_honoured(
    hook: HailuoHook,
    hailuo_emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("status", target="poll", http_status=429, retry_after=0.3)
    with caplog.at_level(logging.WARNING):
        hook.get_task(task_id)
    waits = retry_lines(caplog, capsys)
    assert len(waits) == 1
    assert "HTTP 429" in waits[0]
    assert "retrying in 0.3 s" in waits[0]  # the gateway's Retry-After, not the (much shorter) backoff
    assert counts(hailuo_emulator)["poll"] == 2


def test_rate_limiting_that_does_not_end_gives_up_after_max_attempts(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("status", target="poll", http_status=429, retry_after=0.01, times=100)
    with pytest.raises(HailuoRateLimitError, match="HTTP 429"):
        hook.get_task(task_id)
    assert counts(hailuo_emulator)["poll"] == FAST_RETRIES.max_attempts


def test_a_retry_after_longer_than_the_bound_is_not_waited_out(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("status", target="poll", http_status=429, retry_after=3600)
    with pytest.raises(HailuoRateLimitError):
        hook.get_task(task_id)
    assert counts(hailuo_emulator)["poll"] == 1


def test_a_malformed_response_is_an_error_not_a_result(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse())
    for variant in ("not_json", "missing_id", "missing_status"):
        hailuo_emulator.client.add_fault("malformed", target="poll", malformed=variant)
        with pytest.raises(HailuoProtocolError):
            hook.get_task(task_id)


# -- create: retried only when the gateway cannot have accepted it ---------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "http_status": 429, "retry_after": 0.05, "times": 2},
        {"kind": "status", "http_status": 503, "times": 2},
    ],
    ids=["429", "503"],
)
def test_create_is_retried_when_the_gateway_cannot_have_accepted_it(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, fault: dict[str, Any]
) -> None:
    hailuo_emulator.client.add_faults([{**fault, "target": "create"}])
    hook.submit(lighthouse())
    stats = counts(hailuo_emulator)
    assert stats["create"] == 3
    assert stats["tasks_created"] == 1


@pytest.mark.parametrize(
    ("fault", "tasks_created"),
    [
        ({"kind": "drop_after_accept"}, 1),
        ({"kind": "drop"}, 0),
        ({"kind": "status", "http_status": 502}, 0),
        ({"kind": "status", "http_status": 500}, 0),
        ({"kind": "status", "http_status": 504}, 0),
    ],
    ids=["dropped-after-accepting", "dropped", "502", "500", "504"],
)
def test_an_ambiguous_create_failure_is_never_resubmitted(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, fault: dict[str, Any], tasks_created: int
) -> None:
    hailuo_emulator.client.add_faults([{**fault, "target": "create"}])
    with pytest.raises(HailuoAmbiguousSubmitError, match="may have created a task"):
        hook.submit(lighthouse())
    stats = counts(hailuo_emulator)
    assert stats["create"] == 1
    assert stats["tasks_created"] == tasks_created


def test_a_read_timeout_on_create_is_ambiguous(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key, extra={"timeout": 0.2}
    )
    hailuo_emulator.client.add_fault("slow", target="create", delay_seconds=1.0)
    with pytest.raises(HailuoAmbiguousSubmitError, match="timed out"):
        HailuoHook(retry_policy=FAST_RETRIES).submit(lighthouse())
    assert counts(hailuo_emulator)["create"] == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_on_create_is_retried_then_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    set_connection(monkeypatch, host=f"http://127.0.0.1:{_closed_port()}", password="k")
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(HailuoTransientError, match="could not connect") as info,
    ):
        HailuoHook(retry_policy=FAST_RETRIES).submit(lighthouse())
    assert info.value.resubmit_safe
    assert not isinstance(info.value, HailuoAmbiguousSubmitError)
    assert len(retry_lines(caplog, capsys)) == FAST_RETRIES.max_attempts - 1


# -- never retried ---------------------------------------------------------------------------------


def test_a_wrong_api_key_says_so_and_is_not_retried(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url, password="wrong-key")
    hook = HailuoHook(retry_policy=FAST_RETRIES)
    with pytest.raises(HailuoAuthenticationError, match="check the API key"):
        hook.submit(lighthouse())
    with pytest.raises(HailuoAuthenticationError, match="check the API key"):
        hook.get_task("task_whatever")
    stats = counts(hailuo_emulator)
    assert (stats["create"], stats["poll"]) == (1, 1)


@pytest.mark.parametrize("target", ["create", "poll"])
def test_403_says_balance_or_permission_and_is_not_retried(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, target: str
) -> None:
    task_id = hook.submit(lighthouse()) if target == "poll" else "unused"
    hailuo_emulator.client.add_fault("status", target=target, http_status=403)
    with pytest.raises(HailuoPermissionError, match="insufficient balance or permission"):
        hook.submit(lighthouse()) if target == "create" else hook.get_task(task_id)
    assert counts(hailuo_emulator)[target] == 1


def test_a_connection_without_api_key_is_refused_before_sending(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url)
    with pytest.raises(HailuoAuthenticationError, match="password field"):
        HailuoHook().submit(lighthouse())
    assert counts(hailuo_emulator)["total"] == 0


# -- download ---------------------------------------------------------------------------------------


def _completed_task(hook: HailuoHook) -> Any:
    task = hook.wait_for_task(hook.submit(lighthouse()), poll_interval=0.05, timeout=30)
    assert task.video_url
    return task


def test_download_to_a_file_path_and_through_object_storage(hook: HailuoHook, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    task = _completed_task(hook)
    as_file = Path(hook.download_video(task.video_url, tmp_path / "out" / "clip.mp4"))
    assert as_file == tmp_path / "out" / "clip.mp4"
    stored = hook.download_video(task.video_url, f"file://{tmp_path}/store/")
    assert stored.endswith(f"{task.id}.mp4")
    objects = ObjectStoragePath(f"file://{tmp_path}/store/{task.id}.mp4")
    assert objects.read_bytes() == as_file.read_bytes()
    assert not list(tmp_path.rglob("*.part"))


def test_a_dropped_download_is_retried(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task = _completed_task(hook)
    hailuo_emulator.client.add_fault("drop", target="download", times=2)
    path = Path(hook.download_video(task.video_url, tmp_path))
    assert path.read_bytes()[4:8] == b"ftyp"
    assert counts(hailuo_emulator)["download"] == 3


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in CDN that records the headers it is sent."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        body = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def cdn() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _RecordingHandler.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_api_key_is_never_sent_to_another_host(hook: HailuoHook, cdn: str, tmp_path: Path) -> None:
    hook.download_video(f"{cdn}/videos/clip.mp4", tmp_path)
    assert (tmp_path / "clip.mp4").exists()
    assert all("Authorization" not in headers for headers in _RecordingHandler.seen)


# -- async (the triggers' client) ------------------------------------------------------------------


def test_aget_task_rides_out_faults_through_one_shared_pool(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_faults(
        [
            {"kind": "status", "target": "poll", "http_status": 429, "retry_after": 0.05},
            {"kind": "status", "target": "poll", "http_status": 502},
            {"kind": "drop", "target": "poll"},
        ]
    )

    async def poll_twice() -> tuple[str, bool]:
        first, second = HailuoHook(retry_policy=FAST_RETRIES), HailuoHook(retry_policy=FAST_RETRIES)
        task = await first.aget_task(task_id)
        await second.aget_task(task_id)
        settings = await first.aget_settings()
        same_pool = shared_session(settings.base_url) is shared_session(settings.base_url)
        await close_shared_sessions()
        return task.id, same_pool

    task_id_seen, same_pool = asyncio.run(poll_twice())
    assert task_id_seen == task_id
    assert same_pool
    assert counts(hailuo_emulator)["poll"] == 5  # 3 faults + 2 answers


def test_aget_task_does_not_retry_401(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url, password="wrong-key")

    async def poll() -> None:
        try:
            await HailuoHook(retry_policy=FAST_RETRIES).aget_task("task_x")
        finally:
            await close_shared_sessions()

    with pytest.raises(HailuoAuthenticationError, match="check the API key"):
        asyncio.run(poll())
    assert counts(hailuo_emulator)["poll"] == 1


# -- the UI's Test button, and secrets --------------------------------------------------------------


def test_test_connection(hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key)
    assert HailuoHook().test_connection() == (
        True,
        f"Connected to {hailuo_emulator.url}: the API key was accepted",
    )
    set_connection(monkeypatch, host=hailuo_emulator.url, password="wrong-key")
    ok, message = HailuoHook().test_connection()
    assert not ok
    assert "check the API key" in message
    set_connection(monkeypatch, host=f"http://127.0.0.1:{_closed_port()}", password="k")
    ok, message = HailuoHook(retry_policy=FAST_RETRIES).test_connection()
    assert not ok
    assert "could not connect" in message


def test_the_api_key_never_reaches_a_log_an_exception_or_a_repr(
    hailuo_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hailuo_emulator.client.configure(api_key=SECRET_KEY)
    set_connection(monkeypatch, host=hailuo_emulator.url, password=SECRET_KEY)
    hook = HailuoHook(retry_policy=FAST_RETRIES)
    texts: list[str] = [repr(hook), repr(hook.settings), str(hook.settings)]
    with caplog.at_level(logging.DEBUG):
        hailuo_emulator.client.add_fault("status", target="create", http_status=429, retry_after=0.01)
        task_id = hook.submit(lighthouse(prompt="[push in]"))
        hailuo_emulator.client.add_fault("status", target="poll", http_status=502)
        hook.wait_for_task(task_id, poll_interval=0.05, timeout=30)
        for fault in (
            {"kind": "drop_after_accept", "target": "create"},
            {"kind": "status", "target": "create", "http_status": 403},
        ):
            hailuo_emulator.client.add_faults([fault])
            with pytest.raises(Exception) as info:  # noqa: PT011 - any error; its text is what matters
                hook.submit(lighthouse())
            texts += [str(info.value), repr(info.value), str(info.value.__cause__)]
    texts += [record.getMessage() for record in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    assert not [text for text in texts if SECRET_KEY in text]
