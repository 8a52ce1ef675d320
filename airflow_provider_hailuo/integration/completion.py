"""What the operator and the sensor do with a completed gateway task: one log line, the XCom for
the extra link, the optional download, and the result dict that goes downstream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hailuo.gateway.urls import without_query
from airflow_provider_hailuo.integration.assets import annotate_outlet_events
from airflow_provider_hailuo.integration.metrics import record_completed
from airflow_provider_hailuo.integration.xcoms import XCOM_VIDEO_URL_KEY

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.gateway.params import GenerationRequest
    from airflow_provider_hailuo.gateway.protocol import HailuoTask
    from airflow_provider_hailuo.gateway.retry import Logger
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook


def describe_completion(task: HailuoTask) -> str:
    """The one line a user reads in the task log when a video is ready."""
    parts = [
        f"Hailuo task {task.id} {task.status}",
        f"video_url={without_query(task.video_url) if task.video_url else None}",
        f"cost=${task.cost}" if task.cost is not None else "cost=unknown",
        f"discount={task.discount}" if task.discount is not None else "discount=none",
    ]
    timings = task.timings()
    if "queued_seconds" in timings:
        parts.append(f"queued {timings['queued_seconds']:.1f} s")
    if "rendering_seconds" in timings:
        parts.append(f"rendering {timings['rendering_seconds']:.1f} s")
    if "total_seconds" in timings:
        parts.append(f"queued and rendering {timings['total_seconds']:.1f} s")
    return ", ".join(parts)


def complete(
    task: HailuoTask,
    context: Context,
    *,
    hook: HailuoHook,
    logger: Logger,
    download_to: Any = None,
    request: GenerationRequest | None = None,
) -> dict[str, Any]:
    """The result dict (the public XCom return value) of a completed task; downloads if asked.

    ``request`` (the operator's) tags the metrics with the resolution and duration asked for.
    """
    logger.info("%s", describe_completion(task))
    result = task.result()
    if task.video_url:
        context["ti"].xcom_push(key=XCOM_VIDEO_URL_KEY, value=task.video_url)
        if download_to:
            videos = hook.download_task_videos(task, download_to)
            result["local_path"], result["local_paths"] = videos[0].path, [video.path for video in videos]
            # The proof of the (first) file, and of each: what a downstream task can check.
            result["local_size_bytes"], result["local_sha256"] = videos[0].size_bytes, videos[0].sha256
            result["local_files"] = [video.to_dict() for video in videos]
    elif download_to:
        logger.warning("Hailuo task %s completed without a video URL; nothing to download", task.id)
    annotate_outlet_events(context, result)
    # Counted once delivered, not before the download: a try whose download failed is retried,
    # and its retry (resuming the same gateway task) would count the video and its cost again.
    record_completed(task, request)
    return result
