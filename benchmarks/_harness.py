"""What the benchmarks share: the emulator as a separate process, fresh measuring processes, tables.

The emulator runs in its own process (its first stdout line is its URL) so that its CPU and memory
stay out of the figures of the measured process. Each measurement runs in a fresh interpreter
(the script re-invokes itself) so that no peak memory or warm pool is inherited from an earlier run;
the child prints one JSON line that starts with ``RESULT_MARKER``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_provider_hailuo.emulator.client import EmulatorClient

API_KEY = "test-key"
HAILUO_CONN_ID = "hailuo_default"
HTTP_CONN_ID = "http_default"
MODEL = "minimax_hailuo_02_i2v"
# Never fetched: the emulator only checks that a frame URL is http(s).
FRAME_URL = "https://example.com/frame.png"
RESULT_MARKER = "BENCHMARK-RESULT "
_STOP_SECONDS = 10.0


def connection_env(url: str) -> dict[str, str]:
    """The two connections the benchmarks use, as Airflow reads them from the environment."""
    hailuo = {"conn_type": "hailuo", "host": url, "password": API_KEY}
    # The HTTP provider's hooks send the extras that are not their own options as headers.
    http = {
        "conn_type": "http",
        "host": url,
        "extra": {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
    }
    return {
        "AIRFLOW_CONN_HAILUO_DEFAULT": json.dumps(hailuo),
        "AIRFLOW_CONN_HTTP_DEFAULT": json.dumps(http),
    }


def load_note() -> str:
    """The 1-minute load average, printed before a benchmark starts: other work on the machine skews
    the figures (a benchmark run just before counts too: the average takes a minute to decay)."""
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    busy = " (the machine is busy: figures will be noisy)" if load > 0.5 * cores else ""
    return f"load average {load:.2f} on {cores} cores{busy}"


def raise_open_files_limit() -> None:
    """Thousands of triggers may each hold a socket; lift the soft limit to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Emulator:
    """``hailuo-emulator --port 0`` as a child process, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, *, render_seconds: float, airflow_home: str) -> None:
        self.render_seconds = render_seconds
        self.airflow_home = airflow_home
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in __exit__)
            prefix="hailuo-emulator-", suffix=".log", delete=False
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Emulator:
        command = [
            str(Path(sys.executable).with_name("hailuo-emulator")),
            "--port",
            "0",
            "--render-seconds",
            str(self.render_seconds),
        ]
        env = {**os.environ, "AIRFLOW_HOME": self.airflow_home}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the emulator did not start; see {self._log.name}")
        with EmulatorClient(self.url) as client:
            client.wait_until_ready()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._log.close()
        if exc_type is None:
            os.unlink(self._log.name)


def run_child(script: str, args: Sequence[str], *, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter and return the JSON result it printed."""
    try:
        done = subprocess.run(
            [sys.executable, script, *args], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as err:  # subprocess.run has killed it
        raise RuntimeError(f"{script} {' '.join(args)}: no result after {timeout:.0f} s") from err
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    tail = "\n".join(done.stderr.splitlines()[-30:])
    raise RuntimeError(f"{script} {' '.join(args)} exited {done.returncode} without a result:\n{tail}")


def print_result(result: dict[str, Any]) -> None:
    print(RESULT_MARKER + json.dumps(result), flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def memory_status(field: str) -> int:
    """A ``VmRSS``/``VmHWM``-style line of /proc/self/status, in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (``VmHWM``) to the current RSS (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def with_ratio(value: float, baseline: float, fmt: str) -> str:
    text = format(value, fmt)
    if baseline == 0:
        return text if value == 0 else f"{text} (n/a)"
    return f"{text} ({value / baseline:.2f}x)"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table with its columns padded; the first column left-aligned, the rest right."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (width + 2)) if i == 0 else ("-" * (width + 1) + ":") for i, width in enumerate(widths)
    )
    return "\n".join([line(headers), rule + "|", *(line(row) for row in rows)])
