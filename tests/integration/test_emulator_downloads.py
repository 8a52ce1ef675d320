"""The emulator's video URLs and files, over real HTTP: shaped like MiniMax's object-storage URLs,
signed, fresh on every poll and expiring, each task's file its own; and the faults around them.

These are the least convenient behaviours the real service plausibly has (docs/gateway-protocol.md, "Quotas
and downloads"): what is pinned down here is what a client under test cannot get away with.
"""

from __future__ import annotations

import http.client
import re
import struct
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import pytest
import requests

from airflow_provider_hailuo.emulator import task_id_of_video, video_bytes_for
from airflow_provider_hailuo.emulator.videos import sample_video
from tests.integration.test_emulator import (
    TIMEOUT,
    create,
    created_task_id,
    poll,
    post_raw_config,
    video_url_of,
)

if TYPE_CHECKING:
    from airflow_provider_hailuo.emulator.server import EmulatorServer


KEY_PATTERN = re.compile(
    r"inference_output/video/\d{8}/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/output\.mp4"
)


@pytest.fixture
def emulator(hailuo_emulator: EmulatorServer) -> EmulatorServer:
    """The reset emulator, with tasks that complete as soon as they are created."""
    hailuo_emulator.client.configure(render_seconds=0)
    return hailuo_emulator


def completed_video_url(emulator: EmulatorServer) -> str:
    return video_url_of(emulator, created_task_id(emulator))


def query_of(url: str) -> dict[str, str]:
    return {name: value for name, (value,) in parse_qs(urlsplit(url).query, strict_parsing=True).items()}


def with_query(url: str, **changes: str | None) -> str:
    """``url`` with query values replaced (``None`` drops one), percent-encoded again."""
    query = {**query_of(url), **changes}
    encoded = "&".join(
        f"{name}={quote(value, safe='')}" for name, value in query.items() if value is not None
    )
    return urlunsplit(urlsplit(url)._replace(query=encoded))


def expect_cdn_error(response: requests.Response, status: int, code: str) -> None:
    """Object storage's XML error, not the gateway's JSON: a client must not parse it as the API's."""
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/xml")
    assert f"<Code>{code}</Code>" in response.text
    with pytest.raises(ValueError):  # noqa: PT011 - requests' JSONDecodeError is a ValueError
        response.json()


def wait_until_expired(url: str) -> None:
    """Sleep past the URL's own ``Expires`` (whole Unix seconds), however the clock falls."""
    time.sleep(max(0.0, int(query_of(url)["Expires"]) - time.time()) + 0.05)


# --- the URL --------------------------------------------------------------------------------------


def test_video_urls_look_like_object_storage_urls_all_ending_in_output_mp4(emulator: EmulatorServer) -> None:
    issued_at = time.time()
    urls = [completed_video_url(emulator) for _ in range(2)]

    keys = []
    for url in urls:
        parts = urlsplit(url)
        assert url.startswith(f"{emulator.url}/cdn/")
        encoded_key = parts.path.removeprefix("/cdn/")
        assert "/" not in encoded_key  # the whole key is one percent-encoded path segment
        assert "%2F" in encoded_key
        keys.append(unquote(encoded_key))
        assert KEY_PATTERN.fullmatch(keys[-1])
        assert PurePosixPath(unquote(parts.path)).name == "output.mp4"
        query = query_of(url)
        assert set(query) == {"Expires", "OSSAccessKeyId", "Signature"}
        assert issued_at + 600 - 1 <= int(query["Expires"]) <= time.time() + 600  # the default TTL
    assert keys[0] != keys[1]


def test_public_url_is_the_base_of_video_urls(emulator: EmulatorServer) -> None:
    emulator.client.configure(public_url="https://videos.example:8443/")

    assert completed_video_url(emulator).startswith("https://videos.example:8443/cdn/inference_output%2F")


def test_each_poll_issues_a_fresh_url_and_the_older_ones_keep_working(emulator: EmulatorServer) -> None:
    task_id = created_task_id(emulator)

    urls = [video_url_of(emulator, task_id) for _ in range(3)]

    assert len(set(urls)) == 3
    assert len({urlsplit(url).path for url in urls}) == 3  # a new key each time, not only a new expiry
    downloads = [requests.get(url, timeout=TIMEOUT) for url in urls]
    assert [d.status_code for d in downloads] == [200, 200, 200]
    assert {task_id_of_video(d.content) for d in downloads} == {task_id}


def test_stable_video_urls_hand_out_the_first_url_on_every_read(emulator: EmulatorServer) -> None:
    emulator.client.configure(stable_video_urls=True)
    task_id = created_task_id(emulator)
    assert len({video_url_of(emulator, task_id) for _ in range(3)}) == 1
    emulator.client.configure(stable_video_urls=False)  # back to a fresh URL per read
    task_id = created_task_id(emulator)
    assert len({video_url_of(emulator, task_id) for _ in range(2)}) == 2


