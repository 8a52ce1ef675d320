"""A task's videos -> files on local disk or object storage: named after the task, complete or absent.

- Named after the gateway task id (``<task id>.mp4``, ``<task id>_<n>.mp4`` when a task has several
  videos), never after the URL: a CDN may call every video ``output.mp4``, and a mapped batch
  downloading into one folder would keep one video and lose the rest.
- Streamed to a hidden sibling first and renamed once complete, on local disk and on object storage
  alike, so the final name only ever holds a whole video.
- Signed video URLs expire: a URL the CDN refuses is replaced by a fresh one read from the gateway.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests

from airflow_provider_hailuo.exceptions import (
    HailuoAPIError,
    HailuoError,
    HailuoNotFoundError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway import http_errors
from airflow_provider_hailuo.gateway.urls import without_query
from airflow_provider_hailuo.hooks.transport import requests_error
from airflow_provider_hailuo.media.kinds import Kind, kind_of
from airflow_provider_hailuo.media.storage import VIDEO_SUFFIXES, names_a_file

if TYPE_CHECKING:
    from airflow_provider_hailuo.gateway.protocol import HailuoTask
    from airflow_provider_hailuo.gateway.retry import Logger, RetryPolicy
    from airflow_provider_hailuo.hooks.settings import GatewaySettings

_CHUNK = 1024 * 1024
_DEFAULT_SUFFIX = ".mp4"
# What a CDN answers for a signed URL past its expiry (403 on S3 and OSS, 410 on some); a 404
# there can also be an expired key. Any of these earns one fresh URL from the gateway.
_EXPIRED_URL_STATUSES = frozenset({403, 404, 410})


@dataclass(frozen=True)
class DownloadedVideo:
    """A video written in full: where, and its proof (size and SHA-256 of the bytes written), so a
    downstream task or an auditor can check the file is the one paid for."""

    path: str
    size_bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size_bytes": self.size_bytes, "sha256": self.sha256}


def _suffix(url: str) -> str:
    """The video's extension from its URL when it is a video's, else ``.mp4``: the URL's name is
    not used, only what kind of file it says it is."""
    suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()
    return suffix if suffix in VIDEO_SUFFIXES else _DEFAULT_SUFFIX


def _as_path(destination: Any) -> Any:
    """``download_to`` as a path to write under: a URI becomes an ObjectStoragePath, text or a
    path object a local Path; an ObjectStoragePath stays itself."""
    kind = kind_of(destination)
    if isinstance(destination, str) and kind in (Kind.URI, Kind.HTTP_URL):
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath(destination)
    if isinstance(destination, (str, os.PathLike)) and kind is not Kind.STORAGE_PATH:
        return Path(os.path.expanduser(os.fspath(destination)))
    return destination


def target_paths(hailuo_task_id: str, urls: Sequence[str], destination: Any) -> list[Any]:
    """Where each of a task's videos goes: into a folder under the task's id, or at the given file
    name (``<stem>_<n><suffix>`` for each video when there are several)."""
    path = _as_path(destination)
    is_folder = not names_a_file(destination)
    several = len(urls) > 1
    targets = []
    for index, url in enumerate(urls, start=1):
        if is_folder:
            name = f"{hailuo_task_id}_{index}" if several else hailuo_task_id
            targets.append(path / f"{name}{_suffix(url)}")
        elif several:
            targets.append(path.with_name(f"{path.stem}_{index}{path.suffix or _suffix(url)}"))
        else:
            targets.append(path)
    return targets


class VideoDownloader:
    """Streams videos with one hook's session, settings and retry policy."""

    def __init__(
        self,
        session: requests.Session,
        settings: GatewaySettings,
        retry_policy: RetryPolicy,
        logger: Logger,
    ) -> None:
        self._session = session
        self._settings = settings
        self._retry_policy = retry_policy
        self._log = logger

    def download_task(
        self, task: HailuoTask, destination: Any, *, refresh: Callable[[], HailuoTask]
    ) -> list[DownloadedVideo]:
        """Every video of ``task``; a URL the CDN refuses is read again from the gateway once."""
        targets = target_paths(task.id, task.video_urls, destination)
        for target in targets:  # all of them before any byte is written
            _refuse_another_tasks_file(target, task.id)
        for target in targets:  # before the video: a try killed in between leaves no file unclaimed
            _claim(target, task.id)
        written = []
        for index, target in enumerate(targets):
            try:
                video = self.download(task.video_urls[index], target)
            except HailuoAPIError as refused:
                if refused.http_status not in _EXPIRED_URL_STATUSES:
                    raise
                fresh = self._fresh_url(task, index, refresh, refused)
                video = self.download(fresh, target)
            written.append(video)
        return written

    def _fresh_url(
        self, task: HailuoTask, index: int, refresh: Callable[[], HailuoTask], refused: HailuoAPIError
    ) -> str:
        self._log.warning(
            "The video URL of Hailuo task %s was refused (HTTP %s), as an expired one is; reading the task "
            "again for a fresh URL",
            task.id,
            refused.http_status,
        )
        try:
            again = refresh()
        except HailuoNotFoundError as err:
            if not err.gateway_error:
                raise
            raise HailuoError(
                f"Hailuo task {task.id} is gone from the gateway, and with it its video (its URL answered "
                f"HTTP {refused.http_status}). It cannot be downloaded any more; running the Airflow task "
                "with other parameters or durable=False makes (and pays for) a new one."
            ) from None
        if len(again.video_urls) <= index:
            raise HailuoError(
                f"Hailuo task {task.id} no longer lists video {index + 1} (its URL answered HTTP "
                f"{refused.http_status}); it cannot be downloaded any more"
            )
        fresh = again.video_urls[index]
        if fresh == task.video_urls[index]:
            raise HailuoError(
                f"The video URL of Hailuo task {task.id} answered HTTP {refused.http_status}, and the gateway "
                "hands out the same URL again: the video cannot be downloaded any more. Running the Airflow "
                "task with other parameters or durable=False makes (and pays for) a new one."
            )
        return fresh

    def download(self, url: str, target: Any) -> DownloadedVideo:
        """Stream one URL to ``target``, with the retry policy's retries for transient faults."""
        if _exists(target):
            # The same task's video again (a retry): see _refuse_another_tasks_file.
            self._log.info("Replacing %s, an earlier download of the same video", target)
        for attempt in self._retry_policy.retrying(logger=self._log):
            with attempt:
                video = self._stream_to(url, target)
        self._log.info(
            "Downloaded the video to %s (%d bytes, SHA-256 %s)", target, video.size_bytes, video.sha256
        )
        return video

    def _stream_to(self, url: str, target: Any) -> DownloadedVideo:
        settings = self._settings
        shown = without_query(url)
        failure: HailuoError | None = None
        video: DownloadedVideo | None = None
        try:
            # No API key: a video URL is signed, and its own credential; the key goes to the gateway's
            # API only, even where the videos are served from the gateway's own host.
            with self._session.get(
                url, stream=True, timeout=(settings.connect_timeout, settings.timeout)
            ) as response:
                if response.status_code >= 400:
                    failure = http_errors.error_for_status(
                        response.status_code,
                        response.content,
                        response.headers.get("Retry-After"),
                        fetching=shown,
                    )
                else:
                    video = _write_complete(response, target, shown)
        except requests.exceptions.ChunkedEncodingError:
            failure = HailuoTransientError(
                f"download of {shown} was cut short: the connection closed mid-body"
            )
        except requests.RequestException as err:
            failure = requests_error(err, shown, peer="the video's host")
        if failure is not None:  # raised here, not in the except block: see transport.requests_error
            raise failure
        assert video is not None  # written, or failure was set
        return video


