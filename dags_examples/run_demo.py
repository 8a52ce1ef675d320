"""The main job (``make demo``): one image to video, end to end, against the bundled emulator.

No API key and no network: the emulator stands in for the gateway on 127.0.0.1. The hook submits
``images/lighthouse.jpg`` with camera instructions, polls until the video is rendered, downloads
it, and this prints the task id, the video URL, the cost and the downloaded file.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT_DIR = HERE.parent / "demo-output"


def main() -> int:
    # A throwaway Airflow home, set before Airflow is imported, so the demo leaves ~/airflow alone.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hailuo-demo-airflow-home-"))

    from airflow_provider_hailuo.emulator import EmulatorServer
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook
    from airflow_provider_hailuo.params import GenerationRequest
    from airflow_provider_hailuo.protocol import failure_error

    with EmulatorServer(render_seconds=3.0) as emulator:
        os.environ["AIRFLOW_CONN_HAILUO_DEFAULT"] = json.dumps(
            {"conn_type": "hailuo", "host": emulator.url, "password": emulator.api_key}
        )
        hook = HailuoHook("hailuo_default")
        task_id = hook.submit(
            GenerationRequest(
                first_frame_image=HERE / "images" / "lighthouse.jpg",
                prompt="A lighthouse at dusk, waves rolling in [push in], then [pan left]",
                duration=6,
                resolution="768P",
            )
        )
        task = hook.wait_for_task(task_id, poll_interval=1.0, timeout=120)
        if not task.is_success:
            raise failure_error(task)
        assert task.video_url is not None
        OUTPUT_DIR.mkdir(exist_ok=True)
        path = Path(hook.download_video(task.video_url, OUTPUT_DIR))

    print()
    print(f"Hailuo task:  {task.id}")
    print(f"status:       {task.status}")
    print(f"video URL:    {task.video_url}")
    print(f"cost (USD):   {task.cost}")
    print(f"downloaded:   {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
