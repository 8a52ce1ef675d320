"""What each test run proved, recorded for the README's table of the Airflows CI runs.

Every pytest session (and the install tests, for the Airflows they install into fresh
virtualenvs) writes one small JSON file into ``$HAILUO_TEST_RESULTS``, which ``make test`` sets
and empties first; ``tests/compat_table.py`` reads them back, and ``python -m tests.ci_results``
prints one line per session (tests, minutes) at the end of ``make test``, so a slow machine shows
as a number rather than as a timeout. Standard library only: the table is checked in whichever
virtualenv is at hand.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_ENV = "HAILUO_TEST_RESULTS"
# The name of the `make` target a session runs for, so the summary says which suite a line is.
SUITE_ENV = "HAILUO_SUITE"
# The suites, by the folder under tests/ that holds them, in the order the table lists them.
SUITES = ("unit", "integration", "e2e", "install")
# What a session ran: every test, or (on an older Airflow line) only the tests marked
# `every_airflow`, whose behaviour depends on the Airflow version (tests/airflow_versions.py).
ALL_TESTS = "all"
EVERY_AIRFLOW_TESTS = "every_airflow"


@dataclass(frozen=True)
class Session:
    """How a pytest session went, for the summary and the table of what each line runs."""

    label: str  # the make target, e.g. "test-airflow-3.2"
    seconds: float
    outcomes: Mapping[str, int]  # "passed", "failed", "skipped", "xfailed", "error" -> count
    # test module (path from the repository root) -> (tests run, tests collected); skipped tests
    # did not run, expected failures did.
    modules: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    part: str = ""  # "2/2": the second of two sessions that split one suite; "" for a whole one


@dataclass(frozen=True)
class RunRecord:
    airflow: str  # the Airflow version that ran, e.g. "3.1.8"
    suites: tuple[str, ...]  # folders under tests/ whose tests ran
    passed: bool
    python: str  # "3.11"
    scope: str = ALL_TESTS
    session: Session | None = None  # None for the install tests' records of what they installed


def results_dir() -> Path | None:
    where = os.environ.get(RESULTS_ENV)
    return Path(where) if where else None


def record(
    airflow: str,
    suites: Iterable[str],
    passed: bool,
    *,
    scope: str = ALL_TESTS,
    session: Session | None = None,
) -> None:
    """Write one run's record, if this run is being recorded."""
    where = results_dir()
    if where is None:
        return
    where.mkdir(parents=True, exist_ok=True)
    ordered = [suite for suite in SUITES if suite in set(suites)]
    raw: dict[str, object] = {
        "airflow": airflow,
        "suites": ordered,
        "passed": passed,
        "python": _python(),
        "scope": scope,
    }
    if session is not None:
        raw["session"] = {
            "label": session.label,
            "seconds": round(session.seconds, 1),
            "outcomes": dict(session.outcomes),
            "modules": {module: list(counts) for module, counts in sorted(session.modules.items())},
            "part": session.part,
        }
    # One file per record: sessions of several Airflows write into the folder at the same time.
    (where / f"{airflow}-{uuid.uuid4().hex[:8]}.json").write_text(json.dumps(raw))


def _python() -> str:
    major, minor, _ = platform.python_version_tuple()
    return f"{major}.{minor}"


def read(where: Path) -> list[RunRecord]:
    records = []
    for path in sorted(where.glob("*.json")):
        raw = json.loads(path.read_text())
        session = raw.get("session")
        records.append(
            RunRecord(
                raw["airflow"],
                tuple(raw["suites"]),
                bool(raw["passed"]),
                raw["python"],
                raw.get("scope", ALL_TESTS),
                Session(
                    session["label"],
                    float(session["seconds"]),
                    session["outcomes"],
                    {module: (ran, collected) for module, (ran, collected) in session["modules"].items()},
                    session.get("part", ""),
                )
                if session
                else None,
            )
        )
    return records


def summary(records: Iterable[RunRecord]) -> list[str]:
    """One line per recorded session, the slowest first: which suite, which Airflow, what, how long."""
    sessions = sorted(
        (run for run in records if run.session is not None),
        key=lambda run: run.session.seconds if run.session else 0.0,
        reverse=True,
    )
    lines = []
    for run in sessions:
        assert run.session is not None
        outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(run.session.outcomes.items()))
        verdict = "passed" if run.passed else "FAILED"
        lines.append(
            f"{run.session.label:<22} Airflow {run.airflow:<7} {verdict:<6} "
            f"{run.session.seconds / 60:5.1f} min  {outcomes}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    del argv
    where = results_dir()
    if where is None or not where.is_dir():
        print(f"no test records: set {RESULTS_ENV} to the folder the test runs wrote into", file=sys.stderr)
        return 2
    print("Suites of this run (the slowest first):")
    for line in summary(read(where)):
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
