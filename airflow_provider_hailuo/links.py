"""The "Hailuo video" extra link on the operator and the sensor: the rendered video, once known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context, TaskInstanceKey

# Pushed by the operator and the sensor when a task completes; the link reads it back.
XCOM_VIDEO_URL_KEY = "hailuo_video_url"
XCOM_TASK_ID_KEY = "hailuo_task_id"


class HailuoVideoLink(BaseOperatorLink):
    """Points at the video the task produced (gateway URLs expire, so an old run's link may not work)."""

    name = "Hailuo video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(key=XCOM_VIDEO_URL_KEY, ti_key=ti_key)
        return url if isinstance(url, str) else ""


def record_task_id(context: Context, hailuo_task_id: str) -> None:
    """Push the gateway task id at once, and an empty video URL until there is one.

    Airflow resolves extra links whenever a try ends, deferrals included; without a value the
    link's lookup would log a "not found" error on every deferral.
    """
    ti = context["ti"]
    ti.xcom_push(key=XCOM_TASK_ID_KEY, value=hailuo_task_id)
    ti.xcom_push(key=XCOM_VIDEO_URL_KEY, value="")
