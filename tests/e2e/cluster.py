"""A real Airflow on this machine: PostgreSQL metadata database, API server, scheduler, DAG
processor, triggerer(s), Celery workers when asked, and the emulator as the gateway; each a
separate process, started and stopped by the e2e tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2

from airflow_provider_hailuo.emulator.client import EmulatorClient
from airflow_provider_hailuo.gateway.defaults import MIN_DEFERRAL_ENV
from tests.integration.support import free_port

BIN = Path(sys.executable).parent
E2E_DAGS = Path(__file__).resolve().parent / "dags"


@dataclass
class Cluster:
    """One Airflow deployment; ``executor`` is "LocalExecutor" or "CeleryExecutor"."""

    postgres_url: str  # postgresql://user@host:port (a server where databases may be created)
    executor: str
    home: Path
    redis_url: str | None = None
    triggerers: int = 1
    celery_workers: int = 0
    parallelism: int = 8
    render_seconds: float = 5.0
    dags: Path = E2E_DAGS  # the DAG folder (the benchmarks bring their own)
    more_dags: tuple[Path, ...] = ()  # further folders, each a DAG bundle of its own (the examples)
    # OpenLineage events written to ``openlineage_events``, for the DAGs that enable lineage only.
    openlineage: bool = False
    # The Hailuo connection's extras: by default, retries that back off in fractions of a second.
    connection_extra: dict[str, Any] = field(default_factory=lambda: {"retry_limit": 3, "retry_delay": 0.2})
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    database: str = field(default_factory=lambda: f"hailuo_e2e_{secrets.token_hex(4)}")
    emulator_url: str = ""

    # -- the environment every component shares ---------------------------------------------------

    @property
    def sql_alchemy_conn(self) -> str:
        parts = urlsplit(self.postgres_url)
        return f"postgresql+psycopg2://{parts.netloc}/{self.database}"

    def env(self) -> dict[str, str]:
        api_port = self._api_port
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [
                    {
                        "name": name,
                        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {"path": str(folder), "refresh_interval": 0},
                    }
                    for name, folder in [("e2e", self.dags), *((more.name, more) for more in self.more_dags)]
                ]
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret,
            "AIRFLOW__API__SECRET_KEY": self._secret,
            # Fast failure detection, so killed components are noticed in seconds, not minutes.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            # As a deployment says how many triggerers share each connection's poll rate.
            "AIRFLOW__HAILUO__TRIGGERERS": str(self.triggerers),
            "AIRFLOW_CONN_HAILUO_DEFAULT": json.dumps(
                {
                    "conn_type": "hailuo",
                    "host": self.emulator_url,
                    "password": "test-key",
                    "extra": self.connection_extra,
                }
            ),
        }
        # A real scheduler to race with: the deferral floor as a deployment has it, not the 0 the
        # tests' own dag.test() sandbox sets (airflow_provider_hailuo.integration.deferral).
        env.pop(MIN_DEFERRAL_ENV, None)
        if self.openlineage:
            transport = {"type": "file", "log_file_path": str(self.openlineage_events), "append": True}
            env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
            env["AIRFLOW__OPENLINEAGE__SELECTIVE_ENABLE"] = "True"
        if self.executor == "CeleryExecutor":
            assert self.redis_url is not None
            env["AIRFLOW__CELERY__BROKER_URL"] = self.redis_url
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = (
                f"db+postgresql+psycopg2://{urlsplit(self.postgres_url).netloc}/{self.database}"
            )
        return env

    @property
    def openlineage_events(self) -> Path:
        """The OpenLineage events every component writes (one JSON line each), with ``openlineage``."""
        return self.home / "openlineage.jsonl"

    def __post_init__(self) -> None:
        self._api_port = free_port()
        self._secret = secrets.token_hex(24)
        self.home.mkdir(parents=True, exist_ok=True)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._create_database()
        self._start_emulator()
        self.run_cli("db", "migrate")
        self.spawn("api-server", "api-server")
        self.spawn("scheduler", "scheduler")
        self.spawn("dag-processor", "dag-processor")
        for index in range(self.triggerers):
            self.spawn(f"triggerer-{index}", "triggerer")
        for index in range(self.celery_workers):
            self.spawn(
                f"worker-{index}", "celery", "worker", "--concurrency", "4", "-H", f"e2e-worker-{index}@%h"
            )
        self.wait_for(
            lambda: len(self.query("select dag_id from dag")) >= 1, 120, "the DAG processor to parse the DAGs"
        )

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)
        self._drop_database()

    def spawn(self, name: str, *command: str) -> None:
        if name.startswith("emulator"):
            raise ValueError(name)
        log = (self.home / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *command],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def run_cli(self, *command: str) -> str:
        """``airflow <command>`` against this deployment; its stdout."""
        return self._run(str(BIN / "airflow"), *command)

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear every task instance of ``task_id`` in one run, as the UI's "Clear" does (the CLI
        selects runs by logical date, which a triggered run may not have)."""
        script = (
            "import sys\n"
            "from airflow.models.taskinstance import TaskInstance, clear_task_instances\n"
            "from airflow.utils.session import create_session\n"
            "dag_id, run_id, task_id = sys.argv[1:]\n"
            "with create_session() as session:\n"
            "    tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).all()\n"
            "    assert tis, 'no task instance to clear'\n"
            "    clear_task_instances(tis, session)\n"
        )
        self._run(str(BIN / "python"), "-c", script, dag_id, run_id, task_id)

    def _run(self, *command: str) -> str:
        """A command of this deployment's Airflow (its environment); its stdout, or what failed."""
        result = subprocess.run(
            list(command), env=self.env(), capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def _start_emulator(self) -> None:
        log = (self.home / "emulator.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / "hailuo-emulator"), "--port", "0", "--render-seconds", str(self.render_seconds)],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "AIRFLOW_HOME": str(self.home)},
            start_new_session=True,
        )
        assert process.stdout is not None
        self.emulator_url = process.stdout.readline().decode().strip()
        self.processes["emulator"] = process
        self.emulator = EmulatorClient(self.emulator_url)
        self.emulator.wait_until_ready()

    # -- the metadata database --------------------------------------------------------------------

    def _admin(self, statement: str) -> None:
        """Run ``statement`` on the server's ``postgres`` database, outside any transaction."""
        connection = psycopg2.connect(f"{self.postgres_url}/postgres")
        connection.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _create_database(self) -> None:
        self._admin(f'CREATE DATABASE "{self.database}"')

    def _drop_database(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(f"{self.postgres_url}/{self.database}")
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    # -- DAG runs ---------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run_id = f"e2e__{dag_id}__{secrets.token_hex(4)}"
        self.wait_for(
            lambda: bool(self.query("select 1 from dag where dag_id = %s", dag_id)), 120, f"DAG {dag_id}"
        )
        self.run_cli("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf or {}))
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("select state from dag_run where dag_id = %s and run_id = %s", dag_id, run_id)
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], tuple[str | None, int]]:
        rows = self.query(
            "select task_id, map_index, state, try_number from task_instance where dag_id = %s and run_id = %s",
            dag_id,
            run_id,
        )
        return {(task_id, map_index): (state, tries) for task_id, map_index, state, tries in rows}

    def count_in_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> int:
        """How many instances (mapped ones counted apart) of ``task_id`` are in ``state``."""
        states = self.task_states(dag_id, run_id)
        return sum(1 for (each, _), (now, _) in states.items() if each == task_id and now == state)

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, on_tick: Callable[[], None] | None = None
    ) -> str:
        def finished() -> bool:
            if on_tick is not None:
                on_tick()
            return self.run_state(dag_id, run_id) in ("success", "failed")

        self.wait_for(finished, timeout, f"run {run_id} to finish")
        state = self.run_state(dag_id, run_id)
        assert state is not None
        return state

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        rows = self.query(
            "select value from xcom where dag_id = %s and run_id = %s and task_id = %s and key = %s and map_index = %s",
            dag_id,
            run_id,
            task_id,
            key,
            map_index,
        )
        if not rows:
            return None
        value = rows[0][0]
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(path.read_text(errors="replace") for path in sorted(folder.rglob("*.log")))

    def every_log(self) -> dict[Path, str]:
        """Every log Airflow wrote: each process's own (scheduler, triggerers, ...) and every task's."""
        paths = [path for path in self.home.glob("*.log") if path.name != "emulator.log"]  # the gateway
        paths += (self.home / "logs").rglob("*.log")
        return {path: path.read_text(errors="replace") for path in sorted(paths)}

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}; logs in {self.home}")
            self._check_alive()
            time.sleep(0.5)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {self.home / (name + '.log')}"
                )


def max_concurrent_renders(tasks: list[dict[str, Any]]) -> int:
    """The most gateway tasks rendering at once, from the emulator's task list."""
    events: list[tuple[float, int]] = []
    for task in tasks:
        start = datetime.fromisoformat(task["created_at"].replace("Z", "+00:00")).timestamp()
        events += [(start, 1), (start + float(task["render_seconds"]), -1)]
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


@contextmanager
def running_cluster(**kwargs: Any) -> Iterator[Cluster]:
    cluster = Cluster(**kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
