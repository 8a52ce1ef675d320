"""Metrics through Airflow's own Stats, caught by a real StatsD listener on loopback (UDP).

Each DAG runs with ``dag.test()`` in a child process configured through the environment
(``[metrics] statsd_on``, host, port, prefix, ``statsd_influxdb_enabled``), so its ``Stats`` is
created from that configuration as a worker's would be, on every Airflow version: lazily from the
config read at import on 2.11 and 3.1, initialised from it on 3.3.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.gateway.params import DEFAULT_MODEL, GenerationRequest
from airflow_provider_hailuo.gateway.protocol import HailuoTask
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from airflow_provider_hailuo.integration.metrics import (
    COST_MICRO_USD,
    QUEUE_TIME,
    RENDER_TIME,
    VIDEOS_COMPLETED,
    VIDEOS_FAILED,
    VIDEOS_SUBMITTED,
)
from tests.airflow_versions import EVERY_AIRFLOW
from tests.dags.hailuo_metrics_dags import BATCH_DURATIONS, BATCH_RESOLUTION, FRAME
from tests.integration.support import REPO

PREFIX = "airflow"
MODES = ["deferrable", "sync"]
_RESULT_MARK = "HAILUO_METRICS_RESULT "
# The child: one dag.test() run per line read, then each task instance's state and return value.
_WORKER = f"""
import json, sys
from tests.integration.support import load_dag, task_results
for command in sys.stdin:
    dag_id, conf = json.loads(command)
    dag_run = load_dag("tests", "hailuo_metrics_dags", dag_id).test(run_conf=conf)
    rows = [[task, index, state, value] for (task, index), (state, value) in task_results(dag_run).items()]
    print({_RESULT_MARK!r} + json.dumps(sorted(rows, key=lambda row: row[1])), flush=True)
"""


@dataclass(frozen=True)
class Metric:
    """One StatsD line: ``name[,tag=value...]:value|type``."""

    name: str
    value: float
    type: str
    tags: dict[str, str]


class StatsdListener:
    """A StatsD server's receiving end: a UDP socket on loopback."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.port: int = self.socket.getsockname()[1]

    def received(self) -> list[Metric]:
        """Every metric of this provider received since the last call (Airflow's own left out)."""
        metrics: list[Metric] = []
        while True:
            try:
                datagram = self.socket.recv(65536)
            except BlockingIOError:
                return metrics
            for line in datagram.decode("ascii").splitlines():
                name_and_tags, _, rest = line.partition(":")
                value, kind = rest.split("|")[:2]
                name, *tags = name_and_tags.split(",")
                if name.startswith(f"{PREFIX}.hailuo."):
                    metrics.append(
                        Metric(
                            name=name.removeprefix(f"{PREFIX}."),
                            value=float(value),
                            type=kind,
                            tags=dict(tag.split("=", 1) for tag in tags),
                        )
                    )


@dataclass(frozen=True)
class Run:
    rows: list[tuple[str, int, str, Any]]  # (task id, map index, state, return value)
    metrics: list[Metric]


