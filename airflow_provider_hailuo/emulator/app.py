"""The gateway's HTTP protocol (docs/gateway-protocol.md) as an aiohttp application, with faults on demand.

The request rules are not re-implemented here: the body is unwrapped by :mod:`protocol`, the
parameters are checked by :mod:`params` and data-URL frames by :mod:`images`, the very code the
provider runs before it sends anything, so the emulator and the provider cannot drift apart.

Where the gateway's documentation leaves room, the emulator behaves in the least convenient way
the real service plausibly could, so that a client's wrong assumption fails a test instead of a
production run: videos are served from a separate object-storage-like path under signed URLs
that expire and change on every poll (:mod:`.cdn`), every video is named ``output.mp4`` and has
bytes of its own (:mod:`.videos`), and a download refused there answers with object storage's
XML error, not the gateway's JSON.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from airflow_provider_hailuo.emulator.cdn import BOTH_CREDENTIALS, DOWNLOAD_PREFIX, CdnError
from airflow_provider_hailuo.emulator.config import ControlError, EmulatorConfig
from airflow_provider_hailuo.emulator.control import CONTROL_PREFIX, add_control_routes
from airflow_provider_hailuo.emulator.faults import (
    ENDPOINT_CREATE,
    ENDPOINT_DOWNLOAD,
    ENDPOINT_POLL,
    KIND_DROP,
    KIND_DROP_AFTER_ACCEPT,
    KIND_MALFORMED,
    KIND_SLOW,
    KIND_STATUS,
    KIND_TRUNCATE,
    Fault,
)
from airflow_provider_hailuo.emulator.quotas import REFUSED_IN_FLIGHT, retry_after_header
from airflow_provider_hailuo.emulator.rules import SERVED_MODELS, Refused, check_create
from airflow_provider_hailuo.emulator.state import EmulatorState
from airflow_provider_hailuo.emulator.stats import ENDPOINT_OTHER
from airflow_provider_hailuo.emulator.tasks import isoformat
from airflow_provider_hailuo.emulator.videos import video_bytes_for
from airflow_provider_hailuo.emulator.webutil import STATE_KEY, error_response
from airflow_provider_hailuo.exceptions import HailuoProtocolError
from airflow_provider_hailuo.gateway.defaults import DEFAULT_CREATE_PATH, DEFAULT_TASK_PATH
from airflow_provider_hailuo.gateway.protocol import (
    FINAL_STATUSES,
    STATUS_IN_PROGRESS,
    unwrap_create_body,
)

# ``.+``: a client that decodes the key's %2F into slashes still reaches the object, as on OSS,
# where the key is the same either way (and the signature is over the decoded key).
DOWNLOAD_PATH = DOWNLOAD_PREFIX + "{key:.+}"
# Two frames of up to 20 MB each, base64-encoded, plus the JSON around them.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Bodies above this are parsed and checked in a worker thread so the loop keeps serving pollers.
_OFF_LOOP_BYTES = 256 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _header_bytes(value: str) -> bytes | None:
    """The bytes a header value was sent as, or ``None`` if ``value`` cannot have come off the wire.

    aiohttp decodes header bytes as UTF-8 with ``surrogateescape``, so encoding them back the same
    way gives exactly what the client sent, whatever it sent (Latin-1, broken UTF-8, ...).
    """
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


def _check_bearer(request: web.Request, api_key: str) -> web.Response | None:
    """The 401 a missing or wrong key earns; ``None`` when the key is right. The key is never echoed.

    ``credentials = auth-scheme 1*SP token68`` (RFC 9110, 11.4): the spaces after the scheme are
    syntax, and so is the whitespace around the field's value (RFC 9110, 5.5: newer aiohttp strips
    it while parsing, older versions leave the trailing part). Nothing else is trimmed, so a key
    with stray spaces inside it is a different key, as it is upstream.
    """
    header = request.headers.get("Authorization", "").strip(" \t")
    if not header:
        return error_response(401, "API key missing: send the header 'Authorization: Bearer <API key>'")
    scheme, _, credentials = header.partition(" ")
    presented = _header_bytes(credentials.lstrip(" "))
    if (
        scheme.lower() != "bearer"
        or presented is None
        or not hmac.compare_digest(presented, api_key.encode("utf-8"))
    ):
        return error_response(401, "invalid API key")
    return None


async def _off_loop_if_large(size: int, function: Callable[..., Any], *args: Any) -> Any:
    if size <= _OFF_LOOP_BYTES:
        return function(*args)
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def _rate_limited(message: str, wait: float | None) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=429, headers=retry_after_header(wait))


async def create_task(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    denied = _check_bearer(request, state.config.api_key)
    if denied is not None:
        return denied
    config, now = state.config, time.monotonic()
    refusal = state.quotas.check_create(
        config.api_key,
        per_minute=config.create_quota_per_minute,
        max_in_flight=config.max_tasks_in_flight,
        in_flight=state.tasks_in_flight(now) if config.max_tasks_in_flight is not None else 0,
        now=now,
    )
    if refusal is not None:
        reason, wait = refusal
        if reason == REFUSED_IN_FLIGHT:
            return _rate_limited(f"too many tasks in progress (at most {config.max_tasks_in_flight})", wait)
        return _rate_limited(
            f"rate limit exceeded ({config.create_quota_per_minute:g} creates a minute)", wait
        )
    raw = await request.read()
    try:
        body = await _off_loop_if_large(len(raw), json.loads, raw)
    except ValueError as err:
        return error_response(400, f"the request body is not valid JSON: {err}")
    try:
        model, params = unwrap_create_body(body)
    except HailuoProtocolError as err:
        return error_response(400, str(err))
    enabled = config.enabled_models
    if model not in SERVED_MODELS or (enabled is not None and model not in enabled):
        # Whether each model is enabled for an account is unknown: refused as an unknown model.
        return error_response(400, f"model {model!r} is not available for this API key")
    try:
        await _off_loop_if_large(len(raw), check_create, model, params)
    except Refused as err:
        return error_response(400, str(err))
    task = state.create_task(model, params)
    return web.json_response(
        {
            "id": task.id,
            "status": STATUS_IN_PROGRESS,
            "model": model,
            "created_at": isoformat(task.created_at),
        }
    )


def _public_base_url(request: web.Request, config: EmulatorConfig) -> str:
    return config.public_url or f"{request.scheme}://{request.host}"


async def get_task(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    denied = _check_bearer(request, state.config.api_key)
    if denied is not None:
        return denied
    wait = state.quotas.check_poll(
        state.config.api_key, per_second=state.config.poll_quota_per_second, now=time.monotonic()
    )
    if wait is not None:
        return _rate_limited(
            f"rate limit exceeded ({state.config.poll_quota_per_second:g} polls a second)", wait
        )
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return error_response(404, "task not found")
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    state.record_poll(task.id, peer[1] if peer else None)
    now = time.monotonic()
    if now - task.created_monotonic < state.config.not_found_after_create_seconds:
        return error_response(404, "task not found")  # word for word the unknown task's answer
    pending_status = state.config.pending_poll_status
    if pending_status is not None and task.status(now) not in FINAL_STATUSES:
        return error_response(pending_status, f"task {task.status(now)} (pending_poll_status is set)")

    def video_url() -> str:
        if state.config.stable_video_urls and task.id in state.first_video_urls:
            return state.first_video_urls[task.id]
        url = state.videos.issue(
            _public_base_url(request, state.config),
            task.id,
            task.created_at,
            state.config.video_url_ttl_seconds,
            time.time(),
        )
        state.first_video_urls.setdefault(task.id, url)
        return url

    return web.json_response(task.view(now, video_url))


def _cdn_error_response(error: CdnError) -> web.Response:
    """Object storage's XML error document: a client must not expect the gateway's JSON here."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{escape(error.code)}</Code>\n"
        f"  <Message>{escape(error.message)}</Message>\n"
        f"  <RequestId>{secrets.token_hex(12).upper()}</RequestId>\n"
        "</Error>\n"
    )
    return web.Response(status=error.status, text=body, content_type="application/xml")


