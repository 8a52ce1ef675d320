"""A throwaway local Airflow for running DAGs against the emulator (the demo, the tests, users' tests).

It must be prepared before Airflow is imported: Airflow reads its configuration once, at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_ENV


def configure_local_airflow(dag_folders: list[Path], home: Path | None = None) -> Path:
    """Point Airflow (through environment variables) at a fresh home and at ``dag_folders``.

    On Airflow 3 each folder becomes a local DAG bundle (``dag.test()`` looks its DAG up there);
    Airflow 2 reads the first folder as its DAGs folder.
    """
    home = home or Path(tempfile.mkdtemp(prefix="hailuo-airflow-home-"))
    home.mkdir(parents=True, exist_ok=True)
    bundles = [
        {
            "name": f"hailuo_{index}_{folder.name}",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder.resolve()), "refresh_interval": 0},
        }
        for index, folder in enumerate(dag_folders)
    ]
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folders[0].resolve()),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            # dag.test() runs a trigger inline, with no scheduler to race (airflow_provider_hailuo.integration.deferral):
            # a video ready in seconds is taken at once, not held for the deferral floor.
            MIN_DEFERRAL_ENV: "0",
        }
    )
    return home


def migrate_metadata_db() -> None:
    """Create or upgrade the metadata database, in a child process so this one's Airflow is untouched."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")


def prepare_local_airflow(dag_folders: list[Path], home: Path | None = None) -> Path:
    """Both of the above: a local Airflow ready for ``dag.test()``."""
    home = configure_local_airflow(dag_folders, home)
    migrate_metadata_db()
    return home
