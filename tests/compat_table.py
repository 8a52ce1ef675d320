"""The README's table of the Airflows CI tests, checked against (or written from) what ran.

``make test`` runs every suite with ``HAILUO_TEST_RESULTS`` set, then ``--check``: the table
between the README's ``ci-table`` markers must be exactly the one the run's records give, and
every recorded run must have passed. So the README cannot claim an Airflow, or a suite on it,
that the last run did not pass. A second table says, per test module, whether all, some or none
of its tests ran on each Airflow (the older lines run only what depends on Airflow:
tests/airflow_versions.py). ``--write`` rewrites the table after a full run. Run it from
the repository root as ``python -m tests.compat_table``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.ci_results import (
    ALL_TESTS,
    EVERY_AIRFLOW_TESTS,
    RESULTS_ENV,
    SUITES,
    RunRecord,
    read,
    results_dir,
)

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- ci-table:start (tests/compat_table.py writes this table from what `make test` ran) -->"
END = "<!-- ci-table:end -->"
SUITE_NAMES = {
    "unit": "unit",
    "integration": "integration (`dag.test()`, the emulator over HTTP)",
    "e2e": "end to end (scheduler, triggerer, API server; Local and Celery executors)",
    "install": "install of the built wheel into a fresh Airflow",
}
SCOPE_NAMES = {
    ALL_TESTS: "all",
    EVERY_AIRFLOW_TESTS: "those that depend on Airflow (`every_airflow`)",
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def render(records: list[RunRecord]) -> str:
    """The table of Airflows and suites, then the table of what each line ran, module by module."""
    runs = [run for run in records if run.suites]
    airflows = sorted({run.airflow for run in runs}, key=_version_key, reverse=True)
    rows = []
    for airflow in airflows:
        own = [run for run in runs if run.airflow == airflow]
        suites = {suite for run in own for suite in run.suites}
        pythons = sorted({run.python for run in own})
        partial = any(run.scope != ALL_TESTS for run in own)
        rows.append(
            f"| {airflow} | {', '.join(pythons)} | "
            f"{', '.join(SUITE_NAMES[s] for s in SUITES if s in suites)} | "
            f"{SCOPE_NAMES[EVERY_AIRFLOW_TESTS if partial else ALL_TESTS]} |"
        )
    return "\n".join(
        [
            START,
            "| Airflow | Python | suites passed | tests run |",
            "|---|---|---|---|",
            *rows,
            "",
            *_module_table(runs, airflows),
            END,
        ]
    )


def _module_table(runs: list[RunRecord], airflows: list[str]) -> list[str]:
    """Per test module and Airflow: all of its tests ran, some (the others skipped, saying why), or none."""
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for run in runs:
        for module, (ran, collected) in (run.session.modules if run.session else {}).items():
            before = counts.setdefault(module, {}).get(run.airflow, (0, 0))
            counts[module][run.airflow] = (before[0] + ran, before[1] + collected)

    def cell(module: str, airflow: str) -> str:
        ran, collected = counts[module].get(airflow, (0, 0))
        return "all" if collected and ran == collected else "some" if ran else "-"

    return [
        f"| test module | {' | '.join(airflows)} |",
        f"|---|{'---|' * len(airflows)}",
        *(
            f"| `{module.removeprefix('tests/')}` | {' | '.join(cell(module, a) for a in airflows)} |"
            for module in sorted(counts, key=_module_key)
        ),
    ]


def _module_key(module: str) -> tuple[int, str]:
    parts = module.split("/")
    suite = parts[1] if len(parts) > 2 else ""
    return (SUITES.index(suite) if suite in SUITES else len(SUITES), module)


def missing_parts(records: list[RunRecord]) -> list[str]:
    """The parts of split suites that left no record (a session that died before its end)."""
    parts: dict[str, set[str]] = {}
    for run in records:
        if run.session and run.session.part:
            parts.setdefault(run.airflow, set()).add(run.session.part)
    missing = []
    for airflow, seen in sorted(parts.items()):
        count = int(next(iter(seen)).split("/")[1])
        missing += [
            f"Airflow {airflow} part {n}/{count}" for n in range(1, count + 1) if f"{n}/{count}" not in seen
        ]
    return missing


def readme_table(readme: str) -> str:
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md has no table between {START!r} and {END!r}")
    return readme[start : end + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="fail unless the README's table is what ran")
    action.add_argument("--write", action="store_true", help="rewrite the README's table from what ran")
    args = parser.parse_args(argv)

    where = results_dir()
    if where is None or not where.is_dir():
        print(f"no test records: set {RESULTS_ENV} to the folder the test runs wrote into", file=sys.stderr)
        return 2
    records = read(where)
    failed = sorted({run.airflow for run in records if not run.passed})
    if failed:
        print(
            f"runs on Airflow {', '.join(failed)} failed: the table lists passed runs only", file=sys.stderr
        )
        return 1
    missing = missing_parts(records)
    if missing:
        print(f"no record of {', '.join(missing)}: a split suite is claimed only whole", file=sys.stderr)
        return 1
    table = render(records)
    readme = README.read_text()
    current = readme_table(readme)
    if args.write:
        README.write_text(readme.replace(current, table))
        return 0
    if current != table:
        print(
            "README.md's table of tested Airflows is not what this run passed.\n"
            f"README says:\n{current}\n\nthe run passed:\n{table}\n\n"
            "Fix the suites, or after a full `make test` run `make compat-table-write`.",
            file=sys.stderr,
        )
        return 1
    print(f"README's table matches the {len(records)} recorded runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
