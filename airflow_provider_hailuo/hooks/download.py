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
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests

from airflow_provider_hailuo import protocol
from airflow_provider_hailuo.exceptions import (
    HailuoAPIError,
    HailuoError,
    HailuoNotFoundError,
    HailuoTransientError,
)
from airflow_provider_hailuo.hooks.transport import requests_error
from airflow_provider_hailuo.urls import without_query

if TYPE_CHECKING:
    from airflow_provider_hailuo.protocol import HailuoTask
    from airflow_provider_hailuo.retry import Logger, RetryPolicy
    from airflow_provider_hailuo.settings import GatewaySettings

_CHUNK = 1024 * 1024
_VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv"})
_DEFAULT_SUFFIX = ".mp4"
# What a CDN answers for a signed URL past its expiry (403 on S3 and OSS, 410 on some); a 404
# there can also be an expired key. Any of these earns one fresh URL from the gateway.
_EXPIRED_URL_STATUSES = frozenset({403, 404, 410})


def _suffix(url: str) -> str:
    """The video's extension from its URL when it is a video's, else ``.mp4``: the URL's name is
    not used, only what kind of file it says it is."""
    suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()
    return suffix if suffix in _VIDEO_SUFFIXES else _DEFAULT_SUFFIX


def _names_a_folder(destination: Any, path: Any) -> bool:
    """A folder, unless it names a file: a trailing separator (in text: path objects drop it), an
    existing folder, or a last name without an extension (an object store prefix never "exists",
    and ``videos`` is far likelier a folder than a video without an extension)."""
    text = destination if isinstance(destination, str) else ""
    return text.endswith(("/", os.sep)) or not PurePosixPath(str(path.name)).suffix or bool(path.is_dir())


def _as_path(destination: Any) -> Any:
    if isinstance(destination, str) and "://" in destination:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath(destination)
    if isinstance(destination, (str, os.PathLike)) and type(destination).__name__ != "ObjectStoragePath":
        return Path(os.path.expanduser(os.fspath(destination)))
    return destination


def target_paths(hailuo_task_id: str, urls: Sequence[str], destination: Any) -> list[Any]:
    """Where each of a task's videos goes: into a folder under the task's id, or at the given file
    name (``<stem>_<n><suffix>`` for each video when there are several)."""
    path = _as_path(destination)
    is_folder = _names_a_folder(destination, path)
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
    ) -> list[str]:
        """Every video of ``task``; a URL the CDN refuses is read again from the gateway once."""
        targets = target_paths(task.id, task.video_urls, destination)
        written = []
        for index, target in enumerate(targets):
            try:
                self.download(task.video_urls[index], target)
            except HailuoAPIError as refused:
                if refused.http_status not in _EXPIRED_URL_STATUSES:
                    raise
                fresh = self._fresh_url(task, index, refresh, refused)
                self.download(fresh, target)
            written.append(str(target))
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

    def download(self, url: str, target: Any) -> None:
        """Stream one URL to ``target``, with the retry policy's retries for transient faults."""
        if _exists(target):
            # Named after its task (or chosen by the DAG author): never replaced silently.
            self._log.warning("Replacing the existing file %s", target)
        for attempt in self._retry_policy.retrying(logger=self._log):
            with attempt:
                self._stream_to(url, target)
        self._log.info("Downloaded the video to %s", target)

    def _stream_to(self, url: str, target: Any) -> None:
        settings = self._settings
        shown = without_query(url)
        failure: HailuoError | None = None
        try:
            # No API key: a video URL is signed, and its own credential; the key goes to the gateway's
            # API only, even where the videos are served from the gateway's own host.
            with self._session.get(
                url, stream=True, timeout=(settings.connect_timeout, settings.timeout)
            ) as response:
                if response.status_code >= 400:
                    failure = protocol.error_for_status(
                        response.status_code,
                        response.content,
                        response.headers.get("Retry-After"),
                        fetching=shown,
                    )
                else:
                    _write_complete(response, target, shown)
        except requests.exceptions.ChunkedEncodingError:
            failure = HailuoTransientError(
                f"download of {shown} was cut short: the connection closed mid-body"
            )
        except requests.RequestException as err:
            failure = requests_error(err, shown, peer="the video's host")
        if failure is not None:  # raised here, not in the except block: see transport.requests_error
            raise failure


def _exists(target: Any) -> bool:
    try:
        return bool(target.exists())
    except OSError:
        return False


def _write_complete(response: requests.Response, target: Any, shown: str) -> None:
    """Write the body to a hidden sibling, check it is whole, then give it the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Random per try: two tries of one task (a killed worker's and its retry's) never share it.
    partial = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        with partial.open("wb") as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
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


def _remove_stale_partials(target: Any) -> None:
    """The partial files of earlier tries killed mid-download: only this target's own tries write
    ``.<name>.<random>.part`` beside it, and the whole video is now in place."""
    with contextlib.suppress(OSError):
        for stale in target.parent.glob(f".{target.name}.*.part"):
            with contextlib.suppress(OSError):
                stale.unlink()
