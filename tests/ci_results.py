"""What each test run proved, recorded for the README's table of the Airflows CI runs.

Every pytest session (and the install tests, for the Airflows they install into fresh
virtualenvs) writes one small JSON file into ``$HAILUO_TEST_RESULTS``, which ``make test`` sets
and empties first; ``tests/compat_table.py`` reads them back. Standard library only: the table is
checked in whichever virtualenv is at hand.
"""

from __future__ import annotations

import json
import os
import platform
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RESULTS_ENV = "HAILUO_TEST_RESULTS"
# The suites, by the folder under tests/ that holds them, in the order the table lists them.
SUITES = ("unit", "integration", "e2e", "install")


@dataclass(frozen=True)
class RunRecord:
    airflow: str  # the Airflow version that ran, e.g. "3.1.8"
    suites: tuple[str, ...]  # folders under tests/ whose tests ran
    passed: bool
    python: str  # "3.11"


def results_dir() -> Path | None:
    where = os.environ.get(RESULTS_ENV)
    return Path(where) if where else None


def record(airflow: str, suites: Iterable[str], passed: bool) -> None:
    """Write one run's record, if this run is being recorded."""
    where = results_dir()
    if where is None:
        return
    where.mkdir(parents=True, exist_ok=True)
    ordered = [suite for suite in SUITES if suite in set(suites)]
    # One file per record: sessions of several Airflows write into the folder at the same time.
    (where / f"{airflow}-{uuid.uuid4().hex[:8]}.json").write_text(
        json.dumps({"airflow": airflow, "suites": ordered, "passed": passed, "python": _python()})
    )


def _python() -> str:
    major, minor, _ = platform.python_version_tuple()
    return f"{major}.{minor}"


def read(where: Path) -> list[RunRecord]:
    records = []
    for path in sorted(where.glob("*.json")):
        raw = json.loads(path.read_text())
        records.append(RunRecord(raw["airflow"], tuple(raw["suites"]), bool(raw["passed"]), raw["python"]))
    return records