def test_a_url_expires_after_its_ttl_with_an_xml_403(emulator: EmulatorServer) -> None:
    emulator.client.configure(video_url_ttl_seconds=2)
    task_id = created_task_id(emulator)
    issued_at = time.time()
    url = video_url_of(emulator, task_id)
    assert issued_at + 1 <= int(query_of(url)["Expires"]) <= time.time() + 2

    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    wait_until_expired(url)
    expired = requests.get(url, timeout=TIMEOUT)

    expect_cdn_error(expired, 403, "AccessDenied")
    assert "expired" in expired.text
    assert requests.get(video_url_of(emulator, task_id), timeout=TIMEOUT).status_code == 200  # poll again
    stats = emulator.client.stats()
    assert stats["status_codes_by_endpoint"]["download"] == {"200": 2, "403": 1}


def test_a_ttl_of_zero_issues_expired_urls_until_reset(emulator: EmulatorServer) -> None:
    emulator.client.configure(video_url_ttl_seconds=0)

    expect_cdn_error(requests.get(completed_video_url(emulator), timeout=TIMEOUT), 403, "AccessDenied")

    emulator.client.reset()
    assert emulator.client.config()["video_url_ttl_seconds"] == 600
    emulator.client.configure(render_seconds=0)
    assert requests.get(completed_video_url(emulator), timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("key", ["video_url_ttl_seconds", "not_found_after_create_seconds"])
@pytest.mark.parametrize("value", ["-1", '"600"', "true", "null", "1e400"])
def test_the_new_durations_must_be_seconds(hailuo_emulator: EmulatorServer, key: str, value: str) -> None:
    before = hailuo_emulator.client.config()[key]

    response = post_raw_config(hailuo_emulator, key, value)

    assert response.status_code == 400
    assert f"{key} must be a number >= 0" in response.json()["error"]["message"]
    assert hailuo_emulator.client.config()[key] == before


# --- what the download checks ---------------------------------------------------------------------


def _bad_signature(url: str) -> str:
    signature = query_of(url)["Signature"]
    return with_query(url, Signature=("A" if signature[0] != "A" else "B") + signature[1:])


def _later_expiry(url: str) -> str:
    return with_query(url, Expires=str(int(query_of(url)["Expires"]) + 3600))


def _leading_zero_expiry(url: str) -> str:
    return with_query(url, Expires="0" + query_of(url)["Expires"])


def _plus_sent_raw(url: str) -> str:
    """The signature with its base64 ``+``/``/``/``=`` unescaped: ``+`` then reads as a space."""
    return url.replace("%2B", "+").replace("%3D", "=")


def _double_encoded_key(url: str) -> str:
    return url.replace("%2F", "%252F")


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        (_bad_signature, 403, "SignatureDoesNotMatch"),
        (_later_expiry, 403, "SignatureDoesNotMatch"),
        (_leading_zero_expiry, 403, "SignatureDoesNotMatch"),
        (_double_encoded_key, 403, "SignatureDoesNotMatch"),
        (lambda url: with_query(url, Expires="soon"), 403, "AccessDenied"),
        (lambda url: with_query(url, OSSAccessKeyId="someone-else"), 403, "InvalidAccessKeyId"),
        (lambda url: with_query(url, Signature=None), 403, "AccessDenied"),
        (lambda url: url.partition("?")[0], 403, "AccessDenied"),
    ],
    ids=[
        "bad-signature",
        "later-expiry",
        "leading-zero-expiry",
        "double-encoded-key",
        "expires-not-a-number",
        "other-access-key",
        "no-signature",
        "no-query",
    ],
)
def test_a_tampered_url_is_refused(
    emulator: EmulatorServer, tamper: Callable[[str], str], status: int, code: str
) -> None:
    url = completed_video_url(emulator)

    expect_cdn_error(requests.get(tamper(url), timeout=TIMEOUT), status, code)
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert emulator.client.stats()["status_codes_by_endpoint"]["download"] == {"200": 1, str(status): 1}


def test_a_signature_whose_plus_was_not_escaped_is_refused(emulator: EmulatorServer) -> None:
    """About one signature in three has a ``+`` (base64): issue URLs until one does."""
    task_id = created_task_id(emulator)
    url = next(u for u in (video_url_of(emulator, task_id) for _ in range(200)) if "%2B" in u)

    expect_cdn_error(requests.get(_plus_sent_raw(url), timeout=TIMEOUT), 403, "SignatureDoesNotMatch")
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


def test_a_key_with_its_slashes_decoded_is_the_same_object(emulator: EmulatorServer) -> None:
    """On object storage ``a%2Fb`` and ``a/b`` name one key, and the signature is over the key."""
    task_id = created_task_id(emulator)

    response = requests.get(video_url_of(emulator, task_id).replace("%2F", "/"), timeout=TIMEOUT)

    assert response.status_code == 200
    assert task_id_of_video(response.content) == task_id


def test_a_url_of_a_forgotten_task_is_a_404_no_such_key(emulator: EmulatorServer) -> None:
    url = completed_video_url(emulator)

    emulator.client.reset()

    expect_cdn_error(requests.get(url, timeout=TIMEOUT), 404, "NoSuchKey")
    assert emulator.client.stats()["status_codes_by_endpoint"]["download"] == {"404": 1}


