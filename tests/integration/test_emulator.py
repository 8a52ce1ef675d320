"""The gateway emulator over real HTTP on loopback: protocol, counters, faults and load.

Everything goes through sockets (requests, aiohttp), as the provider's own clients do, so what
these tests pin down is what the provider's tests can rely on.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

import aiohttp
import pytest
import requests

from airflow_provider_hailuo.emulator.client import EmulatorControlError
from airflow_provider_hailuo.emulator.pricing import COST_TABLE
from airflow_provider_hailuo.emulator.videos import task_id_of_video
from airflow_provider_hailuo.gateway.http_errors import parse_error_body
from airflow_provider_hailuo.gateway.protocol import ERROR_CODES, build_create_body, parse_task

if TYPE_CHECKING:
    from airflow_provider_hailuo.emulator.server import EmulatorServer


MODEL = "minimax_hailuo_02_i2v"
FRAME_URL = "https://example.com/first.png"
CREATE_PATH = "/model/v1/generation"
TIMEOUT = 10


def create_body(**params: Any) -> dict[str, Any]:
    return build_create_body(MODEL, {"first_frame_image": FRAME_URL, **params})


def auth(emulator: EmulatorServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.api_key}"}


def create(emulator: EmulatorServer, body: object = None, *, timeout: float = TIMEOUT) -> requests.Response:
    payload = create_body() if body is None else body
    return requests.post(emulator.url + CREATE_PATH, json=payload, headers=auth(emulator), timeout=timeout)


def poll(emulator: EmulatorServer, task_id: str, *, timeout: float = TIMEOUT) -> requests.Response:
    return requests.get(
        f"{emulator.url}{CREATE_PATH}/task/{task_id}", headers=auth(emulator), timeout=timeout
    )


def created_task_id(emulator: EmulatorServer, **params: Any) -> str:
    response = create(emulator, create_body(**params))
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


def video_url_of(emulator: EmulatorServer, task_id: str) -> str:
    """The video URL a poll of the completed task ``task_id`` hands out: a new one on every call."""
    response = poll(emulator, task_id)
    assert response.status_code == 200, response.text
    url: str = response.json()["output"][0]["content"][0]["url"]
    return url


def png_data_url(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def raw_get(emulator: EmulatorServer, path: str, authorization: bytes) -> tuple[int, bytes]:
    """A GET whose Authorization header is sent as these very bytes (requests would encode it)."""
    connection = http.client.HTTPConnection(emulator.host, emulator.port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers={"Authorization": authorization})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """For what the server learns asynchronously, such as a client closing its connection."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not become true in time"
        time.sleep(0.02)


@pytest.fixture
def own_emulator() -> Iterator[EmulatorServer]:
    """An emulator no other test talks to, for counts of connections that must be exact."""
    from airflow_provider_hailuo.emulator.server import EmulatorServer

    with EmulatorServer(render_seconds=0) as server:
        server.client.stats()  # the control client's own connection, opened and kept from here on
        server.client.reset()
        yield server


# --- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic dGVzdC1rZXk="}],
    ids=["missing", "wrong-key", "not-bearer"],
)
def test_create_without_the_right_key_is_401(
    hailuo_emulator: EmulatorServer, headers: dict[str, str]
) -> None:
    response = requests.post(
        hailuo_emulator.url + CREATE_PATH, json=create_body(), headers=headers, timeout=TIMEOUT
    )

    assert response.status_code == 401
    assert response.json()["error"]["message"]
    assert "test-key" not in response.text
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


def test_poll_without_key_is_401(hailuo_emulator: EmulatorServer) -> None:
    task_id = created_task_id(hailuo_emulator)

    response = requests.get(f"{hailuo_emulator.url}{CREATE_PATH}/task/{task_id}", timeout=TIMEOUT)

    assert response.status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer t\xc3\xa9st-key",  # non-ASCII, as UTF-8
        b"Bearer test-key\xe9",  # non-ASCII, as Latin-1: not UTF-8 at all
        b"Bearer \xff\xfe\x80",
        b"Bearer\xc2\xa0test-key",  # a no-break space is not a space
        b"Bearer test-key\xc2\xa0",  # nor whitespace that HTTP trims (str.strip() would)
        b"Bearer test -key",
        b"Bearer test-key extra",
        b"Bearer\ttest-key",  # RFC 9110: the scheme and the token are separated by spaces only
        b"Bearer",
        b"Bearer ",
    ],
    ids=[
        "utf8",
        "latin1",
        "invalid-utf8",
        "nbsp",
        "trailing-nbsp",
        "inner-space",
        "trailing-word",
        "tab",
        "scheme-only",
        "scheme-and-space",
    ],
)
def test_odd_authorization_headers_are_401_not_500(
    hailuo_emulator: EmulatorServer, authorization: bytes
) -> None:
    status, body = raw_get(hailuo_emulator, f"{CREATE_PATH}/task/task_x", authorization)

    assert status == 401
    assert json.loads(body) == {"error": {"message": "invalid API key"}}
    assert hailuo_emulator.client.stats()["status_codes"] == {"401": 1}


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer test-key", b"bearer test-key", b"BEARER   test-key", b"Bearer test-key  "],
    ids=["plain", "lower-case-scheme", "several-spaces", "trailing-whitespace"],
)
def test_what_http_itself_allows_around_the_key_is_accepted(
    hailuo_emulator: EmulatorServer, authorization: bytes
) -> None:
    """Scheme case, 1*SP after it, and whitespace around the field value are HTTP's, not the key's."""
    status, _ = raw_get(hailuo_emulator, f"{CREATE_PATH}/task/task_x", authorization)

    assert status == 404  # past authentication: the task does not exist


