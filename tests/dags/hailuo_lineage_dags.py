"""DAGs tests/integration/test_lineage.py runs with ``dag.test()`` and the OpenLineage provider.

The first frame and the destination are templates, rendered from the run's conf. A frame that
must not appear in any event (a data URL, a signed URL) comes from the environment instead: the
OpenLineage provider reports the DAG run's conf in its own ``airflow`` facet.
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator, HailuoTextToVideoOperator

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

with DAG(dag_id="hailuo_lineage_text", schedule=None, catchup=False) as text_dag:
    # Text to video: no frame, so no input dataset; the video and the facet as for an image.
    HailuoTextToVideoOperator(
        task_id="video",
        prompt="A lighthouse at dusk [push in]",
        duration=10,
        deferrable=True,
        poll_interval=0.1,
        timeout=60,
    )