async def download_video(request: web.Request) -> web.StreamResponse:
    """No auth, as on object storage: the signed URL itself is the credential."""
    state = request.app[STATE_KEY]
    if "Authorization" in request.headers:
        return _cdn_error_response(BOTH_CREDENTIALS)
    query = request.query
    found = state.videos.resolve(
        request.match_info["key"],
        query.get("Expires"),
        query.get("OSSAccessKeyId"),
        query.get("Signature"),
        time.time(),
    )
    if isinstance(found, CdnError):
        return _cdn_error_response(found)
    return web.Response(body=video_bytes_for(found), content_type="video/mp4")


def _drop(request: web.Request) -> web.Response:
    """Close the connection with nothing sent; the response returned is never written."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


def _status_response(fault: Fault, request: web.Request) -> web.Response:
    body, content_type = fault.error_body()
    headers: dict[str, str] = {}
    retry_after = fault.retry_after_header()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if 300 <= fault.http_status < 400:
        headers["Location"] = str(request.url)  # to itself: a client that follows it loops
    return web.Response(status=fault.http_status, body=body, content_type=content_type, headers=headers)


async def _truncated(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """``response`` with its full ``Content-Length`` sent but the connection closed halfway through
    the body, as when a download is cut short; aiohttp then finds the transport closed and stops."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes) or request.transport is None:
        return response
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    request.transport.close()  # close(), not abort(): what was written is flushed first
    return cut


