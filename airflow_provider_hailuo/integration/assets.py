"""The extra on the asset events (datasets on Airflow 2.11) of a completed video.

A DAG scheduled on the operator's or the sensor's ``outlets`` reads it from
``triggering_asset_events`` (``triggering_dataset_events`` on 2.11): which gateway task made the
video, where it is, and what it cost, without pulling the producer's XCom.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

# The keys of each event's extra; a consumer may rely on all of them being present
# (``local_size_bytes`` and ``local_sha256`` prove the ``local_path`` file; None unless downloaded).
EXTRA_KEYS: tuple[str, ...] = (
    "hailuo_task_id",
    "video_url",
    "local_path",
    "local_size_bytes",
    "local_sha256",
    "cost",
)


def event_extra(result: Mapping[str, Any]) -> dict[str, Any]:
    """The extra of a completed video's asset events, taken from its result dict.

    ``cost`` stays the gateway's exact decimal string; ``local_path`` is None unless downloaded.
    A dry run's events say so (``"dry_run": true``, no video): Airflow emits them all the same.
    """
    extra = {key: result.get(key) for key in EXTRA_KEYS}
    if result.get("dry_run"):
        extra["dry_run"] = True
    return extra


def annotate_outlet_events(context: Context, result: Mapping[str, Any]) -> None:
    """Give the event of each of the running task's own asset outlets the video's extra.

    Airflow emits the events when the task succeeds (each mapped task instance its own); this only
    fills in their extra. Asset aliases are left alone: an alias names no asset of its own, and
    emitting through it means choosing one, which is the DAG author's call. So are asset
    references (``Asset.ref``): resolving one asks the API server, and a failure there must not
    fail a task whose video is already paid for.
    """
    outlets = getattr(context.get("task"), "outlets", None)
    if not outlets:
        return
    # Asset on Airflow 3, Dataset on 2.11; imported here, since most tasks have no outlets.
    from airflow.providers.common.compat.sdk import Asset

    events = context["outlet_events"]
    extra = event_extra(result)
    for outlet in outlets:
        if isinstance(outlet, Asset):
            # update, not replace: keys the DAG author's own code put on the event (pre_execute, a
            # subclass) stay.
            events[outlet].extra.update(extra)
