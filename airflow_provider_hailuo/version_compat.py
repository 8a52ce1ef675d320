"""What the running Airflow can do, asked in one place (as Airflow's own providers keep their
``version_compat.py``).

Each answer is a feature check rather than a version number where the feature can be seen: a
backport or a patch release then counts as what it is. Imported lazily by those who ask, so that
the gateway layer stays free of Airflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any


@cache
def triggers_render_templates() -> bool:
    """Airflow renders a start-from-trigger task's templates in the triggerer (recent Airflow 3):
    before that, a templated argument would reach the trigger unrendered."""
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "render_template_fields")


@cache
def ui_plugins_supported() -> bool:
    """Plugins can add external views to the UI (Airflow 3.1+)."""
    from airflow.plugins_manager import AirflowPlugin

    return hasattr(AirflowPlugin, "external_views")


def filesystem_registry() -> Callable[[], Iterable[str]]:
    """The function ObjectStoragePath resolves schemes with (Airflow 3's task SDK, or Airflow 2)."""
    try:
        from airflow.sdk.io.fs import _register_filesystems
    except ImportError:  # Airflow 2
        from airflow.io import _register_filesystems  # type: ignore[attr-defined,no-redef]
    registry: Callable[[], Iterable[str]] = _register_filesystems
    return registry


def task_sdk_supervisor() -> Any:
    """The task SDK's channel to the running task's supervisor and its message module, ``(comms,
    task_runner)``; None on Airflow 2, where a worker reads the metadata database itself."""
    try:
        from airflow.sdk.execution_time import comms, task_runner
    except ImportError:
        return None
    return comms, task_runner
