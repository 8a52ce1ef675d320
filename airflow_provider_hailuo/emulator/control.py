"""The control API under ``/_emulator/``: what tests use to read counters and script misbehaviour.

It is HTTP, not a Python object, so a test in the same process and an end-to-end test driving a
separate emulator process use one code path (:class:`EmulatorClient`), and every state change
happens on the emulator's own event loop.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from airflow_provider_hailuo.emulator.config import ControlError
from airflow_provider_hailuo.emulator.tasks import ERROR_SHAPE_SEED, EmulatedTask
from airflow_provider_hailuo.emulator.webutil import STATE_KEY, error_response

CONTROL_PREFIX = "/_emulator/"
_TASK_UPDATE_KEYS = frozenset({"status", "error_code", "error_shape", "error_message"})


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise ControlError(f"the request body is not valid JSON: {err}") from err


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ControlError("the request body must be a JSON object")
    return body


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].to_dict())


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].config.to_dict())


async def update_config(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.config = state.config.updated(await _json_object(request))
    return web.json_response(state.config.to_dict())


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[STATE_KEY].faults.pending()})


async def add_faults(request: web.Request) -> web.Response:
    """One fault object or a list of them; a list is added whole or not at all."""
    body = await _json_body(request)
    specs = body if isinstance(body, list) else [body]
    queue = request.app[STATE_KEY].faults
    added = queue.add_all(specs)
    return web.json_response({"faults": [fault.to_dict() for fault in added]})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].faults.clear()
    return web.json_response({"faults": []})


async def list_tasks(request: web.Request) -> web.Response:
    now = time.monotonic()
    return web.json_response({"tasks": [task.summary(now) for task in request.app[STATE_KEY].tasks.values()]})


async def list_polls(request: web.Request) -> web.Response:
    polls = request.app[STATE_KEY].polls
    return web.json_response(
        {"polls": [{"task_id": task_id, "client_port": port, "at": at} for task_id, port, at in polls]}
    )


def _task_or_none(request: web.Request) -> EmulatedTask | None:
    return request.app[STATE_KEY].tasks.get(request.match_info["task_id"])


async def get_task(request: web.Request) -> web.Response:
    task = _task_or_none(request)
    if task is None:
        return error_response(404, "task not found")
    return web.json_response(task.summary(time.monotonic()))


async def update_task(request: web.Request) -> web.Response:
    """Force a status now, e.g. ``{"status": "cancelled"}`` or a failure with an error code."""
    task = _task_or_none(request)
    if task is None:
        return error_response(404, "task not found")
    body = await _json_object(request)
    unknown = sorted(set(body) - _TASK_UPDATE_KEYS)
    if unknown:
        raise ControlError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TASK_UPDATE_KEYS))}"
        )
    request.app[STATE_KEY].force_status(
        task,
        body.get("status"),
        error_code=body.get("error_code"),
        error_shape=body.get("error_shape", ERROR_SHAPE_SEED),
        error_message=body.get("error_message"),
    )
    return web.json_response(task.summary(time.monotonic()))


def add_control_routes(app: web.Application) -> None:
    routes = app.router
    routes.add_get(CONTROL_PREFIX + "stats", get_stats)
    routes.add_post(CONTROL_PREFIX + "reset", reset)
    routes.add_get(CONTROL_PREFIX + "config", get_config)
    routes.add_post(CONTROL_PREFIX + "config", update_config)
    routes.add_get(CONTROL_PREFIX + "faults", list_faults)
    routes.add_post(CONTROL_PREFIX + "faults", add_faults)
    routes.add_delete(CONTROL_PREFIX + "faults", clear_faults)
    routes.add_get(CONTROL_PREFIX + "tasks", list_tasks)
    routes.add_get(CONTROL_PREFIX + "polls", list_polls)
    routes.add_get(CONTROL_PREFIX + "tasks/{task_id}", get_task)
    routes.add_post(CONTROL_PREFIX + "tasks/{task_id}", update_task)