def _malformed_response(fault: Fault, endpoint: str, response: web.StreamResponse) -> web.Response:
    if endpoint == ENDPOINT_DOWNLOAD or fault.malformed == "not_json":
        return web.Response(text="<html><body><h1>Upstream busy</h1></body></html>", content_type="text/html")
    if fault.malformed == "empty":
        return web.Response(body=b"", content_type="application/json")
    if fault.malformed == "undecodable" and isinstance(response, web.Response):
        return web.Response(
            body=response.body, content_type="application/json", headers={"Content-Encoding": "gzip"}
        )
    payload: Any = {}
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        payload = json.loads(response.body)
    payload.pop("id" if fault.malformed == "missing_id" else "status", None)
    return web.json_response(payload)


async def _with_fault(
    fault: Fault, endpoint: str, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Answer one request the way ``fault`` says (the handler runs first unless the fault pre-empts it)."""
    if fault.kind == KIND_DROP:
        return _drop(request)
    if fault.kind == KIND_STATUS and not fault.after_accept:
        return _status_response(fault, request)
    response = await handler(request)
    if fault.kind == KIND_STATUS:
        return _status_response(fault, request)
    if fault.kind == KIND_DROP_AFTER_ACCEPT:
        return _drop(request)
    if fault.kind == KIND_SLOW:
        await asyncio.sleep(fault.delay_seconds)
        return response
    if fault.kind == KIND_MALFORMED:
        return _malformed_response(fault, endpoint, response)
    if fault.kind == KIND_TRUNCATE:
        return await _truncated(request, response)
    return response


def _endpoint_of(request: web.Request) -> str:
    name = request.match_info.route.name
    return name if name in (ENDPOINT_CREATE, ENDPOINT_POLL, ENDPOINT_DOWNLOAD) else ENDPOINT_OTHER


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every gateway request and its outcome, and apply the fault queued for it, if any.

    The configured ``response_delay_seconds`` is waited out first, counted as in flight.
    """
    if request.path.startswith(CONTROL_PREFIX):
        try:
            return await handler(request)
        except ControlError as err:
            return error_response(400, str(err))
    state = request.app[STATE_KEY]
    stats = state.stats  # reset() replaces it: count the end where the beginning was counted
    endpoint = _endpoint_of(request)
    stats.begin(endpoint)
    status: int | None = 500
    try:
        fault = state.faults.take(endpoint)  # in arrival order, before any wait
        delay = state.config.response_delay_seconds
        if delay > 0:
            await asyncio.sleep(delay)
        response = await (_with_fault(fault, endpoint, request, handler) if fault else handler(request))
        dropped = fault is not None and fault.kind in (KIND_DROP, KIND_DROP_AFTER_ACCEPT)
        status = None if dropped else response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        stats.end(endpoint, status)


def create_app(
    config: EmulatorConfig | None = None, *, state: EmulatorState | None = None
) -> web.Application:
    """The emulator as an aiohttp application, to run with any aiohttp runner or test client."""
    app = web.Application(middlewares=[gateway_middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = state or EmulatorState(config)
    app.router.add_post(DEFAULT_CREATE_PATH, create_task, name=ENDPOINT_CREATE)
    app.router.add_get(DEFAULT_TASK_PATH, get_task, name=ENDPOINT_POLL)
    app.router.add_get(DOWNLOAD_PATH, download_video, name=ENDPOINT_DOWNLOAD)
    add_control_routes(app)
    return app
