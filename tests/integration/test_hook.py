"""HailuoHook against the emulator over real HTTP on loopback: the happy path, every retry and
no-retry rule, and the request counts they imply."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import (
    HailuoAmbiguousSubmitError,
    HailuoAuthenticationError,
    HailuoError,
    HailuoImageError,
    HailuoPermissionError,
    HailuoProtocolError,
    HailuoRateLimitError,
    HailuoTimeoutError,
    HailuoTransientError,
    HailuoValidationError,
)
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.gateway.protocol import ERROR_CODES, HailuoTask, failure_error
from airflow_provider_hailuo.gateway.retry import RetryPolicy
from airflow_provider_hailuo.hooks import async_pool, settings_cache
from airflow_provider_hailuo.hooks import hailuo as hailuo_hook_module
from airflow_provider_hailuo.hooks.async_pool import close_shared_sessions, shared_session
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.hooks.settings import GatewaySettings
from tests.airflow_versions import EVERY_AIRFLOW
from tests.integration.support import log_lines

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


def apoll(task_id: str, hook: HailuoHook | None = None) -> HailuoTask:
    """``aget_task`` (by default through a new hook) on a loop of its own, whose pooled sessions
    are closed before it ends."""

    async def poll() -> HailuoTask:
        try:
            return await (hook or HailuoHook(retry_policy=FAST_RETRIES)).aget_task(task_id)
        finally:
            await close_shared_sessions()

    return asyncio.run(poll())


# -- the happy path ------------------------------------------------------------------------------


@EVERY_AIRFLOW
def test_submit_wait_download_end_to_end(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task_id = hook.submit(lighthouse(prompt="A lighthouse at dusk [push in], then [pan left]", duration=10))
    task = hook.wait_for_task(task_id, poll_interval=0.05, timeout=30)

    assert task.is_success
    assert task.cost == "0.56"  # 768P (default) for 10 s, exact
    assert task.video_url is not None
    (path,) = map(Path, hook.download_videos(task, tmp_path))
    assert path == tmp_path / f"{task.id}.mp4"
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


@pytest.mark.parametrize("where", ["inside", "outside", "a symlink out"])
def test_the_connections_allowed_frame_roots_narrow_where_frames_are_read(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    import shutil

    allowed, elsewhere = tmp_path / "stills", tmp_path / "private"
    allowed.mkdir()
    elsewhere.mkdir()
    shutil.copy(IMAGES / "lighthouse.jpg", allowed / "front.jpg")
    shutil.copy(IMAGES / "lighthouse.jpg", elsewhere / "front.jpg")
    (allowed / "link.jpg").symlink_to(elsewhere / "front.jpg")
    frame = {
        "inside": allowed / "front.jpg",
        "outside": elsewhere / "front.jpg",
        "a symlink out": allowed / "link.jpg",
    }
    set_connection(
        monkeypatch,
        host=hailuo_emulator.url,
        password=hailuo_emulator.api_key,
        extra={"allowed_frame_roots": f"{allowed}, s3://bucket/stills/"},
    )
    request = GenerationRequest(first_frame_image=str(frame[where]))
    if where == "inside":
        assert HailuoHook(retry_policy=FAST_RETRIES).submit(request)
        return
    with pytest.raises(HailuoValidationError, match="outside every root of the connection extra") as info:
        HailuoHook(retry_policy=FAST_RETRIES).submit(request)
    assert info.value.parameter == "first_frame_image"
    assert counts(hailuo_emulator)["total"] == 0


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
    return [line for line in log_lines(caplog, capsys) if "retrying in" in line]


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


class FakeClock:
    """Stands in for the hook module's ``time``: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waiting_honours_a_long_retry_after_between_polls(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("status", target="poll", http_status=429, retry_after=30, times=100)
    clock = FakeClock()
    monkeypatch.setattr(hailuo_hook_module, "time", clock)
    # A 429 is not retried inside a waiter's poll: the waiter waits it out itself, and longer each
    # time it is refused again (polling every 30 s would only meet the same 429).
    with pytest.raises(HailuoTimeoutError):
        hook.wait_for_task(task_id, poll_interval=0.05, timeout=100)
    assert clock.sleeps[0] == 30
    # Never sooner than the Retry-After, except the last wait, cut at the deadline for a last poll.
    assert all(wait >= 30 for wait in clock.sleeps[:-1])
    assert clock.sleeps[:-1] == sorted(clock.sleeps[:-1])
    assert sum(clock.sleeps) == pytest.approx(100)
    assert counts(hailuo_emulator)["poll"] == len(clock.sleeps) + 1 < 5


