"""One DAG per model of the Hailuo family (``hailuo_test_family_<model>``): a video made, resumed
by a retry after its first try failed, and delivered. The test makes the first poll fail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.gateway.models import MODELS, Kind
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator, HailuoTextToVideoOperator

FRAME = str(Path(__file__).resolve().parents[2] / "dags_examples" / "images" / "lighthouse.jpg")
RETRY: dict[str, Any] = {
    "retries": 1,
    "retry_delay": timedelta(seconds=0),
    "poll_interval": 0.1,
    "timeout": 60,
}

for model, rules in MODELS.items():
    with DAG(dag_id=f"hailuo_test_family_{model}", schedule=None, catchup=False) as dag:
        if rules.kind is Kind.IMAGE_TO_VIDEO:
            HailuoImageToVideoOperator(
                task_id="video",
                model="{{ params.model }}" if model == "minimax_hailuo_23_fast_i2v" else model,
                first_frame_image=FRAME,
                prompt="A lighthouse at dusk [push in]",
                duration=10,
                deferrable=True,
                params={"model": model},
                **RETRY,
            )
        else:
            HailuoTextToVideoOperator(
                task_id="video",
                model=model,
                prompt="{{ 'A lighthouse at dusk, waves below [pull back]' }}",
                resolution="1080P",
                deferrable=False,
                **RETRY,
            )
    globals()[f"family_{model}"] = dag
