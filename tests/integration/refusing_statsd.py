"""A StatsD client that fails to send this provider's metrics: set as ``[metrics]
statsd_custom_client_path`` (Airflow's own hook for a custom client), it shows that a metric that
cannot be sent fails no task. Airflow's own metrics still go (Airflow does not guard its calls,
and a run whose scheduler loop fails shows nothing about this provider)."""

from __future__ import annotations

from statsd import StatsClient


class RefusingStatsClient(StatsClient):
    def _send(self, data: str) -> None:
        if "hailuo." in data:
            raise RuntimeError("the StatsD client is broken")
        super()._send(data)
