"""Trigger cost: the CPU and memory of one trigger and of one poll, and what one triggerer carries.

From runs of N triggers (default 1,000) in one event loop (``triggerer_scale.py --one``, a fresh
process each, the emulator in its own process), for each of the three ways of waiting (the HTTP
provider's ``HttpSensorTrigger`` as the baseline, the sync hook in a thread, ``HailuoTaskTrigger``):

- run A: every task already done at the first poll (one poll per trigger);
- run B: tasks rendering ``--render-seconds`` (several polls per trigger).

Run A's CPU time over N is a trigger's start-up with its first poll; the CPU time run B adds,
over the polls it adds, is the cost of each further poll. Memory per trigger is run B's
peak RSS growth (and, in a third run, tracemalloc peak) over N, all triggers being alive at once.

Capacity: at steady state a trigger costs ``poll / poll_interval`` CPU seconds per second, so one
triggerer process at ``--cpu-budget`` of one core carries ``budget x interval / poll`` triggers.

    .venv/bin/python benchmarks/trigger_cost.py [--n 1000] [--render-seconds 5] [--poll-interval 1]
        [--cpu-budget 0.5] [--plan-intervals 5,15,60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

from _harness import Emulator, connection_env, load_note, markdown_table, with_ratio
from triggerer_scale import BASELINE, VARIANTS, run_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="triggers per run (default: %(default)s)")
    parser.add_argument("--render-seconds", type=float, default=5.0, help="run B's render time")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="the runs' poll interval")
    parser.add_argument("--cpu-budget", type=float, default=0.5, help="share of one core (default: 0.5)")
    parser.add_argument(
        "--plan-intervals", default="5,15,60", help="poll intervals to plan for (default: %(default)s)"
    )
    parser.add_argument("--max-seconds", type=float, default=180.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    intervals = [float(value) for value in args.plan_intervals.split(",")]
    n = args.n

    started_load = load_note()
    figures: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="hailuo-bench-airflow-home-") as home,
        Emulator(render_seconds=args.render_seconds, airflow_home=home) as emulator,
    ):
        env = {**os.environ, "AIRFLOW_HOME": home, **connection_env(emulator.url)}
        for variant in VARIANTS:
            done = run_variant(emulator, env, variant, n, args, trace=False, render_seconds=0, spread=False)
            rendering = run_variant(emulator, env, variant, n, args, trace=False)
            traced = run_variant(emulator, env, variant, n, args, trace=True)
            for run in (done, rendering, traced):
                if run["ok"] != n:
                    raise RuntimeError(f"{variant}: {run['ok']}/{n} events ok: {run['errors']}")
            extra_polls = rendering["polls"] - done["polls"]
            per_poll = (rendering["cpu_seconds"] - done["cpu_seconds"]) / extra_polls
            per_start = done["cpu_seconds"] / n  # start-up and first poll, measured whole
            figures[variant] = {
                "start_ms": per_start * 1000,
                "poll_ms": per_poll * 1000,
                "rss_kib": rendering["peak_rss_growth_bytes"] / n / 1024,
                "traced_kib": traced["tracemalloc_peak_bytes"] / n / 1024,
                "polls_per_trigger": rendering["requests_per_task"],
                **{f"capacity_{interval:g}": args.cpu_budget * interval / per_poll for interval in intervals},
            }
            print(f"  (measured {VARIANTS[variant]})", file=sys.stderr, flush=True)

    rows_spec = [
        ("CPU per trigger: start-up with its first poll (ms)", "start_ms", ".2f"),
        ("CPU per further poll (ms)", "poll_ms", ".3f"),
        ("peak RSS per trigger (KiB)", "rss_kib", ".1f"),
        ("tracemalloc peak per trigger (KiB)", "traced_kib", ".1f"),
        *(
            (
                f"triggers per {args.cpu_budget:.0%} of a core, polling every {interval:g} s",
                f"capacity_{interval:g}",
                ",.0f",
            )
            for interval in intervals
        ),
    ]
    base = figures[BASELINE]
    rows = [
        [
            label,
            *(
                format(figures[v][key], fmt) if v == BASELINE else with_ratio(figures[v][key], base[key], fmt)
                for v in VARIANTS
            ),
        ]
        for label, key, fmt in rows_spec
    ]
    polls = ", ".join(format(figures[v]["polls_per_trigger"], ".1f") for v in VARIANTS)
    print(
        f"Trigger cost: {n} triggers in one event loop (fresh process per run), poll every "
        f"{args.poll_interval:g} s; run B renders {args.render_seconds:g} to "
        f"{args.render_seconds + args.poll_interval:g} s ({polls} polls per trigger); at start, "
        f"{started_load}"
    )
    print()
    print(markdown_table(["figure", *VARIANTS.values()], rows))
    print()
    print(f"Ratios are against {VARIANTS[BASELINE]}; for capacity, higher is better.")
    mine = figures["hailuo"]
    plan = "; ".join(
        f"every {interval:g} s: about {mine[f'capacity_{interval:g}']:,.0f} triggers "
        f"({mine[f'capacity_{interval:g}'] * mine['rss_kib'] / 1024:,.0f} MiB of RSS)"
        for interval in intervals
    )
    print(
        f"Planning (HailuoTaskTrigger): one triggerer process at {args.cpu_budget:.0%} of one core carries, "
        f"polling {plan}; each trigger also costs {mine['start_ms']:.2f} ms of CPU once, when it starts."
    )
    default_capacity = 1000
    shares = ", ".join(
        f"{100 * default_capacity * mine['poll_ms'] / 1000 / interval:.1f}% at {interval:g} s"
        for interval in intervals
    )
    print(
        f"Airflow's default [triggerer] capacity, {default_capacity:,} triggers, takes {shares} of one core "
        f"and about {default_capacity * mine['rss_kib'] / 1024:.0f} MiB: the capacity setting, not CPU, is the "
        "limit. Extrapolated from "
        f"{n} triggers: full garbage collections scan every live object, so the cost per poll grows with "
        "the number of live triggers; re-run with --n near the planned number before relying on it."
    )


if __name__ == "__main__":
    main()
