"""DAGs of the cost-cap tests (tests/integration/test_spend.py), run with ``dag.test()``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, get_current_context, task

from airflow_provider_hailuo.integration.run_states import run_task_states
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")
FAST = {"poll_interval": 0.1, "timeout": 60}

# A runaway batch: ten frames, a run cap (the DAG param, set per run) that allows only some.
with DAG(
    dag_id="hailuo_test_run_cap",
    schedule=None,
    catchup=False,
    params={"hailuo_max_run_cost_usd": 1.20},
) as run_cap_dag:
    HailuoImageToVideoOperator.partial(task_id="videos", **FAST).expand(first_frame_image=[FRAME] * 10)

# Two tasks, one capped by the operator's own max_run_cost_usd: the other task's spend counts too.
with DAG(dag_id="hailuo_test_run_cap_operator", schedule=None, catchup=False) as operator_cap_dag:
    first = HailuoImageToVideoOperator(task_id="first", first_frame_image=FRAME, **FAST)
    second = HailuoImageToVideoOperator(
        task_id="second", first_frame_image=FRAME, max_run_cost_usd="0.50", **FAST
    )
    first >> second

# Try 1's video fails at the gateway (the test queues the failure); try 2 would pay for another.
with DAG(
    dag_id="hailuo_test_run_cap_retry",
    schedule=None,
    catchup=False,
    params={"hailuo_max_run_cost_usd": "0.50"},
) as retry_dag:
    HailuoImageToVideoOperator(
        task_id="video", first_frame_image=FRAME, retries=1, retry_delay=timedelta(seconds=0), **FAST
    )

# What the run cap reads of the run's task instances (spend.py waits for running ones to commit):
# each of three mapped task instances returns what it read, with a task that is not mapped beside.
with DAG(dag_id="hailuo_test_run_states", schedule=None, catchup=False) as run_states_dag:

    @task
    def look(index: int) -> list[list[object]]:
        states = run_task_states(get_current_context(), ["look", "alone"])
        return [[task_id, map_index, state] for (task_id, map_index), state in sorted(states.items())]

    @task
    def alone() -> None:
        pass

    alone() >> look.expand(index=[0, 1, 2])
