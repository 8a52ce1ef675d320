"""The provider as Airflow sees it: discovery, the CLI, and the connection form in both its forms.

The suite runs on Airflow 3 and on Airflow 2.11. Airflow 3.2+ builds the connection form from the
``conn-fields`` in provider info; older versions from the hook's widgets. Each run checks the
form its Airflow actually loaded against provider info, so the two runs together prove that both
forms agree.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_hailuo import __version__
from airflow_provider_hailuo.get_provider_info import get_provider_info
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.hooks.settings import GatewaySettings
from tests.airflow_versions import EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW

AIRFLOW = [sys.executable, "-m", "airflow"]


def cli(*args: str) -> str:
    result = subprocess.run(
        [*AIRFLOW, *args], capture_output=True, text=True, timeout=180, env=os.environ.copy(), check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def json_output(text: str) -> Any:
    """The JSON document that ends a CLI's output (Airflow may print log lines, some starting with
    "[info", before it)."""
    lines = text.splitlines()
    for start in reversed(range(len(lines))):
        if lines[start].startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[start:]))
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON document in the output:\n{text[-2000:]}")


def connection_type() -> dict[str, Any]:
    (declared,) = get_provider_info()["connection-types"]
    return dict(declared)


def test_provider_info_names_what_exists() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-hailuo"
    assert info["versions"] == [__version__]
    declared = connection_type()
    assert declared["connection-type"] == HailuoHook.conn_type == "hailuo"
    assert declared["hook-name"] == HailuoHook.hook_name
    module, _, name = declared["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is HailuoHook
    for kind in ("operators", "sensors", "triggers", "hooks"):
        for entry in info[kind]:
            for module_name in entry["python-modules"]:
                importlib.import_module(module_name)
    for link in info["extra-links"]:
        module, _, name = link.rpartition(".")
        assert getattr(importlib.import_module(module), name).name == "Hailuo video"


def test_airflow_discovers_the_provider_and_its_hook() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers["airflow-provider-hailuo"].version == __version__
    hook = manager.hooks["hailuo"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_hailuo.hooks.hailuo.HailuoHook"
    assert hook.connection_testable


def test_airflow_providers_get_shows_the_provider(airflow_db: None) -> None:
    (provider,) = json_output(cli("providers", "get", "airflow-provider-hailuo", "-o", "json"))
    assert provider["Provider"] == "airflow-provider-hailuo"
    assert provider["Version"] == __version__


def test_a_connection_added_with_the_cli_is_one_the_hook_reads(airflow_db: None) -> None:
    cli(
        "connections",
        "add",
        "hailuo_cli_test",
        "--conn-type",
        "hailuo",
        "--conn-host",
        "gateway.example.com",
        "--conn-password",
        "sk-cli-test",
        "--conn-extra",
        json.dumps({"timeout": 30, "retry_limit": 4}),
    )
    try:
        (stored,) = json_output(cli("connections", "get", "hailuo_cli_test", "-o", "json"))
        assert stored["conn_type"] == "hailuo"
        settings = GatewaySettings.from_connection(
            "hailuo_cli_test",
            host=stored["host"],
            password=stored["password"],
            extras=stored["extra_dejson"],
        )
        assert settings.base_url == "https://gateway.example.com"
        assert (settings.timeout, settings.retry_limit) == (30.0, 4)
    finally:
        cli("connections", "delete", "hailuo_cli_test")


def _loaded_form() -> dict[str, tuple[str, str]]:
    """``field -> (label, default)`` as the running Airflow loaded the connection form."""
    from airflow.providers_manager import ProvidersManager

    form: dict[str, tuple[str, str]] = {}
    for key, widget in ProvidersManager().connection_form_widgets.items():
        if not key.startswith("extra__hailuo__"):
            continue
        field = widget.field
        if isinstance(field, dict):  # Airflow 3.2+: built from conn-fields
            label, default = field["schema"]["title"], field["value"]
        else:  # older: the hook's wtforms field
            label, default = str(field.args[0]), field.kwargs.get("default")
        form[widget.field_name] = (label, str(default))
    return form


def test_the_connection_form_airflow_loaded_agrees_with_provider_info() -> None:
    declared = {
        name: (spec["label"], str(spec["schema"].get("default")))
        for name, spec in connection_type()["conn-fields"].items()
    }
    assert _loaded_form() == declared


def test_the_field_behaviour_airflow_loaded_agrees_with_provider_info() -> None:
    from airflow.providers_manager import ProvidersManager

    declared = {
        key.replace("-", "_"): value for key, value in connection_type()["ui-field-behaviour"].items()
    }
    assert ProvidersManager().field_behaviours["hailuo"] == declared == HailuoHook.get_ui_field_behaviour()
    assert declared["relabeling"]["password"] == "API key"


def test_every_connection_field_is_one_the_hook_reads() -> None:
    from airflow_provider_hailuo.hooks import settings

    read = {value for name, value in vars(settings).items() if name.startswith("EXTRA_")}
    assert set(connection_type()["conn-fields"]) == read


@pytest.mark.parametrize("name", ["timeout", "connect_timeout", "retry_limit", "retry_delay"])
def test_declared_defaults_are_the_hooks_defaults(name: str) -> None:
    default = connection_type()["conn-fields"][name]["schema"]["default"]
    assert getattr(GatewaySettings("https://x", "k"), name) == default
