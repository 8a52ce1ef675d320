"""The XComs the operator and the sensor push besides their return value, and what reads them.

The extra link reads the video URL; the UI views (``airflow_provider_hailuo.ui``) read all of
them, so a view can say what a task asked for and why it failed without importing the DAG. The
keys are public: a DAG author may pull them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.exceptions import HailuoTaskFailedError
    from airflow_provider_hailuo.gateway.params import GenerationRequest

XCOM_TASK_ID_KEY = "hailuo_task_id"
XCOM_VIDEO_URL_KEY = "hailuo_video_url"
# What was asked for, without the frames (a frame may be a data URL: never pushed anywhere).
XCOM_REQUEST_KEY = "hailuo_request"
# Why the gateway task failed: its status, error code and message, for the run view.
XCOM_FAILURE_KEY = "hailuo_failure"


def record_task_id(context: Context, hailuo_task_id: str) -> None:
    """Push the gateway task id at once, and an empty video URL until there is one.

    Airflow resolves extra links whenever a try ends, deferrals included; without a value the
    link's lookup would log a "not found" error on every deferral.
    """
    ti = context["ti"]
    ti.xcom_push(key=XCOM_TASK_ID_KEY, value=hailuo_task_id)
    ti.xcom_push(key=XCOM_VIDEO_URL_KEY, value="")


def request_summary(request: GenerationRequest) -> dict[str, Any]:
    """The parameters a person judging the video wants beside it; the frames are left out."""
    return {
        "model": request.model,
        "prompt": request.prompt,
        "duration": request.effective_duration,
        "resolution": request.effective_resolution,
        "prompt_optimizer": request.prompt_optimizer,
    }


def record_request(context: Context, request: GenerationRequest) -> None:
    context["ti"].xcom_push(key=XCOM_REQUEST_KEY, value=request_summary(request))


def record_failure(context: Context, failure: HailuoTaskFailedError) -> None:
    """Push the gateway's reason before the task fails with it (the exception itself is not kept)."""
    context["ti"].xcom_push(
        key=XCOM_FAILURE_KEY,
        value={
            "hailuo_task_id": failure.hailuo_task_id,
            "status": failure.status,
            "error_code": failure.error_code,
            "error_message": failure.error_message,
        },
    )
