"""Batches at the gateway's rate limit: N mapped videos against a create quota of R a minute.

A real Airflow (PostgreSQL, API server, scheduler, DAG processor, triggerer, LocalExecutor; the
e2e suite's cluster) runs one mapped DAG of N videos per variant, against the emulator configured
with ``create_quota_per_minute=R`` (a token bucket: a burst of R, then one every 60/R s) and a
render time. The variants run in the same cluster, one after the other, the emulator reset in
between:

- ``no quota`` (the floor): the provider's default, the emulator enforcing no quota: what Airflow
  itself costs per video here (a task run to submit and defer, one to finish).
- ``in-worker retries`` (the baseline, today's behaviour): ``max_quota_wait=0``; a refused create
  is retried inside the worker by the connection's retry policy (its defaults: 6 attempts), then
  fails the try; Airflow retries the task (``retries=2``, 15 s apart, in both DAGs).
- ``quota wait``: the provider's default; a refused create defers to the triggerer and takes its
  turn with the connection's other waiting tasks.

Figures: the DAG run's makespan against the physical limit N/R minutes plus one render (and
against (N-R)/R minutes plus one render, since the bucket starts full); worker
seconds held per video (the task instances in state ``running``, sampled every half second and
integrated: a slot is held while a task runs, not while it is deferred), and how much of it is
above the no-quota floor (the cost of meeting the quota: sleeping retries, or the extra task runs
of a deferral); failed video tasks and Airflow retries; 429s the gateway answered per video;
creates it accepted per video. Targets (the issue's): 0 failed, makespan at most 1.15x the limit,
at most 2 worker-seconds per video for the quota, fewer than 2 429s per video, exactly 1 accepted
create per video. Printed, never asserted.

The defaults (60 videos at 20 a minute, MiniMax's paid quota) are chosen so that the quota binds
on a 2-core machine: there, Airflow starts fewer than 60 task runs a minute beyond the bucket's
burst, so a quota of 60 a minute is never met.

    .venv/bin/python benchmarks/rate_limit.py [--videos 60] [--per-minute 20] [--render-seconds 30]
        [--parallelism 16] [--only quota_wait] [--home DIR]

Needs the PostgreSQL server the e2e suite uses (HAILUO_E2E_POSTGRES_URL, default 127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import load_note, markdown_table, with_ratio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the e2e suite's cluster

from tests.e2e.cluster import Cluster, running_cluster  # noqa: E402

DAGS = Path(__file__).resolve().parent / "dags"
# (DAG, whether the emulator enforces the quota)
VARIANTS = {
    "no_quota": ("bench_quota_wait", False),
    "in_worker_retries": ("bench_in_worker_retries", True),
    "quota_wait": ("bench_quota_wait", True),
}
LABELS = {
    "no_quota": "no quota (floor)",
    "in_worker_retries": "in-worker retries (baseline)",
    "quota_wait": "quota wait (this provider)",
}


def run_batch(cluster: Cluster, dag_id: str, quota: bool, args: argparse.Namespace) -> dict[str, Any]:
    cluster.emulator.reset()
    cluster.emulator.configure(
        render_seconds=args.render_seconds, create_quota_per_minute=args.per_minute if quota else None
    )
    run_id = cluster.trigger(dag_id, {"videos": args.videos})
    slot_seconds = 0.0
    last = time.monotonic()

    def sample() -> None:
        nonlocal slot_seconds, last
        (running,) = cluster.query(
            "select count(*) from task_instance where run_id = %s and task_id = 'video' and state = 'running'",
            run_id,
        )[0]
        now = time.monotonic()
        slot_seconds += running * (now - last)
        last = now

    limit = args.videos / args.per_minute * 60 + args.render_seconds
    state = cluster.wait_for_run(dag_id, run_id, timeout=6 * limit + 600, on_tick=sample)
    (makespan,) = cluster.query(
        "select extract(epoch from end_date - start_date) from dag_run where run_id = %s", run_id
    )[0]
    videos = [row for key, row in cluster.task_states(dag_id, run_id).items() if key[0] == "video"]
    stats = cluster.emulator.stats()
    return {
        "state": state,
        "makespan_s": float(makespan),
        "limit_s": limit,
        "worker_s_per_video": slot_seconds / args.videos,
        "failed": sum(1 for state, _ in videos if state != "success"),
        "airflow_retries": sum(max(0, tries - 1) for _, tries in videos),
        "refusals_per_video": stats["quota_refusals"].get("create_rate", 0) / args.videos,
        "accepted_per_video": stats["tasks_created"] / args.videos,
    }


def print_table(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    baseline = results.get("in_worker_retries")
    names = list(results)
    rows: list[list[str]] = []

    def row(label: str, key: str, fmt: str, target: str) -> None:
        cells = [label]
        for name in names:
            value = results[name][key]
            compared = baseline is not None and name == "quota_wait"
            cells.append(
                with_ratio(value, baseline[key], fmt) if compared and baseline else format(value, fmt)
            )
        rows.append([*cells, target])

    limit = results[names[0]]["limit_s"]
    row("makespan (s)", "makespan_s", ".0f", f"<= {1.15 * limit:.0f}")
    for name in names:
        results[name]["makespan_vs_limit"] = results[name]["makespan_s"] / limit
    row("makespan / physical limit", "makespan_vs_limit", ".2f", "<= 1.15")
    # The bucket starts full: its first R creates go at once, so the batch can end a minute early.
    with_burst = max(0.0, args.videos - args.per_minute) / args.per_minute * 60 + args.render_seconds
    for name in names:
        results[name]["makespan_vs_burst_limit"] = results[name]["makespan_s"] / with_burst
    row(f"makespan / limit after the burst ({with_burst:.0f} s)", "makespan_vs_burst_limit", ".2f", "")
    row("worker-seconds per video", "worker_s_per_video", ".2f", "")
    floor = results.get("no_quota", {}).get("worker_s_per_video")
    if floor is not None:
        for name in names:
            results[name]["worker_s_above_floor"] = results[name]["worker_s_per_video"] - floor
        row("  of which waiting for quota", "worker_s_above_floor", ".2f", "<= 2")
    row("failed video tasks", "failed", "d", "0")
    row("Airflow retries", "airflow_retries", "d", "0")
    row("429s per video", "refusals_per_video", ".2f", "< 2")
    row("creates accepted per video", "accepted_per_video", ".2f", "1")
    print(
        f"\n### {args.videos} videos at {args.per_minute:g} creates a minute, {args.render_seconds:g} s renders, "
        f"parallelism {args.parallelism}: physical limit {args.videos}/{args.per_minute:g} min + one render "
        f"= {limit:.0f} s\n"
    )
    print(markdown_table(["figure", *(LABELS[name] for name in names), "target"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=60)
    parser.add_argument("--per-minute", type=float, default=20.0)
    parser.add_argument("--render-seconds", type=float, default=30.0)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--only", choices=sorted(VARIANTS), help="run one variant (no baseline ratio)")
    parser.add_argument("--home", help="keep the cluster's AIRFLOW_HOME (logs) in this folder")
    args = parser.parse_args()
    postgres = os.environ.get("HAILUO_E2E_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
    print(f"rate_limit: {load_note()}", flush=True)
    variants = [args.only] if args.only else list(VARIANTS)
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="hailuo-bench-rate-") as scratch,
        running_cluster(
            postgres_url=postgres,
            executor="LocalExecutor",
            home=Path(args.home or scratch),
            parallelism=args.parallelism,
            dags=DAGS,
            connection_extra={},  # the connection's default retries: what a user gets
        ) as cluster,
    ):
        for name in variants:
            print(f"running {LABELS[name]} ...", flush=True)
            dag_id, quota = VARIANTS[name]
            results[name] = run_batch(cluster, dag_id, quota, args)
    print_table(args, results)


if __name__ == "__main__":
    main()
