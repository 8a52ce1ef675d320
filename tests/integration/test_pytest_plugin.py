"""The emulator's pytest fixtures are opt-in: a project's pytest session without the opt-in has
none of them, and one with the README's line gets a running emulator and a connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OPT_IN = 'pytest_plugins = ["airflow_provider_hailuo.emulator.pytest_plugin"]\n'
A_DAG_AUTHORS_TEST = """
from airflow_provider_hailuo.hooks.hailuo import HailuoHook


def test_a_video_against_the_emulator(hailuo_connection, hailuo_emulator):
    from airflow_provider_hailuo.params import GenerationRequest

    hook = HailuoHook(hailuo_connection)
    task_id = hook.submit(GenerationRequest(first_frame_image="https://example.com/still.png"))
    assert hook.wait_for_task(task_id, poll_interval=0.05, timeout=30).is_success
    assert hailuo_emulator.client.stats()["create"] == 1
"""


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Another project's session: its own rootdir, none of this repository's configuration.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTEST_ADDOPTS": ""},
        check=False,
    )


def test_without_the_opt_in_a_session_has_no_hailuo_fixtures(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    listed = pytest_in(tmp_path, "--fixtures")
    assert listed.returncode in (0, 5), listed.stderr[-2000:]  # 5: no tests collected
    assert "hailuo_emulator" not in listed.stdout
    assert "airflow_provider_hailuo" not in listed.stdout


def test_the_readmes_line_gives_a_dag_author_the_emulator(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(OPT_IN)
    (tmp_path / "test_my_dag.py").write_text(A_DAG_AUTHORS_TEST)
    ran = pytest_in(tmp_path)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "1 passed" in ran.stdout
