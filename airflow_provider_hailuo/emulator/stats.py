"""Request counters, exact to the request: tests assert "exactly one create" with them.

Only gateway traffic is counted (create, poll, download and unknown paths as ``other``); the
control API's own requests are not, so reading the stats does not change them.

``connections_opened`` counts TCP connections accepted, whatever they carry: a client with a
connection pool opens one and sends many requests on it, one without opens one per request. The
control API's own requests need a connection too, but :class:`EmulatorClient` keeps one open and
reuses it, so reading the stats does not change this count once it has connected (unless it sat
idle past aiohttp's keep-alive timeout, 75 s, and has to connect again).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow_provider_hailuo.emulator.faults import ENDPOINTS

ENDPOINT_OTHER = "other"
COUNTED_ENDPOINTS: tuple[str, ...] = (*ENDPOINTS, ENDPOINT_OTHER)


class RequestStats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.status_codes: Counter[int] = Counter()
        self.status_codes_by_endpoint: dict[str, Counter[int]] = {e: Counter() for e in COUNTED_ENDPOINTS}
        self.dropped: Counter[str] = Counter()
        self.tasks_created = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections_opened = 0

    def begin(self, endpoint: str) -> None:
        self.requests[endpoint] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, endpoint: str, status: int | None) -> None:
        """``status`` is ``None`` when the connection was dropped without a response."""
        self.in_flight -= 1
        if status is None:
            self.dropped[endpoint] += 1
        else:
            self.status_codes[status] += 1
            self.status_codes_by_endpoint[endpoint][status] += 1

    def to_dict(self) -> dict[str, Any]:
        counts = {endpoint: self.requests[endpoint] for endpoint in COUNTED_ENDPOINTS}
        return {
            **counts,
            "total": sum(counts.values()),
            "status_codes": {str(code): n for code, n in sorted(self.status_codes.items())},
            "status_codes_by_endpoint": {
                endpoint: {str(code): n for code, n in sorted(codes.items())}
                for endpoint, codes in self.status_codes_by_endpoint.items()
            },
            "dropped": {endpoint: self.dropped[endpoint] for endpoint in COUNTED_ENDPOINTS},
            "tasks_created": self.tasks_created,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "connections_opened": self.connections_opened,
        }
