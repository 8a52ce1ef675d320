"""The main job (``make demo``): the first example DAG, run by Airflow end to end against the emulator.

No API key and no network: the bundled emulator stands in for the gateway on 127.0.0.1. Airflow
runs ``example_hailuo_image_to_video`` with ``dag.test()``: the operator validates and submits the
image, defers to the trigger (which polls the emulator), resumes, downloads the video, and this
prints the video URL, the cost and the downloaded file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT_DIR = HERE.parent / "demo-output"
EXAMPLE = "example_hailuo_image_to_video"


def load_example_dag() -> Any:
    spec = importlib.util.spec_from_file_location(EXAMPLE, HERE / f"{EXAMPLE}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def main() -> int:
    # Airflow reads its configuration once, at import: set it up first (a throwaway home and DB).
    from airflow_provider_hailuo.emulator.sandbox import prepare_local_airflow

    prepare_local_airflow([HERE])
    from airflow_provider_hailuo.emulator import EmulatorServer
    from airflow_provider_hailuo.gateway.urls import without_query

    with EmulatorServer(render_seconds=3.0) as emulator:
        os.environ["AIRFLOW_CONN_HAILUO_DEFAULT"] = json.dumps(
            {"conn_type": "hailuo", "host": emulator.url, "password": emulator.api_key}
        )
        os.environ["AIRFLOW_VAR_HAILUO_VIDEO_DIR"] = str(OUTPUT_DIR)
        dag_run = load_example_dag().test()
        (task_instance,) = dag_run.get_task_instances()
        result = task_instance.xcom_pull(task_ids=task_instance.task_id)
        requests_seen = emulator.client.stats()

    print()
    print(f"DAG run:      {dag_run.dag_id} {dag_run.state}")
    if not isinstance(result, dict):
        print(f"task {task_instance.task_id} ended {task_instance.state}; see the log above")
        return 1
    print(f"Hailuo task:  {result['hailuo_task_id']} ({result['status']})")
    print(f"video URL:    {without_query(result['video_url'])} (signed; the XCom holds it whole)")
    print(f"cost (USD):   {result['cost']}")
    local = Path(result["local_path"])
    print(f"downloaded:   {local} ({local.stat().st_size} bytes)")
    print(
        f"gateway:      {requests_seen['create']} create, {requests_seen['poll']} polls (by the trigger; dag.test() runs it inline)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