def test_a_non_ascii_key_is_compared_as_utf8_bytes(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(api_key="clé-ü")
    path = f"{CREATE_PATH}/task/task_x"

    assert raw_get(hailuo_emulator, path, "Bearer clé-ü".encode())[0] == 404
    assert raw_get(hailuo_emulator, path, "Bearer clé-ü".encode("latin-1"))[0] == 401
    with pytest.raises(EmulatorControlError, match="api_key must be encodable"):
        hailuo_emulator.client.configure(api_key="\ud800")


def test_configured_api_key_replaces_the_old_one_until_reset(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(api_key="other-key")
    assert create(hailuo_emulator).status_code == 200  # auth() reads the live key
    response = requests.post(
        hailuo_emulator.url + CREATE_PATH,
        json=create_body(),
        headers={"Authorization": "Bearer test-key"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401

    hailuo_emulator.client.reset()

    assert hailuo_emulator.api_key == "test-key"
    assert create(hailuo_emulator).status_code == 200


# --- the happy path -------------------------------------------------------------------------------


def test_task_runs_in_progress_then_completes(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0.3)

    response = create(hailuo_emulator)

    assert response.status_code == 200
    created = response.json()
    assert created["id"].startswith("task_")
    assert created["status"] == "in_progress"
    assert created["model"] == MODEL
    assert created["created_at"].endswith("Z")
    running = poll(hailuo_emulator, created["id"]).json()
    assert running["status"] == "in_progress"
    assert 0 <= running["progress"] < 1
    assert running["error"] is None
    assert "output" not in running

    time.sleep(0.35)
    done = poll(hailuo_emulator, created["id"]).json()

    assert done["status"] == "completed"
    assert done["progress"] == 1.0
    assert done["output"] == [{"content": [{"type": "video", "url": ANY}]}]
    assert done["output"][0]["content"][0]["url"].startswith(f"{hailuo_emulator.url}/cdn/")
    assert done["usage"] == {"cost": "0.28", "discount": 0}
    assert set(done["metadata"]) == {"in_queue_at", "started_at", "completed_at"}
    assert done["error"] is None
    task = parse_task(done)
    assert task.is_success
    assert task.cost == "0.28"
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["poll"], stats["tasks_created"]) == (1, 2, 1)


def test_poll_of_an_unknown_task_is_404(hailuo_emulator: EmulatorServer) -> None:
    response = poll(hailuo_emulator, "task_does_not_exist")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "task not found"}}


@pytest.mark.parametrize(
    ("params", "cost"),
    [
        ({}, "0.28"),
        ({"duration": 6, "resolution": "512P"}, "0.10"),
        ({"duration": 10, "resolution": "512P"}, "0.15"),
        ({"duration": 6, "resolution": "768P"}, "0.28"),
        ({"duration": 10}, "0.56"),
        ({"resolution": "1080P"}, "0.49"),
    ],
)
def test_cost_is_the_exact_string_for_duration_and_resolution(
    hailuo_emulator: EmulatorServer, params: dict[str, Any], cost: str
) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    task_id = created_task_id(hailuo_emulator, **params)

    body = poll(hailuo_emulator, task_id).json()

    assert body["usage"]["cost"] == cost
    key = (params.get("resolution", "768P"), params.get("duration", 6))
    assert COST_TABLE[key] == cost


def test_data_url_frames_are_checked(hailuo_emulator: EmulatorServer) -> None:
    good = create(hailuo_emulator, build_create_body(MODEL, {"first_frame_image": png_data_url(480, 320)}))
    too_small = create(
        hailuo_emulator, build_create_body(MODEL, {"first_frame_image": png_data_url(200, 200)})
    )

    assert good.status_code == 200, good.text
    assert too_small.status_code == 400
    assert "first_frame_image" in too_small.json()["error"]["message"]
    assert hailuo_emulator.client.tasks()[0]["params"]["first_frame_image"].endswith("chars)")


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (create_body(duration=10, resolution="1080P"), "does not render 10 s at 1080P with 1 frame(s)"),
        (create_body(last_frame_image=FRAME_URL, resolution="512P"), "6 s at 512P with 2 frame(s)"),
        (create_body(duration=8), "does not render 8 s videos"),
        (create_body(prompt="A lighthouse [pan sideways]"), "unknown camera instruction"),
        (create_body(prompt_optimizer="yes"), "prompt_optimizer"),
        (create_body(colour="red"), "colour is not a parameter of minimax_hailuo_02_i2v"),
        (build_create_body(MODEL, {}), "first_frame_image is required"),
        (create_body(first_frame_image="/tmp/frame.png"), "http(s) URL or a base64 data URL"),
        ({"model": MODEL, "first_frame_image": FRAME_URL}, "'input'"),
        (build_create_body("minimax_hailuo_02_t2v", {"first_frame_image": FRAME_URL}), "not a parameter"),
        (build_create_body("minimax_hailuo_09_i2v", {"first_frame_image": FRAME_URL}), "not available"),
    ],
    ids=[
        "10s-1080P",
        "first-last-512P",
        "duration-8",
        "unknown-camera-instruction",
        "bool-as-string",
        "unknown-parameter",
        "no-first-frame",
        "local-path",
        "flat-body",
        "frame-on-text-to-video",
        "unknown-model",
    ],
)
def test_invalid_create_request_is_400(hailuo_emulator: EmulatorServer, body: object, expected: str) -> None:
    response = create(hailuo_emulator, body)

    assert response.status_code == 400
    assert expected in response.json()["error"]["message"]
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


