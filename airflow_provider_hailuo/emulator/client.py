"""A small synchronous client for the emulator's control API (``/_emulator/...``).

Built on requests so it works the same from a test in the emulator's process and from an
end-to-end test driving an emulator started as a separate process.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import requests

_TIMEOUT_SECONDS = 10.0


class EmulatorControlError(RuntimeError):
    """The emulator refused a control request (its message says why) or could not be reached."""


class EmulatorClient:
    def __init__(self, url: str, *, timeout: float = _TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, body: object = None) -> Any:
        response = self._session.request(
            method, f"{self.url}/_emulator/{path}", json=body, timeout=self.timeout
        )
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise EmulatorControlError(f"{method} /_emulator/{path}: HTTP {response.status_code}: {message}")
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Counters of gateway requests: ``create``, ``poll``, ``download``, ``other``, ``total``,
        ``status_codes``, ``status_codes_by_endpoint``, ``dropped``, ``tasks_created``,
        ``tasks_by_status``, ``faults_pending``, ``faults_applied``, ``in_flight``, ``max_in_flight``,
        ``connections_opened`` (TCP connections accepted since the reset) and ``connections_open``
        (open now, this client's own among them)."""
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def reset(self) -> None:
        """Forget tasks, counters and faults, and restore the configuration the emulator started with."""
        self._call("POST", "reset")

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "config")
        return result

    def configure(
        self,
        *,
        render_seconds: float | None = None,
        api_key: str | None = None,
        public_url: str | None = None,
        response_delay_seconds: float | None = None,
        pending_poll_status: int | None = None,
        video_url_ttl_seconds: float | None = None,
        not_found_after_create_seconds: float | None = None,
        stable_video_urls: bool | None = None,
        create_quota_per_minute: float | None = None,
        max_tasks_in_flight: int | None = None,
        poll_quota_per_second: float | None = None,
        enabled_models: list[str] | None = None,
        render_profile: str | None = None,
        render_time_scale: float | None = None,
        render_slots: int | None = None,
        render_seed: int | None = None,
    ) -> dict[str, Any]:
        """Change the given settings (``render_seconds`` applies to tasks created afterwards,
        ``response_delay_seconds`` to gateway requests arriving afterwards). ``pending_poll_status``
        (e.g. 404) answers polls of unfinished tasks with that status instead of the task: for
        clients that only know "2xx means done"; ``reset()`` turns it off again.
        ``video_url_ttl_seconds`` is how long a video URL works after the poll that handed it out
        (applies to URLs issued afterwards; 0 issues expired ones); ``not_found_after_create_seconds``
        answers polls of tasks younger than that with the gateway's JSON 404 "task not found";
        ``stable_video_urls`` hands out a task's first video URL on every read after (so a refresh
        cannot renew an expired one). ``create_quota_per_minute``, ``max_tasks_in_flight`` and
        ``poll_quota_per_second`` are per-key quotas answered with 429 (``reset()`` lifts them).
        ``enabled_models`` limits the models this key may create with (the rest answer 400).
        ``render_profile="realistic"`` (with ``render_time_scale``, ``render_slots`` and
        ``render_seed``) draws render times, queues renders and gives an uneven progress."""
        changes = {
            key: value
            for key, value in (
                ("render_seconds", render_seconds),
                ("api_key", api_key),
                ("public_url", public_url),
                ("response_delay_seconds", response_delay_seconds),
                ("pending_poll_status", pending_poll_status),
                ("video_url_ttl_seconds", video_url_ttl_seconds),
                ("not_found_after_create_seconds", not_found_after_create_seconds),
                ("stable_video_urls", stable_video_urls),
                ("create_quota_per_minute", create_quota_per_minute),
                ("max_tasks_in_flight", max_tasks_in_flight),
                ("poll_quota_per_second", poll_quota_per_second),
                ("enabled_models", enabled_models),
                ("render_profile", render_profile),
                ("render_time_scale", render_time_scale),
                ("render_slots", render_slots),
                ("render_seed", render_seed),
            )
            if value is not None
        }
        result: dict[str, Any] = self._call("POST", "config", changes)
        return result

    def add_fault(
        self,
        kind: str,
        *,
        target: str | None = None,
        times: int = 1,
        http_status: int | None = None,
        body_shape: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        after_accept: bool | None = None,
        delay_seconds: float | None = None,
        malformed: str | None = None,
        task_status: str | None = None,
        error_code: str | None = None,
        error_shape: str | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Queue one fault; options left ``None`` take the emulator's defaults. Returns it with its id.

        ``kind`` is one of ``status`` (``body_shape`` ``"html"`` sends a proxy's nginx error page),
        ``drop``, ``drop_after_accept``, ``slow``, ``malformed``, ``task_failure`` and ``truncate``
        (downloads: the full ``Content-Length``, then the connection closes about halfway)."""
        options = {
            "target": target,
            "http_status": http_status,
            "body_shape": body_shape,
            "message": message,
            "retry_after": retry_after,
            "after_accept": after_accept,
            "delay_seconds": delay_seconds,
            "malformed": malformed,
            "task_status": task_status,
            "error_code": error_code,
            "error_shape": error_shape,
            "error_message": error_message,
        }
        spec = {"kind": kind, "times": times, **{k: v for k, v in options.items() if v is not None}}
        added: list[dict[str, Any]] = self.add_faults([spec])
        return added[0]

    def add_faults(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue several faults (raw JSON specs) in order, all or none."""
        result: list[dict[str, Any]] = self._call("POST", "faults", specs)["faults"]
        return result

    def faults(self) -> list[dict[str, Any]]:
        """The faults still queued, with their remaining ``times``."""
        result: list[dict[str, Any]] = self._call("GET", "faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def polls(self) -> list[dict[str, Any]]:
        """Every answered poll since the reset: ``task_id``, ``client_port`` (the client's TCP
        port, which tells connections and so client processes apart) and ``at`` (Unix time)."""
        result: list[dict[str, Any]] = self._call("GET", "polls")["polls"]
        return result

    def tasks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "tasks")["tasks"]
        return result

    def task(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"tasks/{quote(task_id, safe='')}")
        return result

    def set_task_status(
        self,
        task_id: str,
        status: str,
        *,
        error_code: str | None = None,
        error_shape: str | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Force a task's status now (``failed`` without a code gets the seed's first code)."""
        body = {
            "status": status,
            "error_code": error_code,
            "error_shape": error_shape,
            "error_message": error_message,
        }
        result: dict[str, Any] = self._call(
            "POST", f"tasks/{quote(task_id, safe='')}", {k: v for k, v in body.items() if v is not None}
        )
        return result

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Block until the emulator answers, e.g. after starting ``hailuo-emulator`` as a process."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.stats()
                return
            except requests.ConnectionError as err:
                if time.monotonic() >= deadline:
                    raise EmulatorControlError(
                        f"the emulator at {self.url} did not answer in {timeout} s"
                    ) from err
                time.sleep(0.05)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
