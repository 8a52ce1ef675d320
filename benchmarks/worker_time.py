"""Worker time per video: how long a worker slot is held with deferrable=True versus False.

``HailuoImageToVideoOperator(...).execute(context)`` runs in this process against the emulator (a
separate process; each video renders ``--render-seconds``), with a minimal context: a stand-in task
instance (``xcom_push``, ``stats_tags``) and task state store, as Airflow 3.3 hands a task.

- deferrable=False: the worker holds the slot for the whole ``execute`` (submit, then poll).
- deferrable=True: the worker holds it until ``TaskDeferred`` is raised, then again for
  ``execute_complete(context, event)``; in between the trigger runs (here, in this process, to get
  the real event), which is the triggerer's time, not the worker's.

The baseline (ratio 1.00x) is deferrable=False, measured in the same run. A warm-up video of each
mode runs first and is not counted. Not included: Airflow's own start of a task process (and the
DAG parse) per try, which a deferred task pays twice (start, resume) and a blocking one once.

    .venv/bin/python benchmarks/worker_time.py [--videos 5] [--render-seconds 3] [--poll-interval 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _harness import Emulator, connection_env, load_note, markdown_table

FRAME = str(Path(__file__).resolve().parents[1] / "dags_examples" / "images" / "lighthouse.jpg")


class StandInTaskInstance:
    """What the operator asks of the running task instance: XCom, and the mixin's stats tags."""

    stats_tags: dict[str, str] = {}

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


class StandInTaskStateStore(dict[str, Any]):
    """Airflow 3.3's per-task-instance store, as the operator's durable record uses it."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Airflow logs to stdout; send file descriptor 1 to stderr meanwhile, to keep the table clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def one_video(deferrable: bool, poll_interval: float) -> dict[str, float]:
    """Worker seconds (wall and CPU) held for one video, and the wall time until its result."""
    import asyncio

    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

    operator = HailuoImageToVideoOperator(
        task_id="video",
        first_frame_image=FRAME,
        deferrable=deferrable,
        poll_interval=poll_interval,
        timeout=600,
    )
    context: Any = {"ti": StandInTaskInstance(), "task_state_store": StandInTaskStateStore()}
    started, cpu_started = time.perf_counter(), time.process_time()
    if not deferrable:
        result = operator.execute(context)
        worker = time.perf_counter() - started
        worker_cpu = time.process_time() - cpu_started
        total = worker
    else:
        try:
            operator.execute(context)
        except TaskDeferred as deferred:
            trigger, method_name = deferred.trigger, deferred.method_name
        else:
            raise RuntimeError("the operator did not defer")
        worker = time.perf_counter() - started
        worker_cpu = time.process_time() - cpu_started

        async def first_event() -> Any:
            events = trigger.run()
            try:
                async for event in events:
                    return event.payload
            finally:
                await events.aclose()  # type: ignore[attr-defined]
            raise RuntimeError("the trigger ended without an event")

        event = asyncio.run(first_event())  # the triggerer's time
        resumed, cpu_resumed = time.perf_counter(), time.process_time()
        result = getattr(operator, method_name)(context, event)
        worker += time.perf_counter() - resumed
        worker_cpu += time.process_time() - cpu_resumed
        total = time.perf_counter() - started
    if result.get("status") != "completed":
        raise RuntimeError(f"unexpected result {result!r}")
    return {"worker": worker, "worker_cpu": worker_cpu, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5, help="videos per mode (default: %(default)s)")
    parser.add_argument("--render-seconds", type=float, default=3.0)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()

    started_load = load_note()
    with (
        tempfile.TemporaryDirectory(prefix="hailuo-bench-airflow-home-") as home,
        Emulator(render_seconds=args.render_seconds, airflow_home=home) as emulator,
        logs_to_stderr(),
    ):
        # Before Airflow is imported (one_video imports it): its home, and the connection.
        os.environ["AIRFLOW_HOME"] = home
        os.environ.update(connection_env(emulator.url))
        modes = {"deferrable=False (baseline)": False, "deferrable=True": True}
        for deferrable in modes.values():  # warm-up: imports, the connection, pools
            one_video(deferrable, args.poll_interval)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
        for _ in range(args.videos):  # interleaved, so that drift hits both alike
            for name, deferrable in modes.items():
                runs[name].append(one_video(deferrable, args.poll_interval))
                print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)

    def mean(name: str, key: str) -> float:
        return statistics.mean(run[key] for run in runs[name])

    baseline = "deferrable=False (baseline)"
    headers = [
        "mode",
        "worker ms per video",
        "vs baseline",
        "worker CPU ms per video",
        "vs baseline",
        "video result after (s)",
    ]
    rows = []
    for name in modes:
        worker, cpu = mean(name, "worker"), mean(name, "worker_cpu")
        rows.append(
            [
                name,
                f"{worker * 1000:.1f}",
                f"{worker / mean(baseline, 'worker'):.4f}x",
                f"{cpu * 1000:.1f}",
                f"{cpu / mean(baseline, 'worker_cpu'):.2f}x",
                f"{mean(name, 'total'):.2f}",
            ]
        )
    print(
        f"Worker time per video: mean of {args.videos} videos per mode, render {args.render_seconds:g} s, "
        f"poll every {args.poll_interval:g} s, emulator in its own process; at start, {started_load}"
    )
    print()
    print(markdown_table(headers, rows))
    print()
    saved = mean(baseline, "worker") - mean("deferrable=True", "worker")
    print(
        f"Deferring frees the worker slot for {saved:.2f} s of every {mean(baseline, 'worker'):.2f} s "
        "(the render wait); the slot is held only to submit and to finish."
    )


if __name__ == "__main__":
    main()
