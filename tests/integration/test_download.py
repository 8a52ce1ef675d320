"""Downloading a task's videos (``hooks/download.py``): named after the task, whole or absent, on
local disk and object storage, with expiring URLs renewed from the gateway.

The emulator serves every video as ``.../output.mp4?Expires=...&Signature=...`` with bytes that name
their task, so a file kept under the wrong name or cut short is told apart here.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.emulator.videos import task_id_of_video
from airflow_provider_hailuo.exceptions import HailuoError, HailuoTransientError
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.gateway.protocol import HailuoTask, parse_task
from airflow_provider_hailuo.gateway.retry import RetryPolicy
from airflow_provider_hailuo.hooks.download import target_paths
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from tests.airflow_versions import EVERY_AIRFLOW

FRAME = Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg"
FAST_RETRIES = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.05, max_retry_after=5.0)


@pytest.fixture
def hook(hailuo_connection: str) -> HailuoHook:
    return HailuoHook(hailuo_connection, retry_policy=FAST_RETRIES)


def completed(hook: HailuoHook) -> HailuoTask:
    task = hook.wait_for_task(hook.submit(GenerationRequest(first_frame_image=FRAME)), poll_interval=0.05)
    assert task.is_success
    return task


def owner(path: Any) -> str | None:
    return task_id_of_video(Path(str(path)).read_bytes())


def leftovers(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".part")]


# -- names ------------------------------------------------------------------------------------------


def test_videos_downloaded_into_one_folder_keep_their_own_names_and_bytes(
    hook: HailuoHook, tmp_path: Path
) -> None:
    first, second = completed(hook), completed(hook)
    # The CDN calls both videos output.mp4: a name taken from the URL would keep one of them.
    assert first.video_url.split("?")[0].rsplit("%2F", 1)[-1] == "output.mp4"  # type: ignore[union-attr]
    for task in (first, second):
        (path,) = hook.download_videos(task, f"{tmp_path}/videos/")
        assert Path(path) == tmp_path / "videos" / f"{task.id}.mp4"
        assert owner(path) == task.id


@EVERY_AIRFLOW
def test_object_storage_folders_and_file_names(hook: HailuoHook, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    task = completed(hook)
    (as_file,) = hook.download_videos(task, tmp_path / "out" / "clip.mp4")
    assert Path(as_file) == tmp_path / "out" / "clip.mp4"
    (by_uri,) = hook.download_videos(task, f"file://{tmp_path}/store/")
    assert by_uri.endswith(f"/store/{task.id}.mp4")
    folder = ObjectStoragePath(f"file://{tmp_path}/objects/")
    folder.mkdir(parents=True, exist_ok=True)
    (by_path,) = hook.download_videos(task, folder)
    assert ObjectStoragePath(by_path).read_bytes() == Path(as_file).read_bytes()
    assert owner(as_file) == task.id
    assert leftovers(tmp_path) == []


def test_a_task_with_several_videos_numbers_them() -> None:
    urls = ["https://cdn.example/a/output.mp4?sig=1", "https://cdn.example/b/output.mp4?sig=2"]
    assert [str(p) for p in target_paths("task_1", urls, "/videos/")] == [
        "/videos/task_1_1.mp4",
        "/videos/task_1_2.mp4",
    ]
    assert [str(p) for p in target_paths("task_1", urls, "/videos/clip.mp4")] == [
        "/videos/clip_1.mp4",
        "/videos/clip_2.mp4",
    ]
    assert [str(p) for p in target_paths("task_1", urls[:1], "/videos/clip.mp4")] == ["/videos/clip.mp4"]


@EVERY_AIRFLOW
@pytest.mark.parametrize("form", ["text", "Path", "ObjectStoragePath"])
def test_a_folder_that_does_not_exist_yet_is_a_folder_in_every_form(tmp_path: Path, form: str) -> None:
    """Path objects drop a trailing slash, and an object store prefix never exists: two tasks must
    still get two files."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    folder = tmp_path / "videos"
    destination: Any = {
        "text": str(folder),
        "Path": folder,
        "ObjectStoragePath": ObjectStoragePath(f"file://{folder}/"),
    }[form]
    urls = ["https://cdn.example/k/output.mp4?sig=1"]
    first, second = (str(target_paths(task, urls, destination)[0]) for task in ("task_a", "task_b"))
    assert first.endswith("videos/task_a.mp4")
    assert second.endswith("videos/task_b.mp4")


