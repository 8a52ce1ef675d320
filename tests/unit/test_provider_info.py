"""Provider info as the installed Airflow's own schemas define it: the provider-info schema for
the whole document, and the stricter provider.yaml schema for the connection form where that
Airflow ships one (3.2+ describes ``ui-field-behaviour`` and ``conn-fields`` there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import airflow
import jsonschema

from airflow_provider_hailuo.get_provider_info import get_provider_info

SCHEMAS = Path(airflow.__file__).parent


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def test_provider_info_is_valid_for_the_installed_airflow() -> None:
    jsonschema.validate(get_provider_info(), schema("provider_info.schema.json"))


def test_the_connection_form_is_valid_for_the_stricter_provider_yaml_schema() -> None:
    strict = schema("provider.yaml.schema.json")
    connection_types = {
        "type": "object",
        "properties": {"connection-types": strict["properties"]["connection-types"]},
        "definitions": strict.get("definitions", {}),
    }
    jsonschema.validate({"connection-types": get_provider_info()["connection-types"]}, connection_types)


def test_the_integration_is_tagged_for_generative_ai() -> None:
    (integration,) = get_provider_info()["integrations"]
    assert "generative-ai" in integration["tags"]