def _owner_note(target: Any) -> Any:
    """The hidden file beside a video downloaded under a name the DAG chose: its gateway task id."""
    return target.parent / f".{target.name}.hailuo-task"


def _named_after(target: Any, task_id: str) -> bool:
    """Whether ``target`` has the name a folder gives ``task_id``'s video (``<task id>[_<n>].<ext>``)."""
    stem = PurePosixPath(str(target.name)).stem
    return stem == task_id or (stem.startswith(f"{task_id}_") and stem[len(task_id) + 1 :].isdigit())


def _noted_owner(target: Any) -> str | None:
    try:
        return str(_owner_note(target).read_text()).strip() or None
    except (OSError, ValueError):
        return None


def _refuse_another_tasks_file(target: Any, task_id: str) -> None:
    """A file already under ``target`` is replaced only by its own video again (a retry)."""
    if not _exists(target) or _named_after(target, task_id):
        return
    owner = _noted_owner(target)
    if owner == task_id:
        return
    held = f"the video of Hailuo task {owner}" if owner else "a file this provider did not write"
    raise HailuoError(
        f"download_to: {without_query(str(target))} already holds {held}; it is not replaced. Hailuo "
        f"task {task_id}'s video is made and paid for: give download_to a folder (each video is then "
        "named after its gateway task) or another file name, or remove the file, then clear the task "
        "(its retry resumes the same gateway task and pays nothing)."
    )


def _claim(target: Any, task_id: str) -> None:
    """Note which task's video a file the DAG named holds (a folder's are named after their task)."""
    if not _named_after(target, task_id):
        with contextlib.suppress(OSError):
            _owner_note(target).write_text(task_id)


def _exists(target: Any) -> bool:
    try:
        return bool(target.exists())
    except OSError:
        return False


def _write_complete(response: requests.Response, target: Any, shown: str) -> DownloadedVideo:
    """Write the body to a hidden sibling, check it is whole, then give it the final name; the
    video's size and SHA-256 are those of the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Random per try: two tries of one task (a killed worker's and its retry's) never share it.
    partial = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        # Content-Length counts the bytes on the wire: compare it with what urllib3 read from the
        # socket, not with the (possibly decompressed) bytes written.
        expected = response.headers.get("Content-Length", "")
        received = response.raw.tell()
        if expected.isdigit() and received != int(expected):
            raise HailuoTransientError(f"download of {shown} was cut short: {received} of {expected} bytes")
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):  # never written, or already gone: nothing to remove
            partial.unlink()
        raise
    _remove_stale_partials(target)
    return DownloadedVideo(path=str(target), size_bytes=size, sha256=digest.hexdigest())


def _remove_stale_partials(target: Any) -> None:
    """The partial files of earlier tries killed mid-download: only this target's own tries write
    ``.<name>.<random>.part`` beside it, and the whole video is now in place."""
    with contextlib.suppress(OSError):
        for stale in target.parent.glob(f".{target.name}.*.part"):
            with contextlib.suppress(OSError):
                stale.unlink()
