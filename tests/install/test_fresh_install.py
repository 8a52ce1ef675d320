"""The install path of the README, walked as a new user walks it.

First an Airflow as its users have it: a fresh virtualenv with Airflow 3.3.2 or 2.11.2 and the
dependencies of the day a week after its release (close to what its constraints file pins; those
files cannot be fetched here). Then the README's command, a separate install of the built wheel with
``apache-airflow`` pinned to ``$(airflow version)``, no lock file and no constraints (as Airflow's
documentation asks for providers added later), run by pip in a shell: Airflow stays as it was,
the provider shows in ``airflow providers list``, and the first example DAG
(dags_examples/example_hailuo_image_to_video.py), copied into a new Airflow home, runs with
``airflow dags test`` against the emulator the wheel installs as ``hailuo-emulator``.

uv makes the Airflow of the first step (pip cannot resolve "as of a day"); the rest is the
commands a user types. Each run is recorded for the README's table of what CI
tested (tests/ci_results.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_hailuo import __version__
from airflow_provider_hailuo.emulator.client import EmulatorClient
from airflow_provider_hailuo.emulator.config import DEFAULT_API_KEY
from tests import ci_results

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "example_hailuo_image_to_video"
# The newest release of each line, and a week after its release day.
AIRFLOWS = {"3.3.2": "2026-09-24", "2.11.2": "2026-03-21"}


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def installed(python: Path, distribution: str) -> tuple[int, ...]:
    """The release (major, minor, ...) of ``distribution`` in the virtualenv of ``python``."""
    printed = run(python, "-c", f"from importlib.metadata import version; print(version({distribution!r}))")
    return tuple(int(part) for part in printed.strip().split(".")[:3])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "uv", "build", "--wheel", "--out-dir", out, REPO, timeout=600)
    return next(out.glob("*.whl"))


@pytest.fixture
def start_emulator() -> Iterator[Callable[[Path], str]]:
    """Starts ``hailuo-emulator`` from a virtualenv's bin folder; returns the URL it listens on."""
    started: list[subprocess.Popen[str]] = []

    def start(bin_dir: Path) -> str:
        process = subprocess.Popen(
            [str(bin_dir / "hailuo-emulator"), "--port", "0", "--render-seconds", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        return process.stdout.readline().strip()

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("airflow_version", sorted(AIRFLOWS))
def test_the_wheel_installs_into_an_airflow_and_runs_the_example(
    airflow_version: str, wheel: Path, tmp_path: Path, start_emulator: Callable[[Path], str]
) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "uv", "venv", "--quiet", "--seed", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", python]
    run(*install, "--exclude-newer", AIRFLOWS[airflow_version], f"apache-airflow=={airflow_version}")
    # That day's common-compat is older than the provider needs: the README's command upgrades it.
    assert installed(python, "apache-airflow-providers-common-compat") < (1, 23)

    home, dags, videos = tmp_path / "airflow", tmp_path / "airflow" / "dags", tmp_path / "videos"
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    # The README's command, by pip in a shell, with the wheel for the package's name.
    readme_command = 'pip install --quiet "apache-airflow==$(airflow version)" "$WHEEL"'
    run("bash", "-c", readme_command, env={**env, "WHEEL": str(wheel)})
    assert installed(python, "apache-airflow-providers-common-compat") >= (1, 23)
    assert run(python, "-c", "import airflow; print(airflow.__version__)").strip() == airflow_version

    dags.mkdir(parents=True)
    shutil.copy(REPO / "dags_examples" / f"{EXAMPLE}.py", dags)
    shutil.copytree(REPO / "dags_examples" / "images", dags / "images")
    url = start_emulator(venv / "bin")
    assert url.startswith("http://127.0.0.1:")
    env |= {
        "AIRFLOW_CONN_HAILUO_DEFAULT": json.dumps(
            {"conn_type": "hailuo", "host": url, "password": DEFAULT_API_KEY}
        ),
        "AIRFLOW_VAR_HAILUO_VIDEO_DIR": str(videos),
    }
    airflow = venv / "bin" / "airflow"

    providers = run(airflow, "providers", "list", env=env)
    assert "airflow-provider-hailuo" in providers
    assert __version__ in providers

    run(airflow, "db", "migrate", env=env)
    run(airflow, "dags", "test", EXAMPLE, env=env)

    (video,) = videos.glob("*.mp4")
    assert video.stat().st_size > 0
    assert video.stem.startswith("task_")  # named after its gateway task
    assert EmulatorClient(url).stats()["create"] == 1
    ci_results.record(airflow_version, ["install"], passed=True)
