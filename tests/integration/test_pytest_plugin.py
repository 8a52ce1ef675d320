"""The emulator's pytest fixtures are opt-in: a project's pytest session without the opt-in has
none of them, and one with the README's line runs the README's first DAG and its test against
the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.airflow_versions import EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW

OPT_IN = 'pytest_plugins = ["airflow_provider_hailuo.emulator.pytest_plugin"]\n'
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
STILL = Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg"


def readme_python(section: str) -> list[str]:
    """The Python code blocks of the README's section ``section`` (a heading line), in order."""
    text = re.split(r"\n#+ ", README.split(f"\n{section}\n", 1)[1], maxsplit=1)[0]
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def pytest_in(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Another project's session: its own rootdir, none of this repository's configuration.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env or {**os.environ, "PYTEST_ADDOPTS": ""},
        check=False,
    )


def test_without_the_opt_in_a_session_has_no_hailuo_fixtures(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    listed = pytest_in(tmp_path, "--fixtures")
    assert listed.returncode in (0, 5), listed.stderr[-2000:]  # 5: no tests collected
    assert "hailuo_emulator" not in listed.stdout
    assert "airflow_provider_hailuo" not in listed.stdout


def test_the_readmes_first_dag_and_its_test_pass_with_the_readmes_line(
    tmp_path: Path, airflow_db: None
) -> None:
    # The README's own first DAG and DAG test, as a DAG author copies them, with the frame and the
    # download folder pointed at real places.
    (first_dag,) = readme_python("## Install")
    (dag_test,) = readme_python("### Testing your own DAGs")
    assert "/data/stills/lighthouse.jpg" in first_dag
    assert '"/data/videos/"' in first_dag
    assert OPT_IN.strip() in README
    first_dag = first_dag.replace("/data/stills/lighthouse.jpg", str(STILL))
    first_dag = first_dag.replace('"/data/videos/"', repr(f"{tmp_path / 'videos'}/"))
    # A DAG author's project: DAGs in dags/ (Airflow's dags_folder), tests in tests/, run against
    # this session's migrated metadata database.
    (tmp_path / "dags").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = dags\n")
    (tmp_path / "conftest.py").write_text(OPT_IN)
    (tmp_path / "dags" / "lighthouse.py").write_text(first_dag)
    (tmp_path / "tests" / "test_lighthouse.py").write_text(dag_test)
    env = {**os.environ, "PYTEST_ADDOPTS": "", "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags")}
    env.pop("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", None)  # this suite's own DAG bundles
    ran = pytest_in(tmp_path, env=env)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "1 passed" in ran.stdout
    (video,) = (tmp_path / "videos").glob("task_*.mp4")
    assert video.stat().st_size > 0