@pytest.mark.parametrize(
    ("model", "params", "cost"),
    [
        ("minimax_hailuo_02_i2v", {"first_frame_image": FRAME_URL, "resolution": "512P"}, "0.10"),
        ("minimax_hailuo_23_i2v", {"first_frame_image": FRAME_URL, "fast_pretreatment": True}, "0.28"),
        ("minimax_hailuo_23_fast_i2v", {"first_frame_image": FRAME_URL, "duration": 10}, "0.37"),
        ("minimax_hailuo_23_t2v", {"prompt": "A lighthouse [push in]", "resolution": "1080P"}, "0.49"),
        ("minimax_hailuo_02_t2v", {"prompt": "A lighthouse"}, "0.28"),
    ],
)
def test_every_model_of_the_family_renders_at_its_own_price(
    hailuo_emulator: EmulatorServer, model: str, params: dict[str, Any], cost: str
) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    response = create(hailuo_emulator, build_create_body(model, params))
    assert response.status_code == 200, response.text
    body = poll(hailuo_emulator, response.json()["id"]).json()
    assert (body["status"], body["model"], body["usage"]["cost"]) == ("completed", model, cost)


def test_a_model_not_enabled_for_the_key_is_refused_and_nothing_is_created(
    hailuo_emulator: EmulatorServer,
) -> None:
    hailuo_emulator.client.configure(enabled_models=["minimax_hailuo_02_i2v"])
    response = create(
        hailuo_emulator, build_create_body("minimax_hailuo_23_fast_i2v", {"first_frame_image": FRAME_URL})
    )
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]
        == "model 'minimax_hailuo_23_fast_i2v' is not available for this API key"
    )
    assert hailuo_emulator.client.stats()["tasks_created"] == 0
    assert create(hailuo_emulator).status_code == 200