class MetricsWorker:
    """A child process with an Airflow of its own, configured through the environment as a
    deployment would be, that runs DAGs with ``dag.test()`` on request (one process for many
    runs: starting Airflow takes far longer than a run)."""

    def __init__(self, emulator: EmulatorServer, **metrics_config: str) -> None:
        self.statsd = StatsdListener()
        settings = {
            "statsd_on": "True",
            "statsd_host": "127.0.0.1",
            "statsd_port": str(self.statsd.port),
            "statsd_prefix": PREFIX,
            "statsd_influxdb_enabled": "True",
            **metrics_config,
        }
        connection = {
            "conn_type": "hailuo",
            "host": emulator.url,
            "password": emulator.api_key,
            "extra": {"retry_limit": 3, "retry_delay": 0.01},
        }
        env = {
            **os.environ,
            **{f"AIRFLOW__METRICS__{key.upper()}": value for key, value in settings.items()},
            "AIRFLOW_CONN_HAILUO_DEFAULT": json.dumps(connection),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", _WORKER],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, dag_id: str, conf: dict[str, Any] | None = None) -> Run:
        """Run a DAG of tests/dags/hailuo_metrics_dags.py; the metrics are those of this run only
        (a UDP send on loopback is delivered before the sender's next line is printed)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.statsd.received()
        self.process.stdin.write(json.dumps([dag_id, conf or {}]) + "\n")
        self.process.stdin.flush()
        output: deque[str] = deque(maxlen=300)
        for line in self.process.stdout:
            if line.startswith(_RESULT_MARK):
                rows = json.loads(line.removeprefix(_RESULT_MARK))
                return Run(rows=[tuple(row) for row in rows], metrics=self.statsd.received())
            output.append(line)
        raise AssertionError("the Airflow worker process died:\n" + "".join(output))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.statsd.socket.close()


@contextmanager
def metrics_worker(emulator: EmulatorServer, **metrics_config: str) -> Iterator[MetricsWorker]:
    worker = MetricsWorker(emulator, **metrics_config)
    try:
        yield worker
    finally:
        worker.close()


@pytest.fixture(scope="module")
def worker(airflow_db: None, hailuo_emulator_server: EmulatorServer) -> Iterator[MetricsWorker]:
    """StatsD with InfluxDB-style tags, so that the tags reach the listener."""
    with metrics_worker(hailuo_emulator_server) as running:
        yield running


def named(metrics: list[Metric], name: str) -> list[Metric]:
    return [metric for metric in metrics if metric.name == name]


def video_tags(resolution: str, duration: int | str, model: str = DEFAULT_MODEL) -> dict[str, str]:
    return {"model": model, "resolution": resolution, "duration": str(duration)}


def expected_milliseconds(result: dict[str, Any]) -> dict[str, float]:
    """The queue and render times the gateway's timestamps (the result's metadata) give, in ms."""
    task = HailuoTask(id=result["hailuo_task_id"], status=result["status"], metadata=result["metadata"])
    timings = task.timings()
    return {QUEUE_TIME: timings["queued_seconds"] * 1000, RENDER_TIME: timings["rendering_seconds"] * 1000}


# On the older lines: what reaches Airflow's Stats from a deferred batch, with tags and through the
# plain StatsD client. Which metric a failure, a resume, a timeout or the sensor sends, and a client
# that raises, are the provider's own logic, the same on every line.
@pytest.mark.parametrize("mode", [pytest.param("deferrable", marks=EVERY_AIRFLOW), "sync"])
def test_a_batch_counts_each_video_and_sums_its_cost_exactly(
    hailuo_emulator: EmulatorServer, worker: MetricsWorker, mode: str
) -> None:
    run = worker.run(f"hailuo_metrics_batch_{mode}")
    assert [state for _, _, state, _ in run.rows] == ["success"] * len(BATCH_DURATIONS)

    expected_tags = sorted(
        (video_tags(BATCH_RESOLUTION, duration) for duration in BATCH_DURATIONS), key=json.dumps
    )
    for name in (VIDEOS_SUBMITTED, VIDEOS_COMPLETED):
        counted = named(run.metrics, name)
        assert [(m.type, m.value) for m in counted] == [("c", 1)] * len(BATCH_DURATIONS), name
        assert sorted((m.tags for m in counted), key=json.dumps) == expected_tags, name
    assert named(run.metrics, VIDEOS_FAILED) == []

    # The emulator's prices, 0.10 + 0.15 + 0.15 dollars: exactly 400000 micro-dollars, per duration.
    costs = named(run.metrics, COST_MICRO_USD)
    assert {m.type for m in costs} == {"c"}
    assert sum(m.value for m in costs) == 400_000
    assert sorted((m.tags["duration"], m.value) for m in costs) == [
        ("10", 150_000),
        ("10", 150_000),
        ("6", 100_000),
    ]
    assert sum(Decimal(result["cost"]) for _, _, _, result in run.rows) == Decimal("0.40")

    # One queue time and one render time per video, as the gateway's timestamps tell them.
    for _, index, _, result in run.rows:
        tags = video_tags(BATCH_RESOLUTION, BATCH_DURATIONS[index])
        for name, milliseconds in expected_milliseconds(result).items():
            timers = [m for m in named(run.metrics, name) if m.tags == tags]
            assert {m.type for m in timers} == {"ms"}
            assert any(m.value == pytest.approx(milliseconds, abs=0.01) for m in timers), (name, timers)
    assert len(named(run.metrics, QUEUE_TIME)) == len(named(run.metrics, RENDER_TIME)) == len(BATCH_DURATIONS)


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_gateway_task_is_counted_once_by_its_code_and_the_retry_as_a_new_video(
    hailuo_emulator: EmulatorServer, worker: MetricsWorker, mode: str
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code="010004095", error_message="render died")
    run = worker.run(f"hailuo_metrics_video_{mode}")
    ((_, _, state, result),) = run.rows
    assert state == "success"  # try 2 submitted anew

    (failed,) = named(run.metrics, VIDEOS_FAILED)  # once, though a trigger event became the error
    assert (failed.type, failed.value) == ("c", 1)
    assert failed.tags == {**video_tags("unknown", "unknown"), "reason": "010004095"}
    defaults = video_tags("768P", 6)  # unset: the gateway's defaults, which it rendered
    assert [(m.value, m.tags) for m in named(run.metrics, VIDEOS_SUBMITTED)] == [(1, defaults), (1, defaults)]
    assert [(m.value, m.tags) for m in named(run.metrics, VIDEOS_COMPLETED)] == [(1, defaults)]
    assert [(m.value, m.tags) for m in named(run.metrics, COST_MICRO_USD)] == [(280_000, defaults)]
    assert result["cost"] == "0.28"


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_that_resumes_the_gateway_task_counts_no_second_submit(
    hailuo_emulator: EmulatorServer, worker: MetricsWorker, mode: str
) -> None:
    # Try 1 submits, then its first poll is refused: try 2 resumes the running gateway task.
    hailuo_emulator.client.add_fault("status", target="poll", http_status=401)
    run = worker.run(f"hailuo_metrics_video_{mode}")
    ((_, _, state, _),) = run.rows
    assert state == "success"
    assert hailuo_emulator.client.stats()["create"] == 1
    assert [m.value for m in named(run.metrics, VIDEOS_SUBMITTED)] == [1]
    assert [m.value for m in named(run.metrics, VIDEOS_COMPLETED)] == [1]
    assert [m.value for m in named(run.metrics, COST_MICRO_USD)] == [280_000]
    assert named(run.metrics, VIDEOS_FAILED) == []  # a refused poll is not a failed video


@pytest.mark.parametrize("mode", MODES)
def test_a_wait_that_runs_out_is_counted_as_a_timeout(
    hailuo_emulator: EmulatorServer, worker: MetricsWorker, mode: str
) -> None:
    hailuo_emulator.client.configure(render_seconds=120)
    run = worker.run(f"hailuo_metrics_timeout_{mode}")
    ((_, _, state, _),) = run.rows
    assert state == "failed"
    assert [(m.value, m.tags) for m in named(run.metrics, VIDEOS_FAILED)] == [
        (1, {**video_tags("unknown", "unknown", model="unknown"), "reason": "timeout"})
    ]
    assert [m.value for m in named(run.metrics, VIDEOS_SUBMITTED)] == [1]
    assert named(run.metrics, VIDEOS_COMPLETED) == named(run.metrics, COST_MICRO_USD) == []


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_the_sensor_counts_the_video_it_delivers_and_a_cancelled_one(
    fast_connection: str, hailuo_emulator: EmulatorServer, worker: MetricsWorker, mode: str
) -> None:
    hook = HailuoHook(fast_connection)
    delivered = worker.run(
        f"hailuo_metrics_sensor_{mode}",
        {"hailuo_task_id": hook.submit(GenerationRequest(first_frame_image=FRAME, duration=10))},
    )
    ((_, _, state, result),) = delivered.rows
    assert (state, result["cost"]) == ("success", "0.56")
    hailuo_emulator.client.add_fault("task_failure", task_status="cancelled")
    cancelled = worker.run(
        f"hailuo_metrics_sensor_{mode}",
        {"hailuo_task_id": hook.submit(GenerationRequest(first_frame_image=FRAME))},
    )
    ((_, _, state, _),) = cancelled.rows
    assert state == "failed"

    # The gateway's answer does not say what was asked for: resolution and duration are unknown.
    tags = video_tags("unknown", "unknown")
    assert [(m.value, m.tags) for m in named(delivered.metrics, VIDEOS_COMPLETED)] == [(1, tags)]
    assert [(m.value, m.tags) for m in named(delivered.metrics, COST_MICRO_USD)] == [(560_000, tags)]
    assert {m.name for m in delivered.metrics} >= {QUEUE_TIME, RENDER_TIME}
    assert [(m.name, m.value, m.tags) for m in cancelled.metrics] == [
        (VIDEOS_FAILED, 1, {**tags, "reason": "cancelled"})
    ]
    # The sensor creates nothing (the submits above were this test's own, without metrics).
    assert named(delivered.metrics + cancelled.metrics, VIDEOS_SUBMITTED) == []


@EVERY_AIRFLOW
@pytest.mark.usefixtures("airflow_db")
def test_plain_statsd_gets_the_names_without_tags(hailuo_emulator: EmulatorServer) -> None:
    with metrics_worker(hailuo_emulator, statsd_influxdb_enabled="False") as plain:
        run = plain.run("hailuo_metrics_video_sync")
    ((_, _, state, _),) = run.rows
    assert state == "success"
    assert sorted((m.name, m.type, json.dumps(m.tags)) for m in run.metrics) == sorted(
        [
            (VIDEOS_SUBMITTED, "c", "{}"),
            (VIDEOS_COMPLETED, "c", "{}"),
            (COST_MICRO_USD, "c", "{}"),
            (QUEUE_TIME, "ms", "{}"),
            (RENDER_TIME, "ms", "{}"),
        ]
    )


@pytest.mark.usefixtures("airflow_db")
def test_a_metric_that_cannot_be_sent_fails_no_task(hailuo_emulator: EmulatorServer) -> None:
    client = "tests.integration.refusing_statsd.RefusingStatsClient"
    with metrics_worker(hailuo_emulator, statsd_custom_client_path=client) as refusing:
        run = refusing.run("hailuo_metrics_video_sync")
    ((_, _, state, result),) = run.rows
    assert (state, result["cost"]) == ("success", "0.28")
    assert run.metrics == []
    assert hailuo_emulator.client.stats()["create"] == 1
