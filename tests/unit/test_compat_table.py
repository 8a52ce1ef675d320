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
    rows = compat_table.render(ci_results.read(results)).splitlines()[3:-1]
    assert [row.split(" | ")[:2] for row in rows] == [["| 3.3.2", "3.11"], ["| 2.11.2", "3.11"]]
    assert rows[0].index("unit") < rows[0].index("integration") < rows[0].index("end to end")


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