def test_a_signed_url_sent_with_an_authorization_header_is_refused(emulator: EmulatorServer) -> None:
    """As object storage does: a client that sends the API key to the video's host fails here."""
    url = completed_video_url(emulator)
    refused = requests.get(url, headers={"Authorization": f"Bearer {emulator.api_key}"}, timeout=TIMEOUT)
    expect_cdn_error(refused, 400, "InvalidArgument")
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


# --- the bytes ------------------------------------------------------------------------------------


def test_every_task_gets_its_own_playable_bytes(emulator: EmulatorServer) -> None:
    task_ids = [created_task_id(emulator) for _ in range(2)]

    files = [requests.get(video_url_of(emulator, t), timeout=TIMEOUT).content for t in task_ids]

    assert files[0] != files[1]
    sample = sample_video()
    for task_id, data in zip(task_ids, files, strict=True):
        assert data.startswith(sample)  # the real H.264 sample, whole, comes first
        assert data[4:8] == b"ftyp"
        (size,) = struct.unpack(">I", data[len(sample) : len(sample) + 4])
        assert (data[len(sample) + 4 : len(sample) + 8], len(sample) + size) == (b"free", len(data))
        assert data == video_bytes_for(task_id)
        assert task_id_of_video(data) == task_id


def test_task_id_of_video_needs_the_whole_box() -> None:
    data = video_bytes_for("task_abc")

    assert task_id_of_video(sample_video()) is None
    assert task_id_of_video(data[: len(data) // 2]) is None  # a download cut short has no owner
    assert task_id_of_video(data[:-1]) is None
    assert task_id_of_video(b"") is None
    assert task_id_of_video(b"\x00\x00\x00\x04free") is None  # a size smaller than its own header


@pytest.mark.parametrize("size_form", ["large", "to-end"])
def test_task_id_of_video_reads_both_other_box_size_forms(size_form: str) -> None:
    """A box's size may be 64-bit (size field 1) or "to the end of the file" (size field 0)."""
    sample = sample_video()
    payload = video_bytes_for("task_abc")[len(sample) + 8 :]
    if size_form == "large":
        box = struct.pack(">I4sQ", 1, b"free", 16 + len(payload)) + payload
    else:
        box = struct.pack(">I4s", 0, b"free") + payload

    assert task_id_of_video(sample + box) == "task_abc"


# --- faults ---------------------------------------------------------------------------------------


def test_a_proxy_html_404_on_poll(emulator: EmulatorServer) -> None:
    task_id = created_task_id(emulator)
    emulator.client.add_faults(
        [{"kind": "status", "target": "poll", "http_status": 404, "body_shape": "html"}]
    )

    response = poll(emulator, task_id)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<html>")
    assert "<title>404 Not Found</title>" in response.text
    assert "<center>nginx</center>" in response.text
    assert poll(emulator, task_id).json()["status"] == "completed"


def test_truncate_sends_the_full_length_then_half_the_body(emulator: EmulatorServer) -> None:
    task_id = created_task_id(emulator)
    url = urlsplit(video_url_of(emulator, task_id))
    fault = emulator.client.add_fault("truncate")
    assert fault["target"] == "download"
    whole = len(video_bytes_for(task_id))

    connection = http.client.HTTPConnection(emulator.host, emulator.port, timeout=TIMEOUT)
    try:
        connection.request("GET", f"{url.path}?{url.query}")
        response = connection.getresponse()
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == whole
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
    finally:
        connection.close()

    received = cut.value.partial
    assert 0 < len(received) < whole
    assert task_id_of_video(received) is None
    again = requests.get(urlunsplit(url), timeout=TIMEOUT)
    assert task_id_of_video(again.content) == task_id  # one use only
    stats = emulator.client.stats()
    assert stats["faults_applied"] == {"truncate": 1}
    assert stats["status_codes_by_endpoint"]["download"] == {"200": 2}


def test_requests_notices_a_truncated_download(emulator: EmulatorServer) -> None:
    url = completed_video_url(emulator)
    emulator.client.add_fault("truncate")

    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        requests.get(url, timeout=TIMEOUT)


def test_polls_just_after_a_create_are_the_gateways_404(emulator: EmulatorServer) -> None:
    client = emulator.client
    assert client.config()["not_found_after_create_seconds"] == 0
    client.configure(not_found_after_create_seconds=0.4)
    task_id = created_task_id(emulator)

    young = poll(emulator, task_id)

    assert young.status_code == 404
    assert young.json() == poll(emulator, "task_unknown").json() == {"error": {"message": "task not found"}}
    time.sleep(0.45)
    assert poll(emulator, task_id).json()["status"] == "completed"
    assert client.stats()["status_codes_by_endpoint"]["poll"] == {"200": 1, "404": 2}
    client.reset()
    assert client.config()["not_found_after_create_seconds"] == 0
    assert create(emulator).status_code == 200
