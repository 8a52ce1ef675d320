"""What version_compat answers on each supported Airflow line (run on every line of the matrix)."""

from __future__ import annotations

from airflow_provider_hailuo.version_compat import (
    filesystem_registry,
    task_sdk_supervisor,
    triggers_render_templates,
    ui_plugins_supported,
)
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS, EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW


def test_ui_plugins_come_with_airflow_3_1() -> None:
    assert ui_plugins_supported() is AIRFLOW_V_3_1_PLUS


def test_triggers_render_templates_from_airflow_3_3() -> None:
    # Measured on the locked lines: 2.11, 3.0, 3.1 and 3.2 cannot; 3.3 can.
    assert triggers_render_templates() is AIRFLOW_V_3_3_PLUS


def test_the_task_sdk_supervisor_is_there_from_airflow_3() -> None:
    supervisor = task_sdk_supervisor()
    assert (supervisor is not None) is AIRFLOW_V_3_0_PLUS
    if supervisor is not None:
        comms, _ = supervisor  # the channel itself is set only inside a running task
        assert hasattr(comms, "GetVariable")


def test_the_filesystem_registry_knows_the_local_disk() -> None:
    assert "file" in set(filesystem_registry()())
