"""The crash-point matrix, each try a real Airflow CLI process (every point on the newest Airflow,
the point that proves the store on each older line).

``airflow tasks test`` runs one try of the task in a process of its own, against the test's
metadata database: the test kills it (SIGKILL, from inside, at the chosen point) and runs the
next try as a new process, as a worker's retry would be. This is what resumes the gateway task
on Airflow 2.11 and 3.0-3.2 (an Airflow Variable) and on 3.3+ (the task state store). The
end-to-end suite runs the same matrix through a real scheduler on Airflow 3.3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.emulator.videos import task_id_of_video
from tests.airflow_versions import EVERY_AIRFLOW
from tests.dags.crash_once import AFTER_CREATE, AFTER_RECORD, CRASH_POINTS
from tests.integration.support import REPO

FRAME = REPO / "dags_examples" / "images" / "lighthouse.jpg"


def one_try(env: dict[str, str], logical_date: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "airflow", "tasks", "test", "hailuo_test_crash", "video", logical_date]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


# Every point on the newest Airflow; on the older lines the point that proves their store (the
# id recorded, the try killed, the next process resumes from the Variable), as a real process on
# each line. Where in the operator the other points fall is the provider's own, the same everywhere.
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    "point",
    [pytest.param(point, marks=EVERY_AIRFLOW if point == AFTER_RECORD else ()) for point in CRASH_POINTS],
)
def test_a_try_killed_at_any_point_pays_once_and_keeps_its_own_video(
    hailuo_emulator: EmulatorServer, tmp_path: Path, point: str
) -> None:
    hailuo_emulator.client.configure(render_seconds=1)
    videos, marker = tmp_path / "videos", tmp_path / "crashed"
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "tests" / "dags"),
        "AIRFLOW_CONN_HAILUO_DEFAULT": json.dumps(
            {
                "conn_type": "hailuo",
                "host": hailuo_emulator.url,
                "password": hailuo_emulator.api_key,
                "extra": {"retry_limit": 3, "retry_delay": 0.05},
            }
        ),
        "HAILUO_CRASH_AT": point,
        "HAILUO_CRASH_MARKER": str(marker),
        "HAILUO_CRASH_FRAME": str(FRAME),
        "HAILUO_CRASH_VIDEOS": f"{videos}/",
    }
    # A DAG run of its own per point (the CLI reuses the run of a logical date it has seen).
    logical_date = f"2026-01-{CRASH_POINTS.index(point) + 1:02d}T00:00:00+00:00"
    killed = one_try(env, logical_date)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert marker.exists()

    retry = one_try(env, logical_date)
    output = retry.stdout + retry.stderr
    stats = hailuo_emulator.client.stats()
    assert (stats["create"], stats["tasks_created"]) == (1, 1), output[-3000:]  # paid once
    if point == AFTER_CREATE:
        # The id died with the try: the retry cannot know the task and must not pay again. (The
        # exit code says nothing here: Airflow 3's `tasks test` exits 0 for a failed task.)
        assert "stopped before recording the answer" in output
        return
    assert retry.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    (gateway_task,) = hailuo_emulator.client.tasks()
    expected = videos / f"{gateway_task['id']}.mp4"
    assert task_id_of_video(expected.read_bytes()) == gateway_task["id"]  # whole, and its own
    assert [path.name for path in videos.iterdir()] == [expected.name]  # no partial file left