def test_a_file_holding_another_video_is_never_replaced(hook: HailuoHook, tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    first, second = completed(hook), completed(hook)
    hook.download_videos(first, target)
    with pytest.raises(HailuoError, match=f"already holds the video of Hailuo task {first.id}") as info:
        hook.download_videos(second, target)
    assert f"Hailuo task {second.id}'s video is made and paid for" in str(info.value)
    assert owner(target) == first.id
    hook.download_videos(first, target)  # its own video again (a retry): replaced
    assert owner(target) == first.id


def test_a_file_the_provider_did_not_write_is_never_replaced(hook: HailuoHook, tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"someone else's video")
    with pytest.raises(HailuoError, match="a file this provider did not write; it is not replaced"):
        hook.download_videos(completed(hook), target)
    assert target.read_bytes() == b"someone else's video"


@pytest.mark.parametrize(
    ("destination", "is_file"),
    [
        ("/data/clip.mp4", True),
        ("/data/clip.MOV", True),
        ("s3://bucket/videos/clip.mp4", True),
        ("/data/manual__2026-12-03T10:00:00.123456+00:00", False),
        ("/data/2026.12.03", False),
        ("/data/videos", False),
        ("/data/clip.mp4/", False),
        ("s3://bucket.with.dots", False),
        (Path("/data/v1.2"), False),
        (Path("/data/clip.webm"), True),
    ],
)
def test_a_destination_is_a_file_only_when_its_name_is_a_videos(destination: Any, is_file: bool) -> None:
    from airflow_provider_hailuo.media.storage import names_a_file

    assert names_a_file(destination) is is_file
    (target,) = target_paths("task_1", ["https://cdn.example/k/output.mp4?sig=1"], destination)
    assert (target.name == "task_1.mp4") is not is_file


@EVERY_AIRFLOW  # how a mapped task instance finds its mapped task differs between Airflow lines
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("name", ["one_file", "file_per_index", "dotted_folder"])
def test_a_mapped_task_never_downloads_two_videos_into_one_file(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path, name: str
) -> None:
    from tests.integration.support import load_dag, task_results

    dag = load_dag("tests", "hailuo_test_dags", f"hailuo_test_mapped_{name}")
    results = task_results(dag.test(run_conf={"folder": str(tmp_path)}))
    if name == "one_file":  # refused before any request, by every index
        assert {state for state, _ in results.values()} == {"failed"}
        assert hailuo_emulator.client.stats()["total"] == 0
        return
    assert {state for state, _ in results.values()} == {"success"}
    paths = [Path(value["local_path"]) for _, value in results.values()]
    assert len(set(paths)) == 2
    assert {owner(path) for path in paths} == {value["hailuo_task_id"] for _, value in results.values()}
    if name == "dotted_folder":  # the run id (with its dots) is a folder, each video named after its task
        assert {path.name for path in paths} == {
            f"{value['hailuo_task_id']}.mp4" for _, value in results.values()
        }


# -- whole or absent --------------------------------------------------------------------------------


@EVERY_AIRFLOW
@pytest.mark.parametrize("where", ["local", "object storage"])
def test_a_download_cut_short_never_leaves_a_file_under_the_final_name(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path, where: str
) -> None:
    task = completed(hook)
    hailuo_emulator.client.add_fault("truncate", target="download", times=FAST_RETRIES.max_attempts)
    destination = f"{tmp_path}/videos/" if where == "local" else f"file://{tmp_path}/videos/"
    with pytest.raises(HailuoTransientError, match="cut short"):
        hook.download_videos(task, destination)
    assert not (tmp_path / "videos" / f"{task.id}.mp4").exists()
    assert leftovers(tmp_path) == []


def test_a_download_cut_short_once_is_retried_whole(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task = completed(hook)
    hailuo_emulator.client.add_fault("truncate", target="download")
    (path,) = hook.download_videos(task, f"file://{tmp_path}/videos/")
    assert owner(path.removeprefix("file://")) == task.id
    assert hailuo_emulator.client.stats()["download"] == 2


def test_a_dropped_download_is_retried(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task = completed(hook)
    hailuo_emulator.client.add_fault("drop", target="download", times=2)
    (path,) = hook.download_videos(task, tmp_path)
    assert owner(path) == task.id
    assert hailuo_emulator.client.stats()["download"] == 3


# -- expiring URLs ----------------------------------------------------------------------------------


def test_an_expired_url_is_renewed_from_the_gateway(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Two seconds: Expires is whole seconds, so a fresh URL then lives at least one.
    hailuo_emulator.client.configure(video_url_ttl_seconds=2)
    task = completed(hook)
    time.sleep(2.5)
    polls = hailuo_emulator.client.stats()["poll"]
    (path,) = hook.download_videos(task, tmp_path)
    assert owner(path) == task.id
    assert hailuo_emulator.client.stats()["poll"] == polls + 1  # one read for a fresh URL
    assert hailuo_emulator.client.stats()["status_codes_by_endpoint"]["download"]["403"] == 1


def test_an_expired_url_the_gateway_hands_out_again_fails_saying_so(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    hailuo_emulator.client.configure(video_url_ttl_seconds=2, stable_video_urls=True)
    task = completed(hook)
    time.sleep(2.5)
    with pytest.raises(
        HailuoError, match=f"Hailuo task {task.id} answered HTTP 403, and the gateway hands out"
    ):
        hook.download_videos(task, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_video_gone_with_its_task_fails_naming_the_task(
    hook: HailuoHook, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task = completed(hook)
    hailuo_emulator.client.reset()  # the gateway forgot the task and its files
    with pytest.raises(HailuoError, match=f"Hailuo task {task.id} is gone from the gateway") as info:
        hook.download_videos(task, tmp_path)
    assert "Signature" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


# -- stand-in CDNs: what the emulator does not do ---------------------------------------------------


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


GZIP_PLAIN_BODY = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000


class _GzipHandler(_RecordingHandler):
    """A CDN that compresses: Content-Length counts compressed bytes, the file holds the plain ones."""

    def do_GET(self) -> None:
        import gzip

        body = gzip.compress(GZIP_PLAIN_BODY)
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    _RecordingHandler.seen = []
    yield start
    for server in servers:
        server.shutdown()


def stand_in_task(url: str) -> HailuoTask:
    return parse_task(
        {"id": "task_cdn", "status": "completed", "output": [{"content": [{"type": "video", "url": url}]}]}
    )


def test_the_api_key_is_never_sent_to_another_host(hook: HailuoHook, serve: Any, tmp_path: Path) -> None:
    hook.download_videos(stand_in_task(f"{serve(_RecordingHandler)}/videos/clip.mp4"), tmp_path)
    assert (tmp_path / "task_cdn.mp4").exists()
    assert _RecordingHandler.seen
    assert all("Authorization" not in headers for headers in _RecordingHandler.seen)


def test_a_compressed_download_is_not_mistaken_for_a_short_one(
    hook: HailuoHook, serve: Any, tmp_path: Path
) -> None:
    (path,) = hook.download_videos(stand_in_task(f"{serve(_GzipHandler)}/clip.mp4"), tmp_path)
    assert Path(path).read_bytes() == GZIP_PLAIN_BODY


@EVERY_AIRFLOW
@pytest.mark.parametrize("where", ["local", "object storage"])
def test_the_partial_file_of_a_killed_try_is_removed_once_the_video_is_whole(
    hook: HailuoHook, tmp_path: Path, where: str
) -> None:
    task = completed(hook)
    videos = tmp_path / "videos"
    videos.mkdir()
    stale = videos / f".{task.id}.mp4.0badc0de.part"  # as a worker killed mid-download leaves it
    stale.write_bytes(b"half a video")
    other = videos / ".task_other.mp4.0badc0de.part"  # another task's, still being written
    other.write_bytes(b"someone else's half")
    hook.download_videos(task, f"{videos}/" if where == "local" else f"file://{videos}/")
    assert sorted(path.name for path in videos.iterdir()) == sorted([f"{task.id}.mp4", other.name])
