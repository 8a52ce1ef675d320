"""HailuoHook: an Airflow connection -> the gateway's task API, sync (workers) and async (triggers)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_hailuo.exceptions import (
    HailuoAmbiguousSubmitError,
    HailuoError,
    HailuoNotFoundError,
    HailuoProtocolError,
    HailuoTimeoutError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway import http_errors, protocol
from airflow_provider_hailuo.gateway.cost import PriceTable
from airflow_provider_hailuo.gateway.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
)
from airflow_provider_hailuo.gateway.params import IMAGE_PARAMETERS, GenerationRequest
from airflow_provider_hailuo.gateway.polling import PollPacing
from airflow_provider_hailuo.gateway.quota import is_quota_refusal
from airflow_provider_hailuo.gateway.resend import CHECK_BEFORE_PAYING_AGAIN, nothing_accepted
from airflow_provider_hailuo.gateway.retry import RetryPolicy
from airflow_provider_hailuo.hooks.download import DownloadedVideo, VideoDownloader
from airflow_provider_hailuo.hooks.settings import (
    GatewaySettings,
)
from airflow_provider_hailuo.hooks.transport import aiohttp_error, new_session, requests_error, unsendable
from airflow_provider_hailuo.integration.metrics import record_failed, record_submitted, record_timed_out
from airflow_provider_hailuo.media.images import resolve_image, shown_value

if TYPE_CHECKING:
    from airflow_provider_hailuo.gateway.protocol import HailuoTask

# A probe id for test_connection: the gateway authenticates before it looks the task up.
_CONNECTION_TEST_TASK_ID = "airflow-connection-test"


class HailuoHook(BaseHook):
    """Talks to the Hailuo (Vtrix) gateway: create a generation task, poll it, download its video.

    :param hailuo_conn_id: Airflow connection of type ``hailuo``; the API key is its password.
    :param retry_policy: how transient faults (429, 5xx, dropped connections) are retried; by
        default, as the connection's ``retry_limit`` and ``retry_delay`` extras say.
    """

    conn_name_attr = "hailuo_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "hailuo"
    hook_name = "Hailuo (MiniMax video)"

    def __init__(
        self, hailuo_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__()
        self.hailuo_conn_id = hailuo_conn_id
        self._explicit_retry_policy = retry_policy
        self._async_settings: GatewaySettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(hailuo_conn_id={self.hailuo_conn_id!r})"

    # -- connection ------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> GatewaySettings:
        conn = self.get_connection(self.hailuo_conn_id)
        return self._settings_from(conn, conn.extra_dejson)

    def _settings_from(self, conn: Any, extras: Mapping[str, Any]) -> GatewaySettings:
        """A connection (sync or async lookup, with its extras read either way) as settings."""
        return GatewaySettings.from_connection(
            self.hailuo_conn_id,
            host=conn.host,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extras=extras,
        )

    async def aget_settings(self) -> GatewaySettings:
        """The settings, read without blocking the event loop (the triggerer's path).

        Triggers of one connection starting together on one loop share one lookup (see
        :mod:`~airflow_provider_hailuo.hooks.settings_cache`).
        """
        if self._async_settings is None:
            from airflow_provider_hailuo.hooks.settings_cache import shared_settings

            key = (type(self), self.hailuo_conn_id)
            self._async_settings = await shared_settings(key, self._alook_up_settings)
        return self._async_settings

    async def _alook_up_settings(self) -> GatewaySettings:
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(self.hailuo_conn_id, hook=self)
        return self._settings_from(conn, await get_async_extra_dejson(conn))

    def _retry_policy(self, settings: GatewaySettings) -> RetryPolicy:
        return self._explicit_retry_policy or RetryPolicy(
            max_attempts=settings.retry_limit, initial_backoff=settings.retry_delay
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy of the sync calls (reads the connection)."""
        return self._retry_policy(self.settings)

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook."""
        return new_session()

    # -- sync: one request -----------------------------------------------------------------------

    def _request(self, method: str, url: str, *, data: bytes | None = None) -> requests.Response:
        """One request. A create (``data``) never follows a redirect: requests would send it again
        (307, 308) or turn it into a GET, and a redirect proves nothing about what was accepted."""
        settings = self.settings
        headers = {**settings.auth_headers(), "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        failure: HailuoError | None = None
        # Prepared apart from sending, so that an error here is known to precede any byte sent.
        try:
            prepared = self.session.prepare_request(requests.Request(method, url, data=data, headers=headers))
        except (requests.RequestException, ValueError) as err:
            failure = unsendable(err, url)
        if failure is not None:  # raised here, not in the except block: see transport.requests_error
            raise failure
        # What Session.request adds (proxies and CA bundles from the environment, as configured).
        environment = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
        try:
            response = self.session.send(
                prepared,
                timeout=(settings.connect_timeout, settings.timeout),
                allow_redirects=data is None,
                **environment,
            )
        except requests.RequestException as err:
            failure = requests_error(err, url)
        if failure is not None:
            raise failure
        error = http_errors.error_for_status(
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
        return self.create_task(self.prepare_create_body(request))

    def prepare_create_body(self, request: GenerationRequest) -> dict[str, Any]:
        """Everything before the create request: validation, the connection, the frames resolved.

        Kept apart from :meth:`create_task` so that a caller can record its intent durably in
        between, when nothing can fail locally any more.
        """
        for warning in request.validate():
            self.log.warning("%s", warning)
        # The connection before the frames: a missing key or a bad host is refused before reading
        # (and encoding) up to two 20 MB images.
        roots = self.settings.allowed_frame_roots
        params = request.options()
        for name in IMAGE_PARAMETERS:
            source = getattr(request, name)
            if source is not None:
                params[name] = resolve_image(source, name, allowed_roots=roots).value
        self.log.info(
            "Hailuo generation request: model=%s %s",
            request.model,
            " ".join(f"{k}={shown_value(v)!r}" for k, v in params.items()),
        )
        return protocol.build_create_body(request.model, params)

    def estimate_cost(self, request: GenerationRequest) -> Decimal | None:
        """What ``request`` will cost in US dollars, from the connection's ``price_table`` extra;
        None when the table is not set or has no price for its model, resolution and duration."""
        table = PriceTable.from_extra(self.settings.price_table_extra)
        if table is None:
            return None
        return table.price(request)

    def create_task(self, body: dict[str, Any], *, retry_refusals: bool = True) -> str:
        """POST a create body; retried only when the gateway cannot have accepted it.

        ``retry_refusals=False``: a 429 or 503 (the gateway's quota) is raised at once, for the
        caller to wait out without holding a worker (the operator waits in the triggerer).

        :raises HailuoAmbiguousSubmitError: the request may have created a task: any failure that
            does not prove otherwise (see :mod:`~airflow_provider_hailuo.gateway.resend`). It is not resubmitted.
        """
        url = self.settings.create_url
        data = json.dumps(body, separators=(",", ":")).encode()
        failure: HailuoError | None = None
        try:
            for attempt in self.retry_policy.retrying(
                creating=True, logger=self.log, retry_refusals=retry_refusals
            ):
                with attempt:
                    response = self._request("POST", url, data=data)
        except HailuoError as err:
            failure = err
        if failure is not None:
            if nothing_accepted(failure):
                raise failure
            raise HailuoAmbiguousSubmitError(
                f"Creating the Hailuo task failed ambiguously ({failure}): the gateway may have created a "
                f"task and may charge for it (nothing proves otherwise). {CHECK_BEFORE_PAYING_AGAIN}."
            ) from failure
        if 300 <= response.status_code < 400:
            raise HailuoAmbiguousSubmitError(
                f"Creating the Hailuo task was answered with a redirect (HTTP {response.status_code}), "
                "which a create does not follow: whatever answered may have passed the request on. "
                f"{CHECK_BEFORE_PAYING_AGAIN}; if the gateway moved, set the connection's host to its new one."
            )
        try:
            task = protocol.parse_task(protocol.loads(response.content))
        except HailuoProtocolError as err:
            # A 2xx means something accepted the request: a task may exist, we just cannot read its id.
            raise HailuoAmbiguousSubmitError(
                f"The create request was answered HTTP {response.status_code} but the answer was unreadable "
                f"({err}): a task was probably created and may be charged for. {CHECK_BEFORE_PAYING_AGAIN}."
            ) from err
        self.log.info("Created Hailuo task %s (status %s)", task.id, task.status)
        record_submitted(body)
        return task.id

    def get_task(
        self, task_id: str, *, within: float | None = None, retry_refusals: bool = True
    ) -> HailuoTask:
        """One poll, with the retry policy's retries; none of them starts ``within`` seconds from now.

        ``retry_refusals=False``: a 429 or 503 is raised at once, for a caller that paces its polls.
        """
        url = self.settings.task_url(task_id)
        for attempt in self.retry_policy.retrying(
            logger=self.log, within=within, retry_refusals=retry_refusals
        ):
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

        Paced as the trigger is (:mod:`~airflow_provider_hailuo.gateway.polling`): every ``poll_interval``
        while the gateway answers, slower while it refuses.

        :raises HailuoTimeoutError: still not final after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pacing = PollPacing(poll_interval)
        unknown_seen: set[str] = set()
        last_status = "not yet polled"
        while True:
            try:
                # Retries inside one poll stop at the deadline too, so a gateway failing for long
                # cannot keep the worker past its timeout by the whole retry budget. A 429 is not
                # retried inside the poll: the next poll is its retry, and the pacing spaces it.
                task = self.get_task(
                    task_id,
                    within=None if deadline is None else deadline - time.monotonic(),
                    retry_refusals=False,
                )
            except HailuoTransientError as err:
                # Refused, or one poll's retries ran out; the task renders on regardless, so keep
                # polling until the deadline, as the trigger does.
                delay = pacing.failed(err.retry_after, refused=is_quota_refusal(err))
                self.log.warning(
                    "Hailuo task %s: poll failed (%s); polling again in %.0f s", task_id, err, delay
                )
            else:
                if task.is_final:
                    if not task.is_success:
                        record_failed(task)
                    return task
                delay = pacing.answered()
                last_status = task.status
                if not task.is_known_status and task.status not in unknown_seen:
                    unknown_seen.add(task.status)
                    self.log.info(
                        "Hailuo task %s reports status %r; treating it as still running", task_id, task.status
                    )
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    record_timed_out()
                    raise HailuoTimeoutError(
                        f"Hailuo task {task_id} still {last_status} after {timeout:g} s; it may still finish: "
                        f"wait for it with HailuoTaskSensor(hailuo_task_id={task_id!r})"
                    )
                # A paced wait may be long: the last poll comes at the deadline, not one wait before it.
                delay = min(delay, remaining)
            time.sleep(delay)

    # -- sync: download and cancel --------------------------------------------------------------

    def download_videos(self, task: HailuoTask, destination: Any) -> list[str]:
        """Stream every video of a completed task to a local path or object storage; returns where.

        A folder gets ``<task id>.mp4``; see :mod:`~airflow_provider_hailuo.hooks.download`.
        """
        return [video.path for video in self.download_task_videos(task, destination)]

    def download_task_videos(self, task: HailuoTask, destination: Any) -> list[DownloadedVideo]:
        """As :meth:`download_videos`, with each file's size and SHA-256 (what the result reports)."""
        downloader = VideoDownloader(self.session, self.settings, self.retry_policy, self.log)
        return downloader.download_task(task, destination, refresh=lambda: self.get_task(task.id))

    def cancel_task(self, task_id: str) -> bool:
        """Cancel a gateway task if the gateway can; ``False`` when it offers no way to.

        The gateway documents no cancel endpoint (:data:`protocol.CANCEL_PATH` is ``None``): this
        is the one place that learns to cancel once one is known.
        """
        if protocol.CANCEL_PATH is None:
            return False
        self._request("POST", self.settings.base_url + protocol.task_path(protocol.CANCEL_PATH, task_id))
        return True

    # -- async (triggers) ------------------------------------------------------------------------

    async def aget_task(self, task_id: str, *, retry_refusals: bool = True) -> HailuoTask:
        """Poll a task without blocking the event loop, through the loop's shared connection pool.

        ``retry_refusals`` as for :meth:`get_task`.
        """
        settings = await self.aget_settings()
        url = settings.task_url(task_id)
        return await self._retry_policy(settings).acall(
            lambda: self._apoll_once(settings, url), logger=self.log, retry_refusals=retry_refusals
        )

    async def _apoll_once(self, settings: GatewaySettings, url: str) -> HailuoTask:
        import aiohttp

        from airflow_provider_hailuo.hooks.async_pool import proxy_for, request_slots, shared_session

        # sock_connect, not connect: aiohttp's connect timeout also counts the wait for a free slot
        # in the pool, which under load (a thousand triggers) would time polls out that never started.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.timeout
        )
        headers = {**settings.auth_headers(), "Accept": "application/json"}
        failure: HailuoError | None = None
        try:
            async with (
                request_slots(settings.base_url),
                shared_session(settings.base_url).get(
                    url, headers=headers, timeout=timeout, proxy=proxy_for(settings.base_url)
                ) as response,
            ):
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError, ValueError) as err:
            failure = aiohttp_error(err, url)
        if failure is not None:  # raised here, not in the except block: see transport.requests_error
            raise failure
        error = http_errors.error_for_status(response.status, body, response.headers.get("Retry-After"))
        if error is not None:
            raise error
        return protocol.parse_task(protocol.loads(body))

    # -- the UI ----------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Ask for a task that cannot exist; the gateway's own "not found" proves host, path and key.

        A 404 counts only when its body is the gateway's JSON error: a 404 page from a wrong host or
        path says nothing about the key.
        """
        try:
            settings = self.settings
            response = self._request("GET", settings.task_url(_CONNECTION_TEST_TASK_ID))
        except HailuoNotFoundError as err:
            if err.gateway_error:
                return (
                    True,
                    f"Connected to {self.settings.base_url}: reachable, and the API key was not rejected",
                )
            return False, f"{err}: this does not look like the gateway; check the host and the paths"
        except HailuoError as err:
            return False, str(err)
        return True, f"Connected to {settings.base_url} (HTTP {response.status_code})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form on Airflow < 3.2, from the same declaration 3.2+ reads in provider info."""
        from airflow_provider_hailuo.get_provider_info import get_provider_info

        (connection_type,) = get_provider_info()["connection-types"]
        return {key.replace("-", "_"): value for key, value in connection_type["ui-field-behaviour"].items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields on Airflow < 3.2 (its legacy Flask form)."""
        from airflow_provider_hailuo.hooks.connection_form import legacy_form_widgets

        return legacy_form_widgets()
