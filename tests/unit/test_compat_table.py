"""The README's table of tested Airflows can only say what the run's records say."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import ci_results, compat_table

PASSED = [("3.3.2", ["unit", "integration"]), ("3.3.2", ["e2e"]), ("2.11.2", ["integration", "unit"])]


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "results"
    monkeypatch.setenv(ci_results.RESULTS_ENV, str(where))
    for airflow, suites in PASSED:
        ci_results.record(airflow, suites, passed=True)
    return where


@pytest.fixture
def readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"# x\n\n{compat_table.START}\nwhatever was there\n{compat_table.END}\n\nmore\n")
    monkeypatch.setattr(compat_table, "README", path)
    return path


def test_the_table_lists_each_airflow_once_newest_first_with_its_suites_in_order(results: Path) -> None:
    rows = compat_table.render(ci_results.read(results)).splitlines()[3:5]
    assert [row.split(" | ")[:2] for row in rows] == [["| 3.3.2", "3.11"], ["| 2.11.2", "3.11"]]
    assert rows[0].index("unit") < rows[0].index("integration") < rows[0].index("end to end")


def session(modules: dict[str, tuple[int, int]]) -> ci_results.Session:
    return ci_results.Session("test-x", 60.0, {"passed": 1}, modules)


def test_each_line_says_whether_it_ran_every_test_or_those_that_depend_on_airflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ci_results.RESULTS_ENV, str(tmp_path))
    ci_results.record("3.3.2", ["unit"], passed=True, session=session({"tests/unit/test_a.py": (2, 2)}))
    ci_results.record(
        "3.2.2",
        ["unit"],
        passed=True,
        scope=ci_results.EVERY_AIRFLOW_TESTS,
        session=session({"tests/unit/test_a.py": (1, 2), "tests/unit/test_b.py": (0, 3)}),
    )
    ci_results.record("3.2.2", ["install"], passed=True)
    lines = compat_table.render(ci_results.read(tmp_path)).splitlines()
    assert lines[3].endswith("| unit | all |")
    assert lines[4].endswith(
        "| unit, install of the built wheel into a fresh Airflow | those that depend on Airflow (`every_airflow`) |"
    )
    # Module by module: all of a module's tests ran, some of them, or none.
    assert lines[6:] == [
        "| test module | 3.3.2 | 3.2.2 |",
        "|---|---|---|",
        "| `unit/test_a.py` | all | some |",
        "| `unit/test_b.py` | - | - |",
        compat_table.END,
    ]


def test_the_summary_has_a_line_per_session_the_slowest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ci_results.RESULTS_ENV, str(tmp_path))
    ci_results.record("3.3.2", ["unit"], passed=True, session=ci_results.Session("test-a", 90, {"passed": 3}))
    ci_results.record(
        "2.11.2", [], passed=False, session=ci_results.Session("test-b", 600, {"failed": 1, "passed": 2})
    )
    ci_results.record("2.11.2", ["install"], passed=True)  # what an install test installed: no session
    lines = ci_results.summary(ci_results.read(tmp_path))
    assert len(lines) == 2
    assert lines[0].split() == [
        "test-b",
        "Airflow",
        "2.11.2",
        "FAILED",
        "10.0",
        "min",
        "1",
        "failed,",
        "2",
        "passed",
    ]
    assert lines[1].split()[:6] == ["test-a", "Airflow", "3.3.2", "passed", "1.5", "min"]


def test_write_then_check_agrees_and_keeps_the_rest_of_the_readme(results: Path, readme: Path) -> None:
    assert compat_table.main(["--check"]) == 1
    assert compat_table.main(["--write"]) == 0
    assert compat_table.main(["--check"]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n")
    assert text.endswith("\n\nmore\n")
    assert "whatever was there" not in text


def test_a_version_the_run_did_not_pass_fails_the_check(results: Path, readme: Path) -> None:
    compat_table.main(["--write"])
    readme.write_text(readme.read_text().replace("| 2.11.2 |", "| 3.0.6 |"))
    assert compat_table.main(["--check"]) == 1


def test_a_failed_run_fails_the_check_even_if_the_table_matches(results: Path, readme: Path) -> None:
    compat_table.main(["--write"])
    ci_results.record("3.3.2", ["unit"], passed=False)
    assert compat_table.main(["--check"]) == 1


def test_without_records_nothing_is_claimed(readme: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ci_results.RESULTS_ENV, raising=False)
    assert compat_table.main(["--check"]) == 2


def test_a_split_suite_is_claimed_only_with_every_part(
    tmp_path: Path, readme: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ci_results.RESULTS_ENV, str(tmp_path))
    first = ci_results.Session(
        "test-airflow3-part-1", 60.0, {"passed": 1}, {"tests/unit/test_a.py": (1, 1)}, "1/2"
    )
    ci_results.record("3.3.2", ["unit"], passed=True, session=first)
    compat_table.main(["--write"])
    assert compat_table.main(["--check"]) == 1  # part 2 left no record
    second = ci_results.Session(
        "test-airflow3-part-2", 60.0, {"passed": 1}, {"tests/unit/test_b.py": (1, 1)}, "2/2"
    )
    ci_results.record("3.3.2", ["unit"], passed=True, session=second)
    compat_table.main(["--write"])
    assert compat_table.main(["--check"]) == 0