def test_body_that_is_not_json_is_400(hailuo_emulator: EmulatorServer) -> None:
    response = requests.post(
        hailuo_emulator.url + CREATE_PATH,
        data=b"{not json",
        headers={**auth(hailuo_emulator), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


# --- the video file -------------------------------------------------------------------------------


# (The URLs' shape, expiry and signature, and each task's own bytes: test_emulator_downloads.py.)


def test_completed_task_video_is_a_real_mp4_served_without_auth(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    task_id = created_task_id(hailuo_emulator)

    response = requests.get(video_url_of(hailuo_emulator, task_id), timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert int(response.headers["Content-Length"]) == len(response.content) > 1000
    assert response.content[4:8] == b"ftyp"
    assert b"avc1" in response.content  # H.264
    assert task_id_of_video(response.content) == task_id


def test_an_unfinished_task_has_no_video_url(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=60)

    body = poll(hailuo_emulator, created_task_id(hailuo_emulator)).json()

    assert "output" not in body
    assert requests.get(f"{hailuo_emulator.url}/files/{body['id']}.mp4", timeout=TIMEOUT).status_code == 404
    assert hailuo_emulator.client.stats()["other"] == 1  # the old path is no download at all


# --- counters -------------------------------------------------------------------------------------


def test_counters_are_exact(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    task_id = created_task_id(hailuo_emulator)
    create(hailuo_emulator, create_body(duration=7))
    video_url = video_url_of(hailuo_emulator, task_id)  # the first of three polls
    for _ in range(2):
        poll(hailuo_emulator, task_id)
    poll(hailuo_emulator, "task_unknown")
    requests.get(video_url, timeout=TIMEOUT)
    requests.get(f"{hailuo_emulator.url}/nowhere", timeout=TIMEOUT)
    hailuo_emulator.client.tasks()  # the control API is not counted

    stats = hailuo_emulator.client.stats()

    assert {k: stats[k] for k in ("create", "poll", "download", "other", "total")} == {
        "create": 2,
        "poll": 4,
        "download": 1,
        "other": 1,
        "total": 8,
    }
    assert stats["status_codes"] == {"200": 5, "400": 1, "404": 2}
    assert stats["status_codes_by_endpoint"]["poll"] == {"200": 3, "404": 1}
    assert stats["tasks_created"] == 1
    assert stats["tasks_by_status"] == {"completed": 1}
    assert stats["in_flight"] == 0


def test_reset_forgets_tasks_counters_faults_and_config(hailuo_emulator: EmulatorServer) -> None:
    client = hailuo_emulator.client
    client.configure(render_seconds=9)
    task_id = created_task_id(hailuo_emulator)
    client.add_fault("drop", target="poll", times=5)

    client.reset()

    stats = client.stats()
    assert (stats["total"], stats["tasks_created"], stats["faults_pending"]) == (0, 0, 0)
    assert client.tasks() == []
    assert client.faults() == []
    assert client.config()["render_seconds"] == 0.2  # what the fixture's server started with
    assert poll(hailuo_emulator, task_id).status_code == 404


# --- connections ----------------------------------------------------------------------------------


def test_a_session_sends_everything_on_one_connection(own_emulator: EmulatorServer) -> None:
    client = own_emulator.client
    assert (client.stats()["connections_opened"], client.stats()["connections_open"]) == (0, 1)

    # No response is kept: urllib3 leaves the socket open while one of its responses lives.
    with requests.Session() as session:
        session.headers.update(auth(own_emulator))
        task_id = session.post(own_emulator.url + CREATE_PATH, json=create_body(), timeout=TIMEOUT).json()[
            "id"
        ]
        for _ in range(5):
            url = f"{own_emulator.url}{CREATE_PATH}/task/{task_id}"
            assert session.get(url, timeout=TIMEOUT).status_code == 200
        during = client.stats()

    assert (during["create"], during["poll"]) == (1, 5)
    assert during["connections_opened"] == 1
    assert during["connections_open"] == 2  # the session's and the control client's
    wait_until(lambda: client.stats()["connections_open"] == 1)
    assert client.stats()["connections_opened"] == 1


def test_connection_close_costs_a_connection_per_request(own_emulator: EmulatorServer) -> None:
    client = own_emulator.client
    task_id = created_task_id(own_emulator)  # requests.post: a session of its own, so a connection
    headers = {**auth(own_emulator), "Connection": "close"}

    for _ in range(5):
        response = requests.get(
            f"{own_emulator.url}{CREATE_PATH}/task/{task_id}", headers=headers, timeout=TIMEOUT
        )
        assert response.status_code == 200
        assert response.headers["Connection"] == "close"

    stats = client.stats()
    assert (stats["create"], stats["poll"], stats["connections_opened"]) == (1, 5, 6)
    wait_until(lambda: client.stats()["connections_open"] == 1)


def test_reset_zeroes_connections_opened_but_not_connections_open(own_emulator: EmulatorServer) -> None:
    client = own_emulator.client
    with requests.Session() as session:
        session.get(own_emulator.url + "/nowhere", timeout=TIMEOUT)
        assert client.stats()["connections_opened"] == 1

        client.reset()

        stats = client.stats()
        assert (stats["connections_opened"], stats["connections_open"]) == (0, 2)
    wait_until(lambda: client.stats()["connections_open"] == 1)


# --- response delay -------------------------------------------------------------------------------


def test_response_delay_holds_every_gateway_request_but_not_the_control_api(
    hailuo_emulator: EmulatorServer,
) -> None:
    client = hailuo_emulator.client
    task_id = created_task_id(hailuo_emulator)
    assert client.configure(response_delay_seconds=0.3)["response_delay_seconds"] == 0.3

    started = time.monotonic()
    assert poll(hailuo_emulator, task_id).status_code == 200
    assert requests.get(f"{hailuo_emulator.url}/nowhere", timeout=TIMEOUT).status_code == 404
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.ReadTimeout):
        poll(hailuo_emulator, task_id, timeout=0.1)
    client.configure(response_delay_seconds=30)  # far longer than any busy machine's answer
    started = time.monotonic()
    client.stats()
    assert time.monotonic() - started < 15

    client.reset()
    assert client.config()["response_delay_seconds"] == 0


def post_raw_config(emulator: EmulatorServer, key: str, raw_json_value: str) -> requests.Response:
    """The control API's config, sent one key with a JSON value exactly as written (the client's
    typed arguments could not send ``null`` or a number out of JSON's range)."""
    return requests.post(
        emulator.url + "/_emulator/config",
        data=f'{{"{key}": {raw_json_value}}}',
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("value", ["-1", '"0.5"', "true", "null", "1e400"])
def test_response_delay_must_be_seconds(hailuo_emulator: EmulatorServer, value: str) -> None:
    response = post_raw_config(hailuo_emulator, "response_delay_seconds", value)

    assert response.status_code == 400
    assert "response_delay_seconds must be a number >= 0" in response.json()["error"]["message"]
    assert hailuo_emulator.client.config()["response_delay_seconds"] == 0


# --- pending poll status (for "2xx means done" clients) ------------------------------------------


def test_pending_poll_status_answers_unfinished_tasks_only_until_reset(
    hailuo_emulator: EmulatorServer,
) -> None:
    client = hailuo_emulator.client
    client.configure(render_seconds=0.3)
    task_id = created_task_id(hailuo_emulator)
    assert client.config()["pending_poll_status"] is None
    assert client.configure(pending_poll_status=404)["pending_poll_status"] == 404

    pending = poll(hailuo_emulator, task_id)
    assert pending.status_code == 404
    assert "in_progress" in pending.json()["error"]["message"]
    assert poll(hailuo_emulator, "task_unknown").status_code == 404
    time.sleep(0.35)
    done = poll(hailuo_emulator, task_id)
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    stats = client.stats()
    assert stats["status_codes_by_endpoint"]["poll"] == {"200": 1, "404": 2}

    client.reset()
    assert client.config()["pending_poll_status"] is None
    client.configure(render_seconds=60)
    assert poll(hailuo_emulator, created_task_id(hailuo_emulator)).json()["status"] == "in_progress"


@pytest.mark.parametrize("value", ["200", "404.0", '"404"', "true", "600"])
def test_pending_poll_status_must_be_an_error_status(hailuo_emulator: EmulatorServer, value: str) -> None:
    response = post_raw_config(hailuo_emulator, "pending_poll_status", value)

    assert response.status_code == 400
    assert "pending_poll_status must be" in response.json()["error"]["message"]
    assert hailuo_emulator.client.config()["pending_poll_status"] is None


# --- faults: HTTP statuses ------------------------------------------------------------------------


def test_429_burst_with_retry_after_then_normal_service(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("status", target="create", http_status=429, retry_after=2, times=2)

    answers = [create(hailuo_emulator) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "2"
    assert parse_error_body(answers[0].content) == "rate limit exceeded"
    stats = hailuo_emulator.client.stats()
    assert stats["tasks_created"] == 1
    assert stats["status_codes_by_endpoint"]["create"] == {"200": 1, "429": 2}
    assert stats["faults_applied"] == {"status": 2}


@pytest.mark.parametrize("http_status", [401, 403, 500, 502, 503])
def test_status_fault_on_create_creates_no_task(hailuo_emulator: EmulatorServer, http_status: int) -> None:
    hailuo_emulator.client.add_fault("status", target="create", http_status=http_status, message="injected")

    response = create(hailuo_emulator)

    assert response.status_code == http_status
    assert response.json() == {"error": {"message": "injected"}}
    assert "Retry-After" not in response.headers
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


@pytest.mark.parametrize(
    ("body_shape", "expected"),
    [
        ("error.message", {"error": {"message": "boom"}}),
        ("error.error_message", {"error": {"error_message": "boom"}}),
        ("message", {"message": "boom"}),
        ("error", {"error": "boom"}),
    ],
)
def test_status_fault_body_shapes(hailuo_emulator: EmulatorServer, body_shape: str, expected: object) -> None:
    hailuo_emulator.client.add_fault("status", http_status=500, body_shape=body_shape, message="boom")

    response = poll(hailuo_emulator, "task_any")

    assert response.status_code == 500
    assert response.json() == expected
    assert parse_error_body(response.content) == "boom"


def test_status_fault_after_accept_creates_the_task(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("status", target="create", http_status=502, after_accept=True)

    assert create(hailuo_emulator).status_code == 502
    assert hailuo_emulator.client.stats()["tasks_created"] == 1


def test_fault_targets_only_its_endpoint_and_any_hits_the_next_request(
    hailuo_emulator: EmulatorServer,
) -> None:
    client = hailuo_emulator.client
    client.configure(render_seconds=0)
    client.add_fault("status", target="poll", http_status=503)
    task_id = created_task_id(hailuo_emulator)  # create is not the target

    assert poll(hailuo_emulator, task_id).status_code == 503
    video_url = video_url_of(hailuo_emulator, task_id)
    client.add_fault("status", target="any", http_status=500)
    assert requests.get(video_url, timeout=TIMEOUT).status_code == 500
    assert client.faults() == []


# --- faults: connections --------------------------------------------------------------------------


def test_drop_on_create_closes_without_response_and_creates_nothing(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("drop", target="create")

    with pytest.raises(requests.ConnectionError):
        create(hailuo_emulator)

    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"], stats["dropped"]["create"]) == (1, 0, 1)
    assert stats["status_codes"] == {}
    assert create(hailuo_emulator).status_code == 200


def test_drop_after_accept_creates_the_task_but_sends_nothing(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("drop_after_accept")

    with pytest.raises(requests.ConnectionError):
        create(hailuo_emulator)

    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"], stats["dropped"]["create"]) == (1, 1, 1)
    assert len(hailuo_emulator.client.tasks()) == 1


def test_drop_on_poll(hailuo_emulator: EmulatorServer) -> None:
    task_id = created_task_id(hailuo_emulator)
    hailuo_emulator.client.add_fault("drop", target="poll")

    with pytest.raises(requests.ConnectionError):
        poll(hailuo_emulator, task_id)
    assert poll(hailuo_emulator, task_id).status_code == 200


def test_aiohttp_retries_a_dropped_get_once_by_itself(hailuo_emulator: EmulatorServer) -> None:
    """aiohttp resends an idempotent request once when the connection drops; clients must know."""
    task_id = created_task_id(hailuo_emulator)
    hailuo_emulator.client.add_fault("drop", target="poll")

    async def get() -> int:
        async with aiohttp.ClientSession() as session:
            url = f"{hailuo_emulator.url}{CREATE_PATH}/task/{task_id}"
            async with session.get(url, headers=auth(hailuo_emulator)) as response:
                return response.status

    assert asyncio.run(get()) == 200
    stats = hailuo_emulator.client.stats()
    assert (stats["poll"], stats["dropped"]["poll"]) == (2, 1)


def test_slow_fault_delays_the_answer(hailuo_emulator: EmulatorServer) -> None:
    task_id = created_task_id(hailuo_emulator)
    hailuo_emulator.client.add_fault("slow", target="poll", delay_seconds=0.4, times=2)

    started = time.monotonic()
    assert poll(hailuo_emulator, task_id).status_code == 200
    assert time.monotonic() - started >= 0.4
    with pytest.raises(requests.ReadTimeout):
        poll(hailuo_emulator, task_id, timeout=0.1)


def test_slow_create_still_creates_the_task_when_the_client_gives_up(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.add_fault("slow", target="create", delay_seconds=0.5)

    with pytest.raises(requests.ReadTimeout):
        create(hailuo_emulator, timeout=0.1)

    assert hailuo_emulator.client.stats()["tasks_created"] == 1


# --- faults: malformed answers --------------------------------------------------------------------


@pytest.mark.parametrize("target", ["create", "poll"])
@pytest.mark.parametrize("variant", ["not_json", "empty", "missing_id", "missing_status"])
def test_malformed_answers(hailuo_emulator: EmulatorServer, target: str, variant: str) -> None:
    task_id = created_task_id(hailuo_emulator)
    hailuo_emulator.client.add_fault("malformed", target=target, malformed=variant)

    response = create(hailuo_emulator) if target == "create" else poll(hailuo_emulator, task_id)

    assert response.status_code == 200
    if variant in ("not_json", "empty"):
        with pytest.raises(ValueError):  # noqa: PT011 - requests' JSONDecodeError is a ValueError
            response.json()
    else:
        body = response.json()
        missing = "id" if variant == "missing_id" else "status"
        assert missing not in body
        assert {"id", "status"} - {missing} <= set(body)


def test_malformed_download_is_not_an_mp4(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    task_id = created_task_id(hailuo_emulator)
    video_url = video_url_of(hailuo_emulator, task_id)
    hailuo_emulator.client.add_fault("malformed", target="download")

    response = requests.get(video_url, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.content[4:8] != b"ftyp"


# --- faults: task failures ------------------------------------------------------------------------

SEED_INTEGER_CODES = {code: int(code) for code in ERROR_CODES}


@pytest.mark.parametrize("error_shape", ["seed", "string", "bare"])
@pytest.mark.parametrize("error_code", sorted(ERROR_CODES))
def test_task_failure_with_each_code_and_shape(
    hailuo_emulator: EmulatorServer, error_code: str, error_shape: str
) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    hailuo_emulator.client.add_fault("task_failure", error_code=error_code, error_shape=error_shape)

    body = poll(hailuo_emulator, created_task_id(hailuo_emulator)).json()

    assert body["status"] == "failed"
    assert "output" not in body
    assert "usage" not in body
    meaning = ERROR_CODES[error_code]
    if error_shape == "seed":
        assert body["error"] == {"code": SEED_INTEGER_CODES[error_code], "error_message": meaning}
    elif error_shape == "string":
        assert body["error"] == {"code": error_code, "message": meaning}
    else:
        assert body["error"] == f"{meaning} (code {error_code})"
    task = parse_task(body)
    assert task.error is not None
    assert task.error.code == (None if error_shape == "bare" else error_code)


def test_task_failure_waits_for_render_time_and_hits_the_next_n_tasks(
    hailuo_emulator: EmulatorServer,
) -> None:
    client = hailuo_emulator.client
    client.configure(render_seconds=0.2)
    client.add_fault("task_failure", times=2, error_code="010004099", error_message="no capacity")

    task_ids = [created_task_id(hailuo_emulator) for _ in range(3)]
    assert {poll(hailuo_emulator, t).json()["status"] for t in task_ids} == {"in_progress"}
    time.sleep(0.25)
    bodies = [poll(hailuo_emulator, t).json() for t in task_ids]

    assert [b["status"] for b in bodies] == ["failed", "failed", "completed"]
    assert bodies[0]["error"] == {"code": 10004099, "error_message": "no capacity"}


def test_task_failure_can_end_as_cancelled(hailuo_emulator: EmulatorServer) -> None:
    hailuo_emulator.client.configure(render_seconds=0)
    hailuo_emulator.client.add_fault("task_failure", task_status="cancelled")

    body = poll(hailuo_emulator, created_task_id(hailuo_emulator)).json()

    assert body["status"] == "cancelled"
    assert body["error"] is None
    assert parse_task(body).is_final


def test_forced_task_status(hailuo_emulator: EmulatorServer) -> None:
    client = hailuo_emulator.client
    client.configure(render_seconds=60)
    failed, cancelled, odd = (created_task_id(hailuo_emulator) for _ in range(3))

    client.set_task_status(failed, "failed", error_code="010004097", error_shape="string")
    client.set_task_status(cancelled, "cancelled")
    client.set_task_status(odd, "processing")

    assert poll(hailuo_emulator, failed).json()["error"] == {
        "code": "010004097",
        "message": "HTTP error response",
    }
    assert poll(hailuo_emulator, cancelled).json()["status"] == "cancelled"
    assert poll(hailuo_emulator, odd).json()["status"] == "processing"
    assert client.task(odd)["forced"] is True
    assert client.stats()["tasks_by_status"] == {"cancelled": 1, "failed": 1, "processing": 1}
    with pytest.raises(EmulatorControlError, match="task not found"):
        client.set_task_status("task_nope", "failed")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"kind": "explode"}, "kind='explode'"),
        ({"kind": "slow", "delay": 1}, "unknown option"),
        ({"kind": "drop_after_accept", "target": "poll"}, "target must be 'create'"),
        ({"kind": "status", "times": 0}, "times must be"),
        ({"kind": "task_failure", "error_code": "E1"}, "must be digits"),
        ({"kind": "malformed", "malformed": "garbled"}, "malformed must be"),
        ({"kind": "status", "body_shape": "xml"}, "body_shape must be one of"),
        ({"kind": "truncate", "target": "poll"}, "target must be 'download'"),
        ({"kind": "truncate", "target": "any"}, "target must be 'download'"),
        ({"kind": "truncate", "delay_seconds": 1}, "unknown option"),
    ],
)
def test_invalid_fault_specs_are_refused(
    hailuo_emulator: EmulatorServer, spec: dict[str, Any], expected: str
) -> None:
    with pytest.raises(EmulatorControlError, match=expected):
        hailuo_emulator.client.add_faults([{"kind": "drop"}, spec])

    assert hailuo_emulator.client.faults() == []  # all or nothing


# --- load -----------------------------------------------------------------------------------------


def test_a_thousand_concurrent_pollers_are_held_at_once_and_all_get_200(
    hailuo_emulator: EmulatorServer,
) -> None:
    """One client session with 1,000 connections; the delay makes the requests overlap for real
    (long enough that a busy machine opens them all before the first is answered)."""
    task_id = created_task_id(hailuo_emulator)
    hailuo_emulator.client.configure(response_delay_seconds=5)
    url = f"{hailuo_emulator.url}{CREATE_PATH}/task/{task_id}"
    headers = auth(hailuo_emulator)

    async def poll_all(count: int) -> list[int]:
        connector = aiohttp.TCPConnector(limit=count)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one() -> int:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*(one() for _ in range(count)))

    statuses = asyncio.run(poll_all(1000))

    assert statuses == [200] * 1000
    stats = hailuo_emulator.client.stats()
    assert stats["poll"] == 1000
    assert stats["status_codes_by_endpoint"]["poll"] == {"200": 1000}
    assert stats["max_in_flight"] >= 900
    assert stats["in_flight"] == 0
    assert 900 <= stats["connections_opened"] <= 1001  # the connector's limit, plus the create's


# --- how it is started ----------------------------------------------------------------------------


def test_connection_fixture_points_at_the_emulator(
    hailuo_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_HAILUO_DEFAULT"])

    assert hailuo_connection == "hailuo_default"
    assert connection == {"conn_type": "hailuo", "host": hailuo_emulator.url, "password": "test-key"}


def test_pytest_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, airflow_provider_hailuo.emulator.pytest_plugin; "
        "print(sorted(m for m in ('aiohttp', 'airflow', 'requests') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "[]"


def test_console_script_module_imports_no_airflow() -> None:
    code = "import sys, airflow_provider_hailuo.emulator.__main__; print('airflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "False"


def test_console_script_leaves_no_airflow_home_behind(tmp_path: Path) -> None:
    """With AIRFLOW_HOME unset, Airflow's import would create ~/airflow/logs; a temporary home is used."""
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_HOME"}
    env.update(HOME=str(home), TMPDIR=str(temp))
    script = Path(sys.executable).with_name("hailuo-emulator")
    process = subprocess.Popen(
        [str(script), "--port", "0", "--render-seconds", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = requests.post(
            url + CREATE_PATH,
            json=create_body(),
            headers={"Authorization": "Bearer test-key"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200
        assert [p.name.startswith("hailuo-emulator-airflow-home-") for p in temp.iterdir()] == [True]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert not (home / "airflow").exists()
    assert list(temp.iterdir()) == []  # the temporary home is removed on exit


def test_console_script_prints_its_url_and_stops_on_sigterm() -> None:
    from airflow_provider_hailuo.emulator.client import EmulatorClient

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_hailuo.emulator",
            "--port",
            "0",
            "--api-key",
            "k",
            "--render-seconds",
            "0",
            "--video-url-ttl-seconds",
            "30",
            "--not-found-after-create-seconds",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with EmulatorClient(url) as client:
            client.wait_until_ready(timeout=10)
            config = client.config()
            assert (config["api_key"], config["video_url_ttl_seconds"]) == ("k", 30)
            assert config["not_found_after_create_seconds"] == 0.5
            response = requests.post(
                url + CREATE_PATH, json=create_body(), headers={"Authorization": "Bearer k"}, timeout=TIMEOUT
            )
            assert response.status_code == 200
            assert client.stats()["tasks_created"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_poll_log_tells_which_connection_polled_what(hailuo_emulator: EmulatorServer) -> None:
    headers = {"Authorization": f"Bearer {hailuo_emulator.api_key}"}
    body = {
        "model": "minimax_hailuo_02_i2v",
        "input": [{"params": {"first_frame_image": "https://example.com/a.png"}}],
    }
    task_id = requests.post(
        f"{hailuo_emulator.url}/model/v1/generation", json=body, headers=headers, timeout=10
    ).json()["id"]
    with requests.Session() as one, requests.Session() as other:
        for session in (one, one, other):
            session.get(
                f"{hailuo_emulator.url}/model/v1/generation/task/{task_id}", headers=headers, timeout=10
            )
    polls = hailuo_emulator.client.polls()
    assert [poll["task_id"] for poll in polls] == [task_id] * 3
    first, second, third = (poll["client_port"] for poll in polls)
    assert first == second != third
    assert polls[0]["at"] <= polls[1]["at"] <= polls[2]["at"]
    hailuo_emulator.client.reset()
    assert hailuo_emulator.client.polls() == []


def test_stopping_with_a_request_still_in_flight_leaves_no_task_behind() -> None:
    """A handler still sleeping (a slow fault) is cancelled and finished when the emulator stops,
    not left for the garbage collector to report as "Task was destroyed but it is pending"."""
    import gc
    import logging

    from airflow_provider_hailuo.emulator.server import EmulatorServer

    destroyed: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "destroyed but it is pending" in record.getMessage():
                destroyed.append(record.getMessage())

    handler = Collect()
    logging.getLogger("asyncio").addHandler(handler)
    try:
        with EmulatorServer(render_seconds=0) as server:
            server.client.add_fault("slow", target="poll", delay_seconds=30)

            with pytest.raises(requests.ReadTimeout):  # given up on: the handler sleeps on
                requests.get(server.url + "/model/v1/generation/task/task_x", timeout=0.3)
            assert server.client.stats()["in_flight"] == 1
        gc.collect()
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
    assert destroyed == []


def test_realistic_renders_queue_behind_the_slots_and_start_when_one_frees(
    hailuo_emulator: EmulatorServer,
) -> None:
    # Hailuo 2.3 Fast at 768P, 6 s: a median of 30 s, scaled to 0.3 s; one render at a time.
    hailuo_emulator.client.configure(
        render_profile="realistic", render_time_scale=0.01, render_slots=1, render_seed=5
    )
    body = build_create_body("minimax_hailuo_23_fast_i2v", {"first_frame_image": FRAME_URL})
    first, second = (create(hailuo_emulator, body).json()["id"] for _ in range(2))
    waiting = poll(hailuo_emulator, second).json()
    assert waiting["status"] == "in_progress"
    assert waiting.get("progress", 0.0) == 0.0
    assert "started_at" not in waiting["metadata"]  # queued: not started
    deadline = time.monotonic() + 60
    while poll(hailuo_emulator, second).json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done = [poll(hailuo_emulator, task_id).json() for task_id in (first, second)]
    # The second started when the first was done, not when it was created (the times are written
    # to the millisecond from the wall clock, the queue kept on the monotonic one: 5 ms apart at most).
    moment = {
        name: datetime.fromisoformat(value)
        for name, value in done[1]["metadata"].items()
        if name.endswith("_at")
    }
    first_done = datetime.fromisoformat(done[0]["metadata"]["completed_at"])
    assert moment["started_at"] >= first_done - timedelta(milliseconds=5)
    assert moment["started_at"] > moment["in_queue_at"]
