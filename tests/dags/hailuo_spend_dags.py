"""DAGs of the cost-cap tests (tests/integration/test_spend.py), run with ``dag.test()``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

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
