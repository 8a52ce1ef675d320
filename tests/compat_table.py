"""The README's table of the Airflows CI tests, checked against (or written from) what ran.

``make test`` runs every suite with ``HAILUO_TEST_RESULTS`` set, then ``--check``: the table
between the README's ``ci-table`` markers must be exactly the one the run's records give, and
every recorded run must have passed. So the README cannot claim an Airflow, or a suite on it,
that the last run did not pass. ``--write`` rewrites the table after a full run. Run it from
the repository root as ``python -m tests.compat_table``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.ci_results import RESULTS_ENV, SUITES, RunRecord, read, results_dir

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- ci-table:start (tests/compat_table.py writes this table from what `make test` ran) -->"
END = "<!-- ci-table:end -->"
SUITE_NAMES = {
    "unit": "unit",
    "integration": "integration (`dag.test()`, the emulator over HTTP)",
    "e2e": "end to end (scheduler, triggerer, API server; Local and Celery executors)",
    "install": "install of the built wheel into a fresh Airflow",
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def render(records: list[RunRecord]) -> str:
    suites: dict[str, set[str]] = {}
    for run in records:
        suites.setdefault(run.airflow, set()).update(run.suites)
    pythons: dict[str, set[str]] = {}
    for run in records:
        pythons.setdefault(run.airflow, set()).add(run.python)
    rows = [
        f"| {airflow} | {', '.join(sorted(pythons[airflow]))} | "
        f"{', '.join(SUITE_NAMES[s] for s in SUITES if s in suites[airflow])} |"
        for airflow in sorted(suites, key=_version_key, reverse=True)
    ]
    return "\n".join([START, "| Airflow | Python | suites passed |", "|---|---|---|", *rows, END])


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
