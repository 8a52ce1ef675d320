"""The README's reference tables against the code: a parameter added, renamed or re-defaulted in
one place and not the other fails here."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.get_provider_info import get_provider_info
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.protocol import HailuoTask
from airflow_provider_hailuo.sensors.hailuo import HailuoTaskSensor

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
NO_LITERAL = object()


def table_after(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table under ``heading``, header row excluded."""
    section = README.split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows[2:]]


def first_code(cell: str) -> str | None:
    match = re.search(r"`([^`]+)`", cell)
    return match.group(1) if match else None


def readme_parameters(heading: str) -> dict[str, Any]:
    """``name -> default`` (a Python literal, or NO_LITERAL where the README explains in words)."""
    parameters: dict[str, Any] = {}
    for name_cell, default_cell, *_ in table_after(heading):
        name = first_code(name_cell)
        assert name, name_cell
        literal = first_code(default_cell)
        if default_cell == "required":
            parameters[name] = inspect.Parameter.empty
            continue
        try:
            parameters[name] = ast.literal_eval(literal) if literal else NO_LITERAL
        except (ValueError, SyntaxError):
            parameters[name] = NO_LITERAL
    return parameters


def own_parameters(cls: type) -> dict[str, Any]:
    signature = inspect.signature(cls.__init__)
    return {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    }


@pytest.mark.parametrize(
    ("heading", "cls", "inherited"),
    [
        ("## HailuoImageToVideoOperator", HailuoImageToVideoOperator, {"durable": True}),
        ("## HailuoTaskSensor", HailuoTaskSensor, {}),
    ],
)
def test_the_parameter_tables_match_the_signatures(
    heading: str, cls: type, inherited: dict[str, Any]
) -> None:
    documented = readme_parameters(heading)
    actual = {**own_parameters(cls), **inherited}
    assert set(documented) == set(actual)
    for name, default in documented.items():
        if default is not NO_LITERAL:
            assert actual[name] == default, f"{name}: README says {default!r}, the code {actual[name]!r}"


def test_the_connection_table_lists_every_field() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    extras = {
        first_code(row[0]) for row in table_after("## Connecting to the real gateway") if "Extra" in row[0]
    }
    assert extras == set(connection_type["conn-fields"])


def test_the_result_table_lists_every_key() -> None:
    keys = {first_code(row[0]) for row in table_after("## The result")}
    assert keys == set(HailuoTask(id="t", status="completed").result()) | {"local_path", "local_paths"}


def test_the_triggers_limits_are_the_codes() -> None:
    from airflow_provider_hailuo.hooks.async_pool import MAX_CONNECTIONS_PER_GATEWAY
    from airflow_provider_hailuo.hooks.settings_cache import SETTINGS_TTL_SECONDS
    from airflow_provider_hailuo.polling import GROWTH, MAX_POLL_DELAY, RECOVERY
    from airflow_provider_hailuo.triggers.hailuo import MAX_FIRST_POLL_SPREAD

    text = " ".join(README.split())  # the README wraps its lines anywhere
    assert f"(at most {MAX_FIRST_POLL_SPREAD:g} s)" in text
    assert f"reused for {SETTINGS_TTL_SECONDS:g} s" in text
    assert f"at most {MAX_CONNECTIONS_PER_GATEWAY} polls per gateway are in flight" in text
    assert f"multiplies the wait by {GROWTH[0]:g} to {GROWTH[1]:g} at random" in text
    assert f"at most {MAX_POLL_DELAY / 60:g} minutes" in text
    assert RECOVERY == 0.9
    assert "shrinks the wait by a tenth" in text


def test_the_quota_waits_limits_are_the_codes() -> None:
    from airflow_provider_hailuo.defaults import MIN_QUOTA_DEFERRAL_SECONDS
    from airflow_provider_hailuo.quota import DEFAULT_SPACING, MAX_BACKOFF, MAX_SPACING, MIN_SPACING

    text = " ".join(README.split())
    assert f"at least {MIN_SPACING:g} s apart, a `Retry-After: 0` included" in text
    assert f"at most {MAX_SPACING:g} s apart, {DEFAULT_SPACING:g} s without a `Retry-After`" in text
    assert f"(jittered, at most {MAX_BACKOFF / 60:g} minutes)" in text
    assert f"no sooner than {MIN_QUOTA_DEFERRAL_SECONDS:g} s after deferring" in text
