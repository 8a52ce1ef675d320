"""Provider info as the installed Airflow's own schemas define it: the provider-info schema for
the whole document, and the stricter provider.yaml schema for the connection form where that
Airflow ships one (3.2+ describes ``ui-field-behaviour`` and ``conn-fields`` there)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_hailuo import __version__
from airflow_provider_hailuo.get_provider_info import get_provider_info
from airflow_provider_hailuo.integration.lineage import SCHEMA_URL
from tests.airflow_versions import AIRFLOW_V_3_3_PLUS, EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW

SCHEMAS = Path(airflow.__file__).parent
REPO = Path(__file__).resolve().parents[2]


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


def project_urls() -> dict[str, str]:
    urls: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    return urls


@pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="Airflow reads documentation-url from Project-URL since 3.3"
)
def test_airflow_shows_the_documentation_url_of_the_package_metadata() -> None:
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers["airflow-provider-hailuo"]
    assert provider.data["documentation-url"] == project_urls()["Documentation"]


def test_the_lineage_facets_schema_is_published_in_the_source_repository() -> None:
    source = project_urls()["Source"].removeprefix("https://github.com/")
    assert SCHEMA_URL.startswith(f"https://raw.githubusercontent.com/{source}/v{__version__}/")
    assert (REPO / SCHEMA_URL.split(f"v{__version__}/", 1)[1].split("#")[0]).is_file()


def test_the_connection_forms_price_table_help_names_every_model_of_the_table() -> None:
    from airflow_provider_hailuo.gateway.models import MODELS

    (connection_type,) = get_provider_info()["connection-types"]
    help_text = connection_type["conn-fields"]["price_table"]["description"]
    assert [model for model in MODELS if model not in help_text] == []
