"""The DAG of the OpenLineage scenario: the only one whose tasks emit events (the cluster's
OpenLineage is selectively enabled, so the other scenarios run as they would without it)."""

from __future__ import annotations

from airflow.providers.openlineage.utils.selective_enable import enable_lineage
from airflow.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

with DAG(dag_id="e2e_lineage", schedule=None, catchup=False, params={"frame": "", "videos": ""}) as lineage:
    HailuoImageToVideoOperator(
        task_id="video",
        first_frame_image="{{ params.frame }}",
        prompt="A lighthouse [push in]",
        duration=10,
        resolution="768P",
        download_to="{{ params.videos }}",
        deferrable=True,
        poll_interval=1,
        timeout=600,
    )
enable_lineage(lineage)
