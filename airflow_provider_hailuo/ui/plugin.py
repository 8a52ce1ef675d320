"""The Airflow plugin that puts the views in the UI: registered through the provider info (read
when ``[core] lazy_discover_providers`` is off) and the ``airflow.plugins`` entry point (read
always), as Airflow's own providers with plugins do.

External views came with Airflow 3.1; on 2.11 and 3.0 the plugin registers nothing and the UI
simply has no Hailuo view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_hailuo.version_compat import ui_plugins_supported

# Where the API server mounts the app; the views' addresses below are relative to the UI's base.
URL_PREFIX = "/hailuo"
UI_PLUGINS_SUPPORTED = ui_plugins_supported()  # Airflow 3.1+

TASK_VIEW = {
    "name": "Hailuo video",
    "href": "hailuo/dags/{DAG_ID}/runs/{RUN_ID}/tasks/{TASK_ID}/{MAP_INDEX}",
    "destination": "task_instance",
    "url_route": "hailuo-video",
}
RUN_VIEW = {
    "name": "Hailuo videos",
    "href": "hailuo/dags/{DAG_ID}/runs/{RUN_ID}",
    "destination": "dag_run",
    "url_route": "hailuo-videos",
}


class _BuiltOnFirstRead:
    """A class attribute whose value is built when first read, on the class or on an instance.

    Every Airflow process loads plugins (the scheduler, the DAG processor, each task), but only
    the API server reads ``fastapi_apps``: building the app there alone keeps FastAPI, the
    database queries and the templates out of every other process.
    """

    def __init__(self, build: Callable[[], list[dict[str, Any]]]) -> None:
        self._build = build
        self._value: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        if self._value is None:
            self._value = self._build()
        return self._value


def _fastapi_apps() -> list[dict[str, Any]]:
    if not UI_PLUGINS_SUPPORTED:
        return []
    from airflow_provider_hailuo.ui.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Hailuo videos"}]


class HailuoViewsPlugin(AirflowPlugin):
    """The "Hailuo video" tab of the operator's and the sensor's task instances, and the
    "Hailuo videos" tab of a DAG run."""

    name = "hailuo"
    fastapi_apps = _BuiltOnFirstRead(_fastapi_apps)
    external_views = [TASK_VIEW, RUN_VIEW] if UI_PLUGINS_SUPPORTED else []
