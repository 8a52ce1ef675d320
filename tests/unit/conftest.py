"""Fixtures of the unit tests that check schemes without reaching the network."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from airflow_provider_hailuo.media.storage import is_known_scheme


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name lookup or connection fails the test: the checks must not reach out."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def ftp_unregistered() -> None:
    if is_known_scheme("ftp"):  # pragma: no cover - no released provider registers ftp://
        pytest.skip("a provider here registers ftp://")
