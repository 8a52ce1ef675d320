"""What several test modules share: running DAGs with ``dag.test()``, the result's keys as
docs/design.md fixes them, a stand-in task instance, and a free port for a server a test starts."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = {
    "examples": REPO / "dags_examples",
    "tests": REPO / "tests" / "dags",
}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now, for a server the test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_dag(folder: str, module: str, dag_id: str) -> Any:
    """The DAG ``dag_id`` defined in ``<folder>/<module>.py``, loaded as Airflow's parser would."""
    path = DAG_FILES[folder] / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"hailuo_dag_{module}", path)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    for value in vars(loaded).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"no DAG {dag_id!r} in {path}")


def task_results(dag_run: Any) -> dict[tuple[str, int], tuple[str, Any]]:
    """``(task_id, map_index) -> (state, XCom return value)`` for every task of a run."""
    return {
        (ti.task_id, ti.map_index): (
            str(ti.state),
            ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index),
        )
        for ti in dag_run.get_task_instances()
    }


# The result's keys, as docs/design.md fixes them (written out, not taken from the code under test).
RESULT_KEYS = frozenset(
    {
        "hailuo_task_id",
        "status",
        "model",
        "video_url",
        "video_urls",
        "content",
        "cost",
        "discount",
        "metadata",
    }
)


class RecordingTaskInstance:
    """Stands in for the running task instance: the only thing the operator asks of it is XCom."""

    stats_tags: dict[str, str] = {}
    dag_id, run_id, task_id, map_index = "hailuo_dag", "manual__2026-12-01", "video", -1
    try_number = 1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str | list[str], key: str = "return_value", **_: Any) -> Any:
        """This task instance's own XComs: one value for its task id, a list for a list of ids."""
        if isinstance(task_ids, str):
            return self.xcom.get(key) if task_ids == self.task_id else None
        return [self.xcom[key]] if self.task_id in task_ids and key in self.xcom else []

    def get_task_states(self, dag_id: str, task_ids: list[str], run_ids: list[str], **_: Any) -> Any:
        """The run's task instance states as Airflow 3's task SDK answers: this one, running."""
        return {self.run_id: {self.task_id: "running"}} if self.task_id in task_ids else {}


class StandInStateStore(dict[str, Any]):
    """Stands in for Airflow 3.3's task state store (a per-task-instance key-value store)."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def log_lines(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What was logged: Airflow 3 logs through structlog to stdout, Airflow 2 through logging
    and its stdout handler too; a line seen in both is counted once."""
    records = [r.getMessage() for r in caplog.records]
    printed = capsys.readouterr().out.splitlines()
    return records + [line for line in printed if not any(record in line for record in records)]
