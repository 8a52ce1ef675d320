"""The distributions as a packager and a user get them: built from this tree by uv (with the
build backend pyproject.toml names), checked by twine as PyPI would check an upload."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from airflow_provider_hailuo import __version__

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_hailuo"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--out-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


def test_the_wheel_carries_the_runtime_package_and_its_license_only(dists: dict[str, Path]) -> None:
    dist_info = f"{PACKAGE}-{__version__}.dist-info"
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert {name.split("/")[0] for name in names} == {PACKAGE, dist_info}
    assert f"{dist_info}/licenses/LICENSE" in names
    assert f"{PACKAGE}/py.typed" in names
    assert f"{PACKAGE}/emulator/pytest_plugin.py" in names  # the fixtures users test their DAGs with
    assert f"{PACKAGE}/ui/templates/task.html" in names  # the UI views' pages
    assert f"Version: {__version__}" in metadata.splitlines()  # the one version string
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    # Source, issues, changelog and documentation (Airflow 3.3+ shows the last as documentation-url)
    project_urls = {
        line.split(": ", 1)[1].split(",")[0]
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    }
    assert project_urls == {"Source", "Documentation", "Changelog", "Issues"}
    # The UI plugin: Airflow reads the provider info's "plugins" only with lazy discovery off.
    assert "[airflow.plugins]\nhailuo = airflow_provider_hailuo.ui.plugin:HailuoViewsPlugin" in entry_points


def test_the_sdist_carries_what_a_packager_needs_to_rebuild_and_test(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        top = {name.split("/")[1] for name in sdist.getnames() if name.count("/") >= 1}
    assert {PACKAGE, "tests", "dags_examples", "docs", "CHANGELOG.md", "LICENSE", "pyproject.toml"} <= top


def test_twine_accepts_both_distributions(dists: dict[str, Path]) -> None:
    pytest.importorskip(
        "twine",
        reason="twine 7 cannot be installed beside Airflow 2.11 or 3.1: checked on the newest Airflow",
    )
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists["wheel"]), str(dists["sdist"])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
