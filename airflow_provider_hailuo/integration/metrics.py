"""The provider's metrics, sent through Airflow's own ``Stats``: StatsD, Datadog or OpenTelemetry,
as the deployment's ``[metrics]`` section configures them (nothing is sent when none is on).

Emitted where the event happens, once: a create the gateway accepted (the hook), a video
delivered (:func:`~airflow_provider_hailuo.integration.completion.complete`), and a gateway task that failed,
was cancelled or was not waited for to the end (where the waiting ends: the hook's
``wait_for_task``, the trigger event's reader, the sensor's poke). ``Stats`` is imported on first
use: DAG files import this module (through the operator) at every parse.

Tags follow Airflow's own metrics: a dict handed to ``Stats``, which Datadog and OpenTelemetry
keep as tags and attributes; plain StatsD drops them unless ``[metrics] statsd_influxdb_enabled``
appends them to the name (``hailuo.videos.submitted,model=...,resolution=768P,duration=6``).
Every metric carries the same tag keys (``unknown`` where a value is not known), so a backend
that wants one label set per name (a Prometheus StatsD exporter) accepts them all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_hailuo.gateway.cost import parse_usd
from airflow_provider_hailuo.gateway.params import DEFAULT_DURATION, DEFAULT_RESOLUTION
from airflow_provider_hailuo.gateway.protocol import STATUS_CANCELLED, unwrap_create_body

if TYPE_CHECKING:
    from airflow_provider_hailuo.gateway.params import GenerationRequest
    from airflow_provider_hailuo.gateway.protocol import HailuoTask

log = logging.getLogger(__name__)

VIDEOS_SUBMITTED = "hailuo.videos.submitted"
VIDEOS_COMPLETED = "hailuo.videos.completed"
VIDEOS_FAILED = "hailuo.videos.failed"
QUEUE_TIME = "hailuo.videos.queue_time"
RENDER_TIME = "hailuo.videos.render_time"
COST_MICRO_USD = "hailuo.videos.cost_micro_usd"

# The ``reason`` of a failed video, besides the gateway's error code (kept as text: 010004095).
REASON_CANCELLED = "cancelled"
REASON_TIMEOUT = "timeout"
UNKNOWN = "unknown"

MICRO_DOLLARS_PER_DOLLAR = 1_000_000
# What Airflow's StatsD name check lets through (with "," and "=" reserved for InfluxDB tags): a
# model id with other characters would get the whole metric dropped, with an error in the log.
_UNSAFE_TAG_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_TAG_LENGTH = 64


def micro_dollars(cost: str) -> int:
    """A cost string in whole micro-dollars, exactly (Decimal, never a float): ``"0.28"`` -> 280000.

    Read as every amount is (:func:`~airflow_provider_hailuo.gateway.cost.parse_usd`); a cost finer than a
    micro-dollar is rounded half to even, the only rounding there is.
    """
    dollars = parse_usd(cost, "usage.cost")
    return int((dollars * MICRO_DOLLARS_PER_DOLLAR).to_integral_value(rounding=ROUND_HALF_EVEN))


def _tag_value(value: object) -> str:
    if value is None or value == "":
        return UNKNOWN
    return _UNSAFE_TAG_CHARACTERS.sub("_", str(value))[:_MAX_TAG_LENGTH]


def video_tags(model: object, resolution: object, duration: object) -> dict[str, str]:
    """The tags of every video metric."""
    return {
        "model": _tag_value(model),
        "resolution": _tag_value(resolution),
        "duration": _tag_value(duration),
    }


def _request_tags(request: GenerationRequest) -> dict[str, str]:
    """An unset duration or resolution is the gateway's default: what was rendered, and charged."""
    return video_tags(request.model, request.effective_resolution, request.effective_duration)


def _body_tags(body: Mapping[str, Any]) -> dict[str, str]:
    model, params = unwrap_create_body(body)
    return video_tags(
        model, params.get("resolution", DEFAULT_RESOLUTION), params.get("duration", DEFAULT_DURATION)
    )


def _emit(method: Literal["incr", "timing"], stat: str, value: float, tags: Mapping[str, str]) -> None:
    """One call to ``Stats``; a metric never fails a task, so any error is logged and dropped."""
    try:
        from airflow.providers.common.compat.sdk import Stats

        getattr(Stats, method)(stat, value, tags=dict(tags))
    except Exception as error:
        log.debug("Metric %s not sent: %s: %s", stat, type(error).__name__, error)


def record_submitted(body: Mapping[str, Any]) -> None:
    """The gateway accepted a create (``body`` as sent; its frames are never read here)."""
    try:
        tags = _body_tags(body)
    except Exception as error:  # a caller's own body shape: count it, untagged
        log.debug("Create body not readable for metric tags: %s", type(error).__name__)
        tags = video_tags(None, None, None)
    _emit("incr", VIDEOS_SUBMITTED, 1, tags)


def record_completed(task: HailuoTask, request: GenerationRequest | None = None) -> None:
    """A completed video delivered: the count, its queue and render times, and its cost.

    Without ``request`` (the sensor), resolution and duration are ``unknown``: the gateway's
    answer does not repeat them.
    """
    tags = _request_tags(request) if request is not None else video_tags(task.model, None, None)
    _emit("incr", VIDEOS_COMPLETED, 1, tags)
    timings = task.timings()
    # Milliseconds as a number, not a timedelta: Airflow 2's Datadog and OpenTelemetry loggers
    # would send a timedelta in seconds (unless [metrics] timer_unit_consistency), StatsD in ms.
    if "queued_seconds" in timings:
        _emit("timing", QUEUE_TIME, timings["queued_seconds"] * 1000.0, tags)
    if "rendering_seconds" in timings:
        _emit("timing", RENDER_TIME, timings["rendering_seconds"] * 1000.0, tags)
    if task.cost is not None:
        try:
            cost = micro_dollars(task.cost)
        except ValueError as error:  # protocol.py already refuses what is not a number
            log.debug("Cost %r not sent as a metric: %s", task.cost, error)
        else:
            _emit("incr", COST_MICRO_USD, cost, tags)


def failure_reason(task: HailuoTask) -> str:
    """``cancelled``, the gateway's error code as it wrote it, or ``unknown``."""
    if task.status == STATUS_CANCELLED:
        return REASON_CANCELLED
    return task.error.code if task.error is not None and task.error.code else UNKNOWN


def record_failed(task: HailuoTask) -> None:
    """A gateway task ended ``failed`` or ``cancelled``; counted where the waiting for it ends."""
    tags = {**video_tags(task.model, None, None), "reason": _tag_value(failure_reason(task))}
    _emit("incr", VIDEOS_FAILED, 1, tags)


def record_timed_out() -> None:
    """The wait for a gateway task ran out (the video may still finish, and be charged); what it
    was rendering is not known where the waiting ends."""
    _emit("incr", VIDEOS_FAILED, 1, {**video_tags(None, None, None), "reason": REASON_TIMEOUT})
