"""DAG-parse cost: how long importing the operator module takes, beside Airflow's own API.

Each figure is the median of fresh interpreters (imports are cached per process, so one process
measures one cold import). Prints a table; the ratio is against `import airflow.sdk` in the same run.

    .venv/bin/python benchmarks/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BASELINE = "import airflow.sdk"
CASES = {
    "airflow.sdk alone (baseline)": BASELINE,
    "+ operators.hailuo": f"{BASELINE}; import airflow_provider_hailuo.operators.hailuo",
    "+ sensors.hailuo": f"{BASELINE}; import airflow_provider_hailuo.sensors.hailuo",
    "+ hooks.hailuo (not at parse time)": f"{BASELINE}; import airflow_provider_hailuo.hooks.hailuo",
}


def cold_import_seconds(code: str) -> float:
    """Wall time of one fresh interpreter running ``code``, minus an empty interpreter's start."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    empty = statistics.median(cold_import_seconds("pass") for _ in range(runs))
    medians = {
        name: statistics.median(cold_import_seconds(code) for _ in range(runs)) - empty
        for name, code in CASES.items()
    }
    baseline = medians["airflow.sdk alone (baseline)"]
    print(
        f"Import time, median of {runs} fresh interpreters (interpreter start-up of {empty * 1000:.0f} ms removed)"
    )
    print()
    print(f"| {'what is imported':<36} | {'ms':>7} | {'vs baseline':>11} | {'added ms':>8} |")
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 13}|{'-' * 10}|")
    for name, seconds in medians.items():
        print(
            f"| {name:<36} | {seconds * 1000:>7.0f} | {seconds / baseline:>10.2f}x | {(seconds - baseline) * 1000:>8.0f} |"
        )


if __name__ == "__main__":
    main()
