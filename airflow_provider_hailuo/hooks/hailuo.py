"""HailuoHook: an Airflow connection -> the gateway's task API, sync (workers) and async (triggers)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_hailuo import protocol
from airflow_provider_hailuo.defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CREATE_PATH,
    DEFAULT_HOST,
    DEFAULT_TASK_PATH,
    DEFAULT_TIMEOUT,
)
from airflow_provider_hailuo.exceptions import (
    HailuoAmbiguousSubmitError,
    HailuoAPIError,
    HailuoError,
    HailuoTimeoutError,
    HailuoTransientError,
)
from airflow_provider_hailuo.images import resolve_image, shorten
from airflow_provider_hailuo.params import IMAGE_PARAMETERS, GenerationRequest
from airflow_provider_hailuo.retry import RetryPolicy
from airflow_provider_hailuo.settings import (
    EXTRA_CONNECT_TIMEOUT,
    EXTRA_CREATE_PATH,
    EXTRA_TASK_PATH,
    EXTRA_TIMEOUT,
    GatewaySettings,
)

if TYPE_CHECKING:
    from airflow_provider_hailuo.protocol import HailuoTask

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_WAIT_TIMEOUT = 60 * 60.0
_DOWNLOAD_CHUNK = 1024 * 1024
# A probe id for test_connection: the gateway authenticates before it looks the task up.
_CONNECTION_TEST_TASK_ID = "airflow-connection-test"


def _requests_error(error: requests.RequestException, url: str) -> HailuoTransientError:
    """A transport failure as a transient error; ``resubmit_safe`` only if nothing reached the gateway."""
    reason: object = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    never_sent = isinstance(error, requests.ConnectTimeout) or isinstance(
        reason, (NewConnectionError, ConnectTimeoutError)
    )
    what = "could not connect to" if never_sent else "lost the connection to"
    if isinstance(error, requests.ReadTimeout):
        what = "timed out waiting for"
    return HailuoTransientError(
        f"{what} the gateway at {url}: {type(error).__name__}", resubmit_safe=never_sent
    )


def _aiohttp_error(error: BaseException, url: str) -> HailuoTransientError:
    import aiohttp

    never_sent = isinstance(error, aiohttp.ClientConnectorError)
    what = "could not connect to" if never_sent else "lost the connection to"
    if isinstance(error, asyncio.TimeoutError):
        what = "timed out waiting for"
    return HailuoTransientError(
        f"{what} the gateway at {url}: {type(error).__name__}", resubmit_safe=never_sent
    )


class HailuoHook(BaseHook):
    """Talks to the Hailuo (Vtrix) gateway: create a generation task, poll it, download its video.

    :param hailuo_conn_id: Airflow connection of type ``hailuo``; the API key is its password.
    :param retry_policy: how transient faults (429, 5xx, dropped connections) are retried.
    """

    conn_name_attr = "hailuo_conn_id"
    default_conn_name = "hailuo_default"
    conn_type = "hailuo"
    hook_name = "Hailuo (MiniMax video)"

    def __init__(
        self, hailuo_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__()
        self.hailuo_conn_id = hailuo_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._async_settings: GatewaySettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(hailuo_conn_id={self.hailuo_conn_id!r})"

    # -- connection ------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> GatewaySettings:
        conn = self.get_connection(self.hailuo_conn_id)
        return GatewaySettings.from_connection(
            self.hailuo_conn_id,
            host=conn.host,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extras=conn.extra_dejson,
        )

    async def aget_settings(self) -> GatewaySettings:
        """The settings, read without blocking the event loop (the triggerer's path)."""
        if self._async_settings is None:
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            conn = await get_async_connection(self.hailuo_conn_id, hook=self)
            self._async_settings = GatewaySettings.from_connection(
                self.hailuo_conn_id,
                host=conn.host,
                password=conn.password,
                schema=conn.schema,
                port=conn.port,
                extras=await get_async_extra_dejson(conn),
            )
        return self._async_settings

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook; urllib3's own retries are off, the retry policy decides."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    # -- sync: one request -----------------------------------------------------------------------

    def _request(self, method: str, url: str, *, data: bytes | None = None) -> requests.Response:
        settings = self.settings
        headers = {**settings.auth_headers(), "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method, url, data=data, headers=headers, timeout=(settings.connect_timeout, settings.timeout)
            )
        except requests.RequestException as err:
            raise _requests_error(err, url) from None
        error = protocol.error_for_status(
            response.status_code, response.content, response.headers.get("Retry-After")
        )
        if error is not None:
            raise error
        return response

    # -- sync: the task API ----------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> str:
        """Validate ``request``, resolve its frames, create the task; returns the gateway task id.

        Everything that can be refused locally is refused before the first byte is sent.
        """
        for warning in request.validate():
            self.log.warning("%s", warning)
        params = request.options()
        for name in IMAGE_PARAMETERS:
            source = getattr(request, name)
            if source is not None:
                params[name] = resolve_image(source, name).value
        self.log.info(
            "Submitting a Hailuo generation: model=%s %s",
            request.model,
            " ".join(f"{k}={shorten(v) if isinstance(v, str) else v!r}" for k, v in params.items()),
        )
        return self.create_task(protocol.build_create_body(request.model, params))

    def create_task(self, body: dict[str, Any]) -> str:
        """POST a create body; retried only when the gateway cannot have accepted it.

        :raises HailuoAmbiguousSubmitError: the request may have created a task (a timeout or dropped
            connection after sending, a 5xx other than 503). It is not resubmitted automatically.
        """
        url = self.settings.create_url
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            for attempt in self.retry_policy.retrying(creating=True, logger=self.log):
                with attempt:
                    response = self._request("POST", url, data=data)
        except HailuoTransientError as err:
            if err.resubmit_safe:
                raise
            raise HailuoAmbiguousSubmitError(
                f"Creating the Hailuo task failed ambiguously ({err}): the gateway may have created a task "
                "and may charge for it. It was not resubmitted automatically; check the gateway's task list "
                "before submitting again."
            ) from err
        task = protocol.parse_task(protocol.loads(response.content))
        self.log.info("Created Hailuo task %s (status %s)", task.id, task.status)
        return task.id

    def get_task(self, task_id: str) -> HailuoTask:
        url = self.settings.task_url(task_id)
        for attempt in self.retry_policy.retrying(logger=self.log):
            with attempt:
                response = self._request("GET", url)
                return protocol.parse_task(protocol.loads(response.content))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def wait_for_task(
        self,
        task_id: str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    ) -> HailuoTask:
        """Poll until the task is final and return it (failed ones too: the caller decides).

        :raises HailuoTimeoutError: still not final after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        unknown_seen: set[str] = set()
        while True:
            task = self.get_task(task_id)
            if task.is_final:
                return task
            if not task.is_known_status and task.status not in unknown_seen:
                unknown_seen.add(task.status)
                self.log.info(
                    "Hailuo task %s reports status %r; treating it as still running", task_id, task.status
                )
            if deadline is not None and time.monotonic() + poll_interval > deadline:
                raise HailuoTimeoutError(
                    f"Hailuo task {task_id} still {task.status} after {timeout:g} s; it may still finish: "
                    f"wait for it with HailuoTaskSensor(hailuo_task_id={task_id!r})"
                )
            time.sleep(poll_interval)

    # -- sync: download --------------------------------------------------------------------------

    def download_video(self, url: str, destination: str | os.PathLike[str] | Any) -> str:
        """Stream a video to a local path or an ObjectStoragePath (a directory gets the URL's file name).

        Gateway URLs expire; downloading is how a video is kept. The file is written in chunks, so a
        video is never held whole in memory, and a local file only appears once it is complete.
        """
        target = self._download_target(url, destination)
        for attempt in self.retry_policy.retrying(logger=self.log):
            with attempt:
                self._stream_to(url, target)
        self.log.info("Downloaded %s to %s", url, target)
        return str(target)

    @staticmethod
    def _download_target(url: str, destination: Any) -> Any:
        name = Path(unquote(urlsplit(url).path)).name or "video.mp4"
        if isinstance(destination, str) and "://" in destination:
            from airflow.providers.common.compat.sdk import ObjectStoragePath

            is_dir_hint = destination.endswith("/")
            destination = ObjectStoragePath(destination)
            return destination / name if is_dir_hint or destination.is_dir() else destination
        if isinstance(destination, (str, os.PathLike)):
            is_dir_hint = str(destination).endswith(os.sep)
            path = Path(destination).expanduser()
            return path / name if is_dir_hint or path.is_dir() else path
        return destination / name if destination.is_dir() else destination

    def _stream_to(self, url: str, target: Any) -> None:
        settings = self.settings
        # The API key goes to the gateway only, never to the CDN that serves the video.
        headers = settings.auth_headers() if settings.is_gateway_url(url) else {}
        try:
            with self.session.get(
                url, headers=headers, stream=True, timeout=(settings.connect_timeout, settings.timeout)
            ) as response:
                error = protocol.error_for_status(
                    response.status_code,
                    response.content if response.status_code >= 400 else b"",
                    response.headers.get("Retry-After"),
                )
                if error is not None:
                    raise error
                expected = int(response.headers.get("Content-Length") or -1)
                written = self._write_chunks(response.iter_content(_DOWNLOAD_CHUNK), target)
        except requests.RequestException as err:
            raise _requests_error(err, url) from None
        if expected >= 0 and written != expected:
            raise HailuoTransientError(f"download of {url} was cut short: {written} of {expected} bytes")

    @staticmethod
    def _write_chunks(chunks: Any, target: Any) -> int:
        written = 0
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as handle:
                for chunk in chunks:
                    written += handle.write(chunk)
            partial.replace(target)
            return written
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            for chunk in chunks:
                written += handle.write(chunk)
        return written

    # -- async (triggers) ------------------------------------------------------------------------

    async def aget_task(self, task_id: str) -> HailuoTask:
        """Poll a task without blocking the event loop, through the loop's shared connection pool."""
        import aiohttp

        from airflow_provider_hailuo.hooks.async_pool import shared_session

        settings = await self.aget_settings()
        url = settings.task_url(task_id)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout, sock_read=settings.timeout
        )
        headers = {**settings.auth_headers(), "Accept": "application/json"}
        async for attempt in self.retry_policy.async_retrying(logger=self.log):
            with attempt:
                try:
                    async with shared_session(settings.base_url).get(
                        url, headers=headers, timeout=timeout
                    ) as response:
                        body = await response.read()
                except (TimeoutError, aiohttp.ClientError) as err:
                    raise _aiohttp_error(err, url) from None
                error = protocol.error_for_status(response.status, body, response.headers.get("Retry-After"))
                if error is not None:
                    raise error
                return protocol.parse_task(protocol.loads(body))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # -- the UI ----------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Ask for a task that does not exist: a 404 proves the gateway is reachable and the key valid."""
        try:
            settings = self.settings
            response = self._request("GET", settings.task_url(_CONNECTION_TEST_TASK_ID))
        except HailuoAPIError as err:
            if err.http_status == 404:
                return True, f"Connected to {self.settings.base_url}: the API key was accepted"
            return False, str(err)
        except HailuoError as err:
            return False, str(err)
        return True, f"Connected to {settings.base_url} (HTTP {response.status_code})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form on Airflow < 3.2 (newer ones read ``conn-fields`` from provider info)."""
        return {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"password": "API key", "host": "Gateway URL"},
            "placeholders": {"host": DEFAULT_HOST, "password": "your gateway API key"},
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        return {
            EXTRA_TIMEOUT: IntegerField(
                lazy_gettext("Request timeout (s)"),
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
                default=int(DEFAULT_TIMEOUT),
            ),
            EXTRA_CONNECT_TIMEOUT: IntegerField(
                lazy_gettext("Connect timeout (s)"),
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
                default=int(DEFAULT_CONNECT_TIMEOUT),
            ),
            EXTRA_CREATE_PATH: StringField(
                lazy_gettext("Create path"), widget=BS3TextFieldWidget(), default=DEFAULT_CREATE_PATH
            ),
            EXTRA_TASK_PATH: StringField(
                lazy_gettext("Task path"), widget=BS3TextFieldWidget(), default=DEFAULT_TASK_PATH
            ),
        }
