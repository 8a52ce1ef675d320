"""Pytest fixtures for testing DAGs and code against the gateway emulator.

Opt-in, not a ``pytest11`` entry point: an Airflow image with the provider installed serves many
projects, and their pytest sessions should not grow ``hailuo_*`` fixtures (or import this
package) unasked. A project loads it with ``pytest_plugins =
["airflow_provider_hailuo.emulator.pytest_plugin"]`` in its top conftest.py, or ``-p
airflow_provider_hailuo.emulator.pytest_plugin``. It imports nothing heavy: the emulator
(aiohttp, Airflow) is imported only when a fixture is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_hailuo.emulator.server import EmulatorServer

HAILUO_CONN_ID = "hailuo_default"
# Short, so that tests of whole DAGs finish quickly; a test can configure() a longer one.
FIXTURE_RENDER_SECONDS = 0.2


@pytest.fixture(scope="session")
def hailuo_emulator_server() -> Iterator[EmulatorServer]:
    """One emulator for the session (per xdist worker); use ``hailuo_emulator`` for a clean one."""
    from airflow_provider_hailuo.emulator.server import EmulatorServer

    with EmulatorServer(render_seconds=FIXTURE_RENDER_SECONDS) as server:
        yield server


@pytest.fixture
def hailuo_emulator(hailuo_emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's emulator, reset: no tasks, zero counters, no faults, the starting config."""
    hailuo_emulator_server.client.reset()
    return hailuo_emulator_server


@pytest.fixture
def hailuo_connection(hailuo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``hailuo_default`` connection pointed at the emulator, through an environment variable."""
    connection = {"conn_type": "hailuo", "host": hailuo_emulator.url, "password": hailuo_emulator.api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{HAILUO_CONN_ID.upper()}", json.dumps(connection))
    return HAILUO_CONN_ID
