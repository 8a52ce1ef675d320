"""The emulator's settings, changeable at run time through the control API.

The defaults are the least convenient behaviour the real gateway plausibly has (video URLs that
expire, for one), so that a client relying on more than the gateway promises fails a test here
rather than in production.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_API_KEY = "test-key"
DEFAULT_RENDER_SECONDS = 2.0
DEFAULT_RESPONSE_DELAY_SECONDS = 0.0
# One real video URL expired about 9 hours after its task was created (docs/gateway-protocol.md); 10 minutes
# is as plausible, and short enough that a client keeping URLs for later meets an expired one.
DEFAULT_VIDEO_URL_TTL_SECONDS = 600.0
DEFAULT_NOT_FOUND_AFTER_CREATE_SECONDS = 0.0


class ControlError(ValueError):
    """A control API request the emulator cannot carry out; answered with 400 and this message."""


def _seconds(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ControlError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class EmulatorConfig:
    """``render_seconds`` is how long a task stays ``in_progress``; it is fixed when a task is created.

    ``response_delay_seconds`` holds every gateway request (not the control API's) that long before
    it is answered, as a slow network or gateway would, so that concurrent requests overlap and
    ``max_in_flight`` shows how many a client really had open at once.

    ``public_url`` is the base of the video URLs handed out; unset, the URL the client used to
    reach the emulator is used, which is right unless the emulator sits behind a proxy or port map.

    ``video_url_ttl_seconds`` is how long each video URL works, counted from the poll that issued
    it (at most that long: its ``Expires`` is whole seconds, rounded down; 0 issues expired URLs).
    After that the download answers 403 with object storage's XML error, as a real one does.

    ``stable_video_urls`` hands out one URL per task, issued at its first read, on every read after
    (a gateway that stores the URL it got when the render finished): once it expires, reading the
    task again does not help. Off by default: a fresh URL per read is what the API page suggests.

    ``create_quota_per_minute``, ``max_tasks_in_flight`` and ``poll_quota_per_second`` are per-key
    quotas (see :mod:`~airflow_provider_hailuo.emulator.quotas`); ``null`` (the default) is none.

    ``render_profile`` ``"realistic"`` draws each task's render time around a median per model,
    resolution and duration (scaled by ``render_time_scale``), queues tasks beyond
    ``render_slots`` rendering at once, and gives a progress that stalls, jumps or is absent
    (see :mod:`~airflow_provider_hailuo.emulator.renders`; ``render_seed`` makes it repeatable).
    ``"fixed"`` (the default) renders every task ``render_seconds``.

    ``enabled_models`` lists the models this API key may use (``null``, the default: every model
    the emulator serves); a create for another is refused with the gateway's 400, as an account
    without that model would be answered.

    ``not_found_after_create_seconds`` answers polls of a task younger than that with the gateway's
    own JSON 404 "task not found", as a gateway whose task store lags its create endpoint would.
    0 (the default) turns it off.

    ``pending_poll_status``, when set (e.g. 404), answers a poll of a task that is not final yet with
    that HTTP status and the gateway's error body instead of the task, so that a client which only
    knows "2xx means done" (such as the HTTP provider's ``HttpSensorTrigger``, which waits on 404s)
    can wait for a task. Unset (the default), polls answer with the task as the gateway does. It is
    not the gateway's behaviour: the benchmarks use it for their HTTP-provider baseline only.
    """

    api_key: str = DEFAULT_API_KEY
    render_seconds: float = DEFAULT_RENDER_SECONDS
    public_url: str | None = None
    response_delay_seconds: float = DEFAULT_RESPONSE_DELAY_SECONDS
    pending_poll_status: int | None = None
    video_url_ttl_seconds: float = DEFAULT_VIDEO_URL_TTL_SECONDS
    not_found_after_create_seconds: float = DEFAULT_NOT_FOUND_AFTER_CREATE_SECONDS
    stable_video_urls: bool = False
    create_quota_per_minute: float | None = None
    max_tasks_in_flight: int | None = None
    poll_quota_per_second: float | None = None
    enabled_models: list[str] | None = None
    render_profile: str = "fixed"
    render_time_scale: float = 1.0
    render_slots: int | None = None
    render_seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise ControlError("api_key must be a non-empty string")
        try:
            self.api_key.encode("utf-8")
        except UnicodeEncodeError as err:  # JSON can carry lone surrogates; no header can
            raise ControlError(f"api_key must be encodable as UTF-8: {err}") from None
        for name in (
            "render_seconds",
            "response_delay_seconds",
            "video_url_ttl_seconds",
            "not_found_after_create_seconds",
        ):
            object.__setattr__(self, name, _seconds(name, getattr(self, name)))
        if self.public_url is not None and (
            not isinstance(self.public_url, str) or not self.public_url.startswith(("http://", "https://"))
        ):
            raise ControlError(f"public_url must be an http(s) URL or null, got {self.public_url!r}")
        for name in ("create_quota_per_minute", "poll_quota_per_second"):
            value = getattr(self, name)
            if value is not None and (_seconds(name, value) <= 0):
                raise ControlError(f"{name} must be a number > 0 or null, got {value!r}")
        in_flight = self.max_tasks_in_flight
        if in_flight is not None and (
            isinstance(in_flight, bool) or not isinstance(in_flight, int) or in_flight < 1
        ):
            raise ControlError(f"max_tasks_in_flight must be an integer >= 1 or null, got {in_flight!r}")
        if not isinstance(self.stable_video_urls, bool):
            raise ControlError(f"stable_video_urls must be true or false, got {self.stable_video_urls!r}")
        if self.render_profile not in ("fixed", "realistic"):
            raise ControlError(f"render_profile must be 'fixed' or 'realistic', got {self.render_profile!r}")
        if _seconds("render_time_scale", self.render_time_scale) <= 0:
            raise ControlError(f"render_time_scale must be a number > 0, got {self.render_time_scale!r}")
        for name in ("render_slots", "render_seed"):
            value = getattr(self, name)
            minimum = 1 if name == "render_slots" else 0
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < minimum
            ):
                raise ControlError(f"{name} must be an integer >= {minimum} or null, got {value!r}")
        enabled = self.enabled_models
        if enabled is not None and (
            not isinstance(enabled, list) or not all(isinstance(model, str) for model in enabled)
        ):
            raise ControlError(f"enabled_models must be a list of model ids or null, got {enabled!r}")
        status = self.pending_poll_status
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 300 <= status <= 599
        ):
            raise ControlError(
                f"pending_poll_status must be an HTTP status from 300 to 599 or null, got {status!r}"
            )

    def updated(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """A copy with ``changes`` applied; unknown keys are refused so a typo is not silently ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ControlError(
                f"unknown config key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values = dict(changes)
        if isinstance(values.get("public_url"), str):
            values["public_url"] = values["public_url"].rstrip("/")
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
