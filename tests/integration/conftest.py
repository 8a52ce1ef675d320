"""Fixtures of the integration tests."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer


@pytest.fixture
def fast_connection(hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Like the plugin's ``hailuo_connection``, with retries that back off in milliseconds."""
    connection = {
        "conn_type": "hailuo",
        "host": hailuo_emulator.url,
        "password": hailuo_emulator.api_key,
        "extra": {"retry_limit": 3, "retry_delay": 0.01},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HAILUO_DEFAULT", json.dumps(connection))
    return "hailuo_default"


@pytest.fixture
def deferral_floor(monkeypatch: pytest.MonkeyPatch) -> float:
    """The deferral floor a deployment has (the tests' dag.test() sandbox sets it to 0)."""
    from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_ENV, MIN_DEFERRAL_SECONDS

    monkeypatch.delenv(MIN_DEFERRAL_ENV, raising=False)
    return MIN_DEFERRAL_SECONDS
