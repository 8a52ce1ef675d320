"""The README's reference tables against the code: a parameter added, renamed or re-defaulted in
one place and not the other fails here."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.gateway.protocol import HailuoTask
from airflow_provider_hailuo.get_provider_info import get_provider_info
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator, HailuoTextToVideoOperator
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
    """The parameters of ``cls`` and of the provider's classes it builds on (an operator's own
    win over its base's: the model's default is the operator's)."""
    parameters: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("airflow_provider_hailuo") or "__init__" not in vars(klass):
            continue
        for name, parameter in inspect.signature(klass.__init__).parameters.items():
            if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD:
                parameters[name] = parameter.default
    return parameters


@pytest.mark.parametrize(
    ("heading", "cls", "inherited"),
    [
        ("## HailuoImageToVideoOperator", HailuoImageToVideoOperator, {}),
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


def test_the_text_operator_documents_its_own_parameters_and_names_the_shared_ones() -> None:
    documented = readme_parameters("## HailuoTextToVideoOperator")
    own = own_parameters(HailuoTextToVideoOperator)
    text_only = set(inspect.signature(HailuoTextToVideoOperator.__init__).parameters) - {"self", "kwargs"}
    assert set(documented) == text_only
    for name, default in documented.items():
        if default is not NO_LITERAL:
            assert own[name] == default, f"{name}: README says {default!r}, the code {own[name]!r}"
    # The parameters it shares with the image operator are named, not tabled again.
    section = README.split("\n## HailuoTextToVideoOperator\n", 1)[1].split("\n## ", 1)[0]
    shared = set(own) - text_only
    assert "hailuo_conn_id" in shared
    assert [name for name in shared if f"`{name}`" not in section] == []


def models_table() -> str:
    """The README's model table, written from gateway/models.py."""
    from airflow_provider_hailuo.gateway.models import MODELS, OPTIONAL_PARAMETERS

    def pairs(table: Any) -> str:
        return "; ".join(f"{duration} s: {', '.join(table[duration])}" for duration in sorted(table))

    rows = [
        "| model | makes | frames | prompt | duration: resolutions (unset: 6 s, 768P) | also takes |",
        "|---|---|---|---|---|---|",
    ]
    for rules in MODELS.values():
        frames = {
            0: "none",
            1: "`first_frame_image` (required)",
            2: "`first_frame_image` (required), `last_frame_image`",
        }[len(rules.frames)]
        sizes = pairs(rules.resolutions)
        if rules.two_frame_resolutions:
            sizes += f"; with a last frame, {pairs(rules.two_frame_resolutions)}"
        also = [
            f"`{name}`"
            for name in OPTIONAL_PARAMETERS
            if name in rules.options and name not in ("prompt", "duration", "resolution")
        ]
        name = f"{rules.name} ({rules.note})" if rules.note else rules.name
        rows.append(
            f"| `{rules.model}` | {name}, {rules.kind.value} | {frames} | "
            f"{'required' if rules.prompt_required else 'optional'} | {sizes} | {', '.join(also)} |"
        )
    return "\n".join(rows)


def test_the_model_table_is_the_codes() -> None:
    section = README.split("<!-- models-table:start", 1)[1].split("<!-- models-table:end -->", 1)[0]
    assert section.split("\n", 1)[1].strip() == models_table()


def test_the_connection_table_lists_every_field() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    extras = {
        first_code(row[0]) for row in table_after("## Connecting to the real gateway") if "Extra" in row[0]
    }
    assert extras == set(connection_type["conn-fields"])


def test_the_result_table_lists_every_key() -> None:
    keys = {first_code(row[0]) for row in table_after("## The result")}
    downloaded = {"local_path", "local_paths", "local_size_bytes", "local_sha256", "local_files"}
    assert keys == set(HailuoTask(id="t", status="completed").result()) | downloaded


def test_the_triggers_limits_are_the_codes() -> None:
    from airflow_provider_hailuo.gateway.polling import GROWTH, MAX_POLL_DELAY, RECOVERY
    from airflow_provider_hailuo.hooks.async_pool import MAX_CONNECTIONS_PER_GATEWAY
    from airflow_provider_hailuo.hooks.settings_cache import SETTINGS_TTL_SECONDS
    from airflow_provider_hailuo.triggers.hailuo import MAX_FIRST_POLL_SPREAD

    text = " ".join(README.split())  # the README wraps its lines anywhere
    assert f"(at most {MAX_FIRST_POLL_SPREAD:g} s)" in text
    assert f"reused for {SETTINGS_TTL_SECONDS:g} s" in text
    assert f"at most {MAX_CONNECTIONS_PER_GATEWAY} polls per gateway are in flight" in text
    assert f"multiplies the wait by {GROWTH[0]:g} to {GROWTH[1]:g} at random" in text
    assert f"at most {MAX_POLL_DELAY / 60:g} minutes" in text
    assert RECOVERY == 0.9
    assert "shrinks the wait by a tenth" in text


def test_the_render_schedule_and_the_pacer_are_the_codes() -> None:
    from airflow_provider_hailuo.gateway import render_times
    from airflow_provider_hailuo.triggers import pacer

    text = " ".join(README.split())
    assert f"the last {render_times.WINDOW} renders of each such ask" in text
    assert f"Once it has seen {render_times.MIN_SAMPLES}, a trigger" in text
    assert f"until {render_times.MARGIN:g} of their {render_times.QUANTILE * 100:g}th percentile" in text
    assert pacer.DECREASE == 0.5
    assert "halves the connection's rate" in text
    assert "once a second at most" in text
    assert pacer.DECREASE_EVERY == 1.0
    assert f"about {pacer.RECOVERY * 100:g}% a second" in text


def test_the_quota_waits_limits_are_the_codes() -> None:
    from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_SECONDS
    from airflow_provider_hailuo.gateway.quota import DEFAULT_SPACING, MAX_BACKOFF, MAX_SPACING, MIN_SPACING

    text = " ".join(README.split())
    assert f"at least {MIN_SPACING:g} s apart, a `Retry-After: 0` included" in text
    assert f"at most {MAX_SPACING:g} s apart, {DEFAULT_SPACING:g} s without a `Retry-After`" in text
    assert f"(jittered, at most {MAX_BACKOFF / 60:g} minutes)" in text
    assert f"no sooner than {MIN_DEFERRAL_SECONDS:g} s after deferring" in text
    assert f"under {MIN_DEFERRAL_SECONDS:g} s) waits in its worker" in text


def test_the_tests_readme_names_the_tests_of_every_module() -> None:
    """tests/README.md maps each package module to its tests: a new module is added there too."""
    package = Path(__file__).resolve().parents[2] / "airflow_provider_hailuo"
    table = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    modules = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "__init__.py" and path.parts[len(package.parts)] not in ("ui", "emulator")
    )
    missing = [module for module in modules if f"`{module}`" not in table]
    assert missing == []
    assert "| `ui/` |" in table
    assert "| `emulator/` |" in table
    tests = Path(__file__).resolve().parents[1]
    named = re.findall(r"`((?:unit|integration)/test_\w+\.py)`", table)
    assert [name for name in named if not (tests / name).exists()] == []


def test_the_run_caps_wait_for_running_task_instances_is_the_codes() -> None:
    from airflow_provider_hailuo.integration.spend import SETTLE_SECONDS, UNCOMMITTED_WAIT_SECONDS

    text = " ".join(README.split())
    assert f"still running without one after {UNCOMMITTED_WAIT_SECONDS / 60:g} minutes" in text
    assert SETTLE_SECONDS == 1.0
    assert "A task commits, waits a second, then reads the run's commitments again" in text


def test_the_readmes_price_table_is_what_the_emulator_charges() -> None:
    """The README says the bundled emulator charges the example's prices: every one of them."""
    import json

    from airflow_provider_hailuo.emulator.pricing import MODEL_COST_TABLES

    block = README.split("connection: the extra `price_table` maps", 1)[1].split("```json\n", 1)[1]
    example = json.loads(block.split("```", 1)[0])["price_table"]
    assert "bundled emulator charges these prices" in README
    charged = {
        model: {
            resolution: {str(duration): cost for (res, duration), cost in table.items() if res == resolution}
            for resolution in {res for res, _ in table}
        }
        for model, table in MODEL_COST_TABLES.items()
        if model in example
    }
    assert example == charged
