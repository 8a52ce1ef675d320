"""DAGs tests/integration/test_lineage.py runs with ``dag.test()`` and the OpenLineage provider.

The first frame and the destination are templates, rendered from the run's conf. A frame that
must not appear in any event (a data URL, a signed URL) comes from the environment instead: the
OpenLineage provider reports the DAG run's conf in its own ``airflow`` facet.
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator

for deferrable in (True, False):
    mode = "deferrable" if deferrable else "sync"
    with DAG(
        dag_id=f"hailuo_lineage_video_{mode}",
        schedule=None,
        catchup=False,
        params={"frame": "", "download_to": ""},
    ) as lineage_dag:
        HailuoImageToVideoOperator(
            task_id="video",
            first_frame_image=os.environ.get("HAILUO_LINEAGE_FRAME") or "{{ params.frame }}",
            last_frame_image=os.environ.get("HAILUO_LINEAGE_LAST_FRAME"),
            prompt="{{ 'A lighthouse [push in]' }}",
            duration="{{ 6 }}",
            resolution="768P",
            download_to="{{ params.download_to }}",  # "" downloads nothing
            deferrable=deferrable,
            poll_interval=0.1,
            timeout=60,
        )
    globals()[f"lineage_{mode}"] = lineage_dag