def test_waiting_does_not_retry_past_its_deadline(
    hailuo_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    # Ten attempts about 0.45 s apart would keep one poll going for over 4 s.
    patient = RetryPolicy(max_attempts=10, initial_backoff=0.3, max_backoff=0.3)
    hook = HailuoHook(hailuo_connection, retry_policy=patient)
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("status", target="poll", http_status=502, times=100)
    with pytest.raises(HailuoTimeoutError):
        hook.wait_for_task(task_id, poll_interval=0.05, timeout=1.0)
    # Attempts at about 0, 0.45 and 0.9 s, a poll after them (a 502 keeps the pace) and perhaps a
    # last one at the deadline: none started after it (ten attempts a poll would make over 20).
    assert counts(hailuo_emulator)["poll"] <= 6


def test_the_connection_is_checked_before_any_frame_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_connection(monkeypatch, host="http://127.0.0.1:9")  # no API key
    request = GenerationRequest(first_frame_image=tmp_path / "not-there-yet.png")
    with pytest.raises(HailuoAuthenticationError, match="no API key"):
        HailuoHook().submit(request)


@pytest.mark.parametrize("client", ["requests", "aiohttp"])
def test_a_request_that_cannot_be_sent_says_what_to_check(client: str) -> None:
    import aiohttp
    import requests

    from airflow_provider_hailuo.hooks.transport import aiohttp_error, requests_error

    url = "http://gateway.example/model/v1/generation/task/x"
    if client == "requests":
        error = requests_error(requests.exceptions.InvalidURL("bad URL"), url)
    else:
        error = aiohttp_error(aiohttp.InvalidURL(url), url)
    assert not isinstance(error, HailuoTransientError)  # the same every time: never retried
    assert error.never_sent
    assert "could not be sent" in str(error)
    assert "create_path/task_path extras" in str(error)


def _send_errors() -> list[tuple[str, BaseException, bool]]:
    """What ``Session.send`` raises, as requests builds it, and whether it proves nothing was sent."""
    import ssl

    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

    def wrapped(reason: Exception) -> MaxRetryError:
        return MaxRetryError(None, "/", reason)  # type: ignore[arg-type]

    refused = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    certificate = ssl.SSLCertVerificationError(1, "certificate verify failed")
    return [
        ("connection refused", requests.ConnectionError(wrapped(refused)), True),
        ("connect timeout", requests.ConnectTimeout(wrapped(refused)), True),
        ("certificate refused", requests.exceptions.SSLError(wrapped(certificate)), True),
        ("TLS dropped after the handshake", requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF")), False),
        ("read timeout", requests.ReadTimeout(ReadTimeoutError(None, "/", "read timed out")), False),  # type: ignore[arg-type]
        ("dropped", requests.ConnectionError(ProtocolError("Connection aborted.")), False),
        ("undecodable answer", requests.exceptions.ContentDecodingError("incorrect header check"), False),
        ("cut-short answer", requests.exceptions.ChunkedEncodingError("Connection broken"), False),
        ("redirect loop", requests.TooManyRedirects("Exceeded 30 redirects."), False),
        ("malformed answer header", requests.exceptions.InvalidHeader("bad header"), False),
    ]


@pytest.mark.parametrize(
    ("what", "error", "never_sent"), _send_errors(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_only_a_failure_before_sending_counts_as_not_sent(
    what: str, error: BaseException, never_sent: bool
) -> None:
    """Default deny: whatever requests raises once bytes may have left is ambiguous for a create."""
    import requests

    from airflow_provider_hailuo.gateway.resend import nothing_accepted
    from airflow_provider_hailuo.hooks.transport import requests_error

    assert isinstance(error, requests.RequestException)
    mapped = requests_error(error, "https://gateway.example/create")
    assert mapped.never_sent is never_sent, what
    assert nothing_accepted(mapped) is never_sent


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
        ({"kind": "status", "http_status": 503, "body_shape": "html", "after_accept": True}, 1),
        ({"kind": "status", "http_status": 403, "body_shape": "html"}, 0),
        ({"kind": "status", "http_status": 429, "body_shape": "message", "after_accept": True}, 1),
        ({"kind": "status", "http_status": 503, "body_shape": "error", "after_accept": True}, 1),
        ({"kind": "status", "http_status": 503, "body_shape": "text", "after_accept": True}, 1),
        ({"kind": "malformed", "malformed": "undecodable"}, 1),
    ],
    ids=[
        "dropped-after-accepting",
        "dropped",
        "502",
        "500",
        "504",
        "proxy-html-503-after-accepting",
        "proxy-html-403",
        "foreign-json-429",
        "foreign-json-503",
        "plain-text-503",
        "undecodable-200",
    ],
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


def test_a_create_answered_with_a_redirect_is_not_followed(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    """requests would send a 307's body again (or turn a 302 into a GET): neither is a create."""
    hailuo_emulator.client.add_fault("status", target="create", http_status=307, after_accept=True)
    with pytest.raises(HailuoAmbiguousSubmitError, match=r"redirect \(HTTP 307\)"):
        hook.submit(lighthouse())
    stats = counts(hailuo_emulator)
    assert (stats["create"], stats["tasks_created"]) == (1, 1)


def test_a_poll_answered_with_a_redirect_loop_is_retried(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("status", target="poll", http_status=302, times=1000)
    with pytest.raises(HailuoTransientError, match="TooManyRedirects"):
        hook.get_task(task_id)
    hailuo_emulator.client.clear_faults()
    assert hook.get_task(task_id).id == task_id


@pytest.mark.parametrize("http_status", [400, 401, 403, 422])
def test_the_gateways_own_refusal_of_a_create_proves_nothing_was_accepted(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, http_status: int
) -> None:
    hailuo_emulator.client.add_fault("status", target="create", http_status=http_status)
    with pytest.raises(HailuoError) as info:
        hook.submit(lighthouse())
    assert not isinstance(info.value, HailuoAmbiguousSubmitError)
    assert counts(hailuo_emulator)["create"] == 1


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

    with pytest.raises(HailuoAuthenticationError, match="check the API key"):
        apoll("task_x")
    assert counts(hailuo_emulator)["poll"] == 1


def test_polls_in_flight_to_one_gateway_are_bounded(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(async_pool, "MAX_CONNECTIONS_PER_GATEWAY", 3)
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.configure(response_delay_seconds=0.1)

    async def many_at_once() -> list[str]:
        try:
            polls = (HailuoHook(retry_policy=FAST_RETRIES).aget_task(task_id) for _ in range(20))
            return [task.id for task in await asyncio.gather(*polls)]
        finally:
            await close_shared_sessions()

    assert asyncio.run(many_at_once()) == [task_id] * 20
    stats = counts(hailuo_emulator)
    assert stats["poll"] == 20
    assert stats["max_in_flight"] == 3  # all waited their turn, none timed out waiting


class _LookupCounter:
    """Counts HailuoHook's connection lookups (the real ones still run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        look_up = HailuoHook._alook_up_settings

        async def counted(hook: HailuoHook) -> GatewaySettings:
            self.calls += 1
            await asyncio.sleep(0.01)  # a lookup takes a while, so that callers overlap
            return await look_up(hook)

        monkeypatch.setattr(HailuoHook, "_alook_up_settings", counted)


@EVERY_AIRFLOW
def test_hooks_of_one_connection_on_one_loop_share_one_lookup(
    hailuo_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = _LookupCounter(monkeypatch)

    async def herd() -> list[GatewaySettings]:
        settings = await asyncio.gather(*(HailuoHook(hailuo_connection).aget_settings() for _ in range(50)))
        later = await HailuoHook(hailuo_connection).aget_settings()
        return [*settings, later]

    settings = asyncio.run(herd())
    assert lookups.calls == 1
    assert all(each is settings[0] for each in settings)
    asyncio.run(herd())  # another loop (another triggerer) looks up for itself
    assert lookups.calls == 2


@EVERY_AIRFLOW
def test_kept_settings_expire(hailuo_connection: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = _LookupCounter(monkeypatch)
    monkeypatch.setattr(settings_cache, "SETTINGS_TTL_SECONDS", 0.0)

    async def one_after_another() -> None:
        for _ in range(3):
            await HailuoHook(hailuo_connection).aget_settings()

    asyncio.run(one_after_another())
    assert lookups.calls == 3


@EVERY_AIRFLOW
def test_a_failed_lookup_is_not_kept(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = _LookupCounter(monkeypatch)
    monkeypatch.delenv("AIRFLOW_CONN_HAILUO_DEFAULT", raising=False)

    async def missing_then_added() -> str:
        results = await asyncio.gather(
            *(HailuoHook().aget_settings() for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, Exception) for result in results)  # every waiter hears of it
        set_connection(monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key)
        return (await HailuoHook().aget_settings()).base_url

    assert asyncio.run(missing_then_added()) == hailuo_emulator.url
    assert lookups.calls == 2


@EVERY_AIRFLOW
def test_a_cancelled_first_caller_does_not_cancel_the_others_lookup(
    hailuo_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = _LookupCounter(monkeypatch)

    async def first_cancelled() -> GatewaySettings:
        first = asyncio.create_task(HailuoHook(hailuo_connection).aget_settings())
        await asyncio.sleep(0)  # the first caller has started the lookup
        second = asyncio.create_task(HailuoHook(hailuo_connection).aget_settings())
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert asyncio.run(first_cancelled()).api_key
    assert lookups.calls == 1


# -- the UI's Test button, and secrets --------------------------------------------------------------


@EVERY_AIRFLOW
def test_test_connection(hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key)
    assert HailuoHook().test_connection() == (
        True,
        f"Connected to {hailuo_emulator.url}: reachable, and the API key was not rejected",
    )
    # A 404 page that is not the gateway's own JSON error proves nothing about the key.
    set_connection(
        monkeypatch,
        host=hailuo_emulator.url,
        password=hailuo_emulator.api_key,
        extra={"task_path": "/wrong/{task_id}"},
    )
    ok, message = HailuoHook().test_connection()
    assert not ok
    assert "check the host and the paths" in message
    set_connection(monkeypatch, host=hailuo_emulator.url, password="wrong-key")
    ok, message = HailuoHook().test_connection()
    assert not ok
    assert "check the API key" in message
    set_connection(monkeypatch, host=f"http://127.0.0.1:{_closed_port()}", password="k")
    ok, message = HailuoHook(retry_policy=FAST_RETRIES).test_connection()
    assert not ok
    assert "could not connect" in message


def chain_texts(error: BaseException | None) -> list[str]:
    """Every text reachable from an exception's chain, requests' own request headers included."""
    texts: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts += [str(error), repr(error)]
        request = getattr(error, "request", None)
        if request is not None:
            texts.append(repr(dict(getattr(request, "headers", {}) or {})))
        error = error.__cause__ or error.__context__
    return texts


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
            texts += chain_texts(info.value)
    texts += [record.getMessage() for record in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    assert not [text for text in texts if SECRET_KEY in text]


def test_a_dropped_connection_keeps_no_reference_to_the_request_and_its_key(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hailuo_emulator.client.configure(api_key=SECRET_KEY)
    set_connection(monkeypatch, host=hailuo_emulator.url, password=SECRET_KEY)
    hook = HailuoHook(retry_policy=RetryPolicy(max_attempts=1))
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault("drop", target="poll")
    with pytest.raises(HailuoTransientError) as info:
        hook.get_task(task_id)
    assert not [text for text in chain_texts(info.value) if SECRET_KEY in text]

    hailuo_emulator.client.add_fault("drop", target="poll", times=2)  # aiohttp resends a dropped GET once
    with pytest.raises(HailuoTransientError) as async_info:
        apoll(task_id, hook)
    assert not [text for text in chain_texts(async_info.value) if SECRET_KEY in text]


def test_a_key_pasted_with_a_line_break_still_works(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key + "\n")
    assert HailuoHook().submit(lighthouse())


@pytest.mark.parametrize("bad_key", ["abc\ndef", "key\twith-tab", "clé"])
def test_a_key_that_cannot_travel_in_a_header_is_refused_before_sending(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, bad_key: str
) -> None:
    set_connection(monkeypatch, host=hailuo_emulator.url, password=bad_key)
    with pytest.raises(HailuoAuthenticationError, match="cannot be sent in an HTTP header") as info:
        HailuoHook().submit(lighthouse())
    assert bad_key not in str(info.value)
    assert counts(hailuo_emulator)["total"] == 0


@pytest.mark.parametrize("variant", ["not_json", "empty", "missing_id", "missing_status"])
def test_an_unreadable_answer_to_an_accepted_create_is_ambiguous(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, variant: str
) -> None:
    hailuo_emulator.client.add_fault("malformed", target="create", malformed=variant)
    with pytest.raises(HailuoAmbiguousSubmitError, match="probably created"):
        hook.submit(lighthouse())
    stats = counts(hailuo_emulator)
    assert (stats["create"], stats["tasks_created"]) == (1, 1)


def test_a_retry_after_beyond_the_bound_on_create_is_not_waited_out(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.add_fault("status", target="create", http_status=429, retry_after=3600)
    with pytest.raises(HailuoRateLimitError):
        hook.submit(lighthouse())
    assert counts(hailuo_emulator)["create"] == 1


@pytest.mark.parametrize(
    ("model", "options"),
    [
        (
            "minimax_hailuo_02_i2v",
            {"duration": 10, "resolution": "512P", "callback_url": "https://example.com/hooks/hailuo"},
        ),
        ("minimax_hailuo_23_i2v", {"duration": 6, "resolution": "1080P", "fast_pretreatment": True}),
        ("minimax_hailuo_23_fast_i2v", {"duration": 10, "resolution": "768P", "fast_pretreatment": False}),
    ],
)
def test_every_option_a_model_takes_travels_on_the_wire(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, model: str, options: dict[str, Any]
) -> None:
    shared = {"prompt": "Dusk [push in]", "prompt_optimizer": False, "aigc_watermark": True}
    task_id = hook.submit(lighthouse(model=model, **shared, **options))
    task = hailuo_emulator.client.task(task_id)
    assert task["model"] == model
    assert task["params"] == {"first_frame_image": task["params"]["first_frame_image"], **shared, **options}


@pytest.mark.parametrize("model", ["minimax_hailuo_23_t2v", "minimax_hailuo_02_t2v"])
def test_a_text_to_video_request_travels_without_a_frame(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, model: str
) -> None:
    task_id = hook.submit(
        GenerationRequest(model=model, prompt="A lighthouse at dusk [push in]", duration=10)
    )
    task = hailuo_emulator.client.task(task_id)
    assert (task["model"], task["params"]) == (
        model,
        {"prompt": "A lighthouse at dusk [push in]", "duration": 10},
    )


def test_submit_logs_the_prompt_warnings(
    hook: HailuoHook, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING):
        hook.submit(lighthouse(prompt="[pan left, rise, shake, zoom in]"))
    assert any("combines 4 camera instructions" in line for line in log_lines(caplog, capsys))


def test_waiting_logs_an_unknown_status_once_and_ends_on_cancelled(
    hook: HailuoHook,
    hailuo_emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hailuo_emulator.client.configure(render_seconds=60)
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.set_task_status(task_id, "rendering_frames")

    def cancel_soon() -> None:
        import time

        time.sleep(0.5)
        hailuo_emulator.client.set_task_status(task_id, "cancelled")

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    with caplog.at_level(logging.INFO):
        task = hook.wait_for_task(task_id, poll_interval=0.05, timeout=30)
    canceller.join()
    assert task.status == "cancelled"
    assert not task.is_success
    lines = log_lines(caplog, capsys)
    assert len([line for line in lines if "'rendering_frames'" in line]) == 1
    assert counts(hailuo_emulator)["poll"] > 2


def test_waiting_polls_on_when_one_poll_runs_out_of_retries(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_fault(
        "status", target="poll", http_status=502, times=FAST_RETRIES.max_attempts + 1
    )
    assert hook.wait_for_task(task_id, poll_interval=0.05, timeout=30).is_success


@pytest.mark.parametrize(
    ("fault", "error", "polls"),
    [
        (
            {"kind": "slow", "delay_seconds": 1.0, "times": 100},
            HailuoTransientError,
            FAST_RETRIES.max_attempts,
        ),
        ({"kind": "status", "http_status": 403}, HailuoPermissionError, 1),
    ],
    ids=["read-timeouts", "403"],
)
def test_aget_task_retries_timeouts_but_not_403(
    hailuo_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
    error: type[Exception],
    polls: int,
) -> None:
    set_connection(
        monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key, extra={"timeout": 0.2}
    )
    hook = HailuoHook(retry_policy=FAST_RETRIES)
    task_id = hook.submit(lighthouse())
    hailuo_emulator.client.add_faults([{**fault, "target": "poll"}])

    with pytest.raises(error):
        apoll(task_id, hook)
    assert counts(hailuo_emulator)["poll"] == polls


def test_aget_task_reports_a_refused_connection_after_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host=f"http://127.0.0.1:{_closed_port()}", password="k")

    with pytest.raises(HailuoTransientError, match="could not connect"):
        apoll("task_x")


def test_a_netrc_file_changes_nothing(
    hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """requests and aiohttp read ~/.netrc when allowed; its credentials must not replace the key."""
    netrc = tmp_path / "netrc"
    netrc.write_text("default login someone password not-the-api-key\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    set_connection(monkeypatch, host=hailuo_emulator.url, password=hailuo_emulator.api_key)
    hook = HailuoHook(retry_policy=FAST_RETRIES)
    task_id = hook.submit(lighthouse())
    task = hook.wait_for_task(task_id, poll_interval=0.05, timeout=30)
    assert task.video_url
    hook.download_videos(task, tmp_path)

    assert apoll(task_id).status == "completed"
    assert counts(hailuo_emulator)["status_codes"].get("401") is None


def test_the_hook_waits_through_queued_renders_with_uneven_or_absent_progress(
    hook: HailuoHook, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.configure(
        render_profile="realistic", render_time_scale=0.005, render_slots=2, render_seed=9
    )
    task_ids = [hook.submit(lighthouse(model="minimax_hailuo_23_fast_i2v")) for _ in range(6)]
    done = [hook.wait_for_task(task_id, poll_interval=0.05, timeout=60) for task_id in task_ids]
    assert [task.status for task in done] == ["completed"] * 6
    assert all(task.video_url for task in done)
