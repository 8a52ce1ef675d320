"""The package's folders are its layers (see the map in ``airflow_provider_hailuo/__init__.py``):
each module imports only from its own layer and the layers below it, the gateway layer imports
no Airflow, the provider never imports its test kit, and the import paths the README documents
still work."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_hailuo"
# Lowest first. The top-level modules (the error tree, the kept import paths, what Airflow
# discovers) belong with the gateway layer: its modules raise the errors, and the errors ask its
# one rule for money (``gateway/resend.py``) whether a create may go again.
LAYERS = ("gateway", "media", "integration", "faces", "emulator")
FACES = {"hooks", "operators", "sensors", "triggers", "ui"}


def layer_of(module: str) -> str:
    """``airflow_provider_hailuo.media.images`` -> ``media``; a top-level module -> ``gateway``."""
    parts = module.split(".")
    if len(parts) < 3 and not (PACKAGE / parts[-1]).is_dir():
        return "gateway"
    folder = parts[1]
    return "faces" if folder in FACES else folder


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether a dotted name is one of the package's modules (not a name imported from one)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def runtime_imports(path: Path) -> list[str]:
    """Every module the file imports when it runs (lazy imports in functions included), leaving out
    what is imported for the type checker only (``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for statement in node.body for child in ast.walk(statement))
    imported: list[str] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.append(node.module)
            # ``from airflow_provider_hailuo.gateway import protocol`` imports a module, too.
            imported.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return imported


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_each_module_imports_only_its_own_layer_and_those_below(path: Path) -> None:
    name = module_name(path)
    own = LAYERS.index(layer_of(name))
    upward = [
        imported
        for imported in runtime_imports(path)
        if imported.startswith("airflow_provider_hailuo.")
        and is_module(imported)
        and LAYERS.index(layer_of(imported)) > own
    ]
    assert upward == [], f"{name} ({LAYERS[own]}) imports from a layer above it: {upward}"


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "gateway").glob("*.py")),
    ids=lambda path: path.name,
)
def test_the_gateway_layer_imports_no_airflow(path: Path) -> None:
    airflow = [name for name in runtime_imports(path) if name == "airflow" or name.startswith("airflow.")]
    assert airflow == [], f"gateway/{path.name} imports Airflow: {airflow}"


def test_the_layer_test_would_see_an_upward_import(tmp_path: Path) -> None:
    """The check above is not vacuous: an import of an operator from the gateway layer is seen."""
    module = tmp_path / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from airflow_provider_hailuo.hooks.hailuo import HailuoHook\n"
        "def later():\n    from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator\n"
    )
    assert [name for name in runtime_imports(module) if name.startswith("airflow_provider_hailuo")] == [
        "airflow_provider_hailuo.operators.hailuo",
        "airflow_provider_hailuo.operators.hailuo.HailuoImageToVideoOperator",
    ]
    assert layer_of("airflow_provider_hailuo.operators.hailuo") == "faces"
    assert layer_of("airflow_provider_hailuo.exceptions") == "gateway"
    assert layer_of("airflow_provider_hailuo.media.images") == "media"


# Every import the README shows, and the paths of earlier releases it may still be read with.
PUBLIC_NAMES = [
    ("airflow_provider_hailuo.operators.hailuo", "HailuoImageToVideoOperator"),
    ("airflow_provider_hailuo.sensors.hailuo", "HailuoTaskSensor"),
    ("airflow_provider_hailuo.triggers.hailuo", "HailuoTaskTrigger"),
    ("airflow_provider_hailuo.triggers.quota", "HailuoQuotaWaitTrigger"),
    ("airflow_provider_hailuo.hooks.hailuo", "HailuoHook"),
    ("airflow_provider_hailuo.hooks.async_pool", "SessionLease"),
    ("airflow_provider_hailuo.params", "GenerationRequest"),
    ("airflow_provider_hailuo.protocol", "failure_error"),
    ("airflow_provider_hailuo.protocol", "HailuoTask"),
    ("airflow_provider_hailuo.gateway.params", "GenerationRequest"),
    ("airflow_provider_hailuo.gateway.protocol", "failure_error"),
    ("airflow_provider_hailuo.exceptions", "HailuoError"),
    ("airflow_provider_hailuo.emulator.videos", "task_id_of_video"),
    ("airflow_provider_hailuo.emulator.server", "EmulatorServer"),
    ("airflow_provider_hailuo.emulator.pytest_plugin", "hailuo_emulator"),
]


@pytest.mark.parametrize(("module", "name"), PUBLIC_NAMES, ids=lambda value: str(value))
def test_every_public_import_path_works(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_the_kept_paths_are_the_same_objects() -> None:
    from airflow_provider_hailuo import params, protocol
    from airflow_provider_hailuo.gateway import params as gateway_params
    from airflow_provider_hailuo.gateway import protocol as gateway_protocol

    assert params.GenerationRequest is gateway_params.GenerationRequest
    assert protocol.HailuoTask is gateway_protocol.HailuoTask
