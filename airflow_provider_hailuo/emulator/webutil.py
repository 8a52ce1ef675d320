"""What the gateway handlers and the control handlers share: the state's app key and the error body."""

from __future__ import annotations

from aiohttp import web

from airflow_provider_hailuo.emulator.state import EmulatorState

STATE_KEY = web.AppKey("hailuo_emulator_state", EmulatorState)


def error_response(status: int, message: str) -> web.Response:
    """The gateway's usual error shape, ``{"error": {"message": ...}}`` (faults choose others)."""
    return web.json_response({"error": {"message": message}}, status=status)
