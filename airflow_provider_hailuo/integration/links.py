"""The "Hailuo video" extra link on the operator and the sensor: the rendered video, once known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_hailuo.integration.xcoms import XCOM_VIDEO_URL_KEY

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey


class HailuoVideoLink(BaseOperatorLink):
    """Points at the video the task produced (gateway URLs expire, so an old run's link may not work)."""

    name = "Hailuo video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(key=XCOM_VIDEO_URL_KEY, ti_key=ti_key)
        return url if isinstance(url, str) else ""
