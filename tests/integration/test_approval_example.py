"""The approval example end to end (Airflow 3.1+): a batch rendered against the emulator, each
video reviewed through Airflow's REST API on a real API server, only the approved one published."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator.server import EmulatorServer
from tests.airflow_versions import AIRFLOW_V_3_3_PLUS
from tests.integration.airflow_ui import ApiServer, api_server
from tests.integration.support import load_dag, task_results

# The example needs Airflow 3.1+, but before 3.3 dag.test() cannot run a human-in-the-loop task:
# its in-process supervisor does not answer the trigger's GetHITLDetail request ("Unhandled
# request"), so the trigger fails. A real triggerer does; this test uses dag.test().
pytestmark = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="dag.test() runs human-in-the-loop tasks from Airflow 3.3 on"
)
DAG_ID = "example_hailuo_approval"
# Two reviews answered well within this on a busy 2-core machine (about 40 s there); past it the
# reviewer gives up and ends the run, so the test fails with its errors instead of hanging.
REVIEW_DEADLINE_SECONDS = 180


class Reviewer(threading.Thread):
    """Answers each review as it appears, as a person in the UI would: publish map index 0 only."""

    def __init__(self, server: ApiServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.answered: dict[int, list[str]] = {}
        self.bodies: dict[int, str] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import requests

        deadline = time.monotonic() + REVIEW_DEADLINE_SECONDS
        headers: dict[str, str] = {}
        while not self.stop.wait(0.5):
            if time.monotonic() > deadline:
                self.errors.append(f"no answer to every review in {REVIEW_DEADLINE_SECONDS} s")
                fail_unanswered_reviews()
                return
            try:
                # Inside the loop: a token request that fails on a busy machine is tried again,
                # instead of ending the thread and leaving dag.test() waiting for ever.
                if not headers:
                    headers = {"Authorization": f"Bearer {self.server.token('admin')}"}
                response = requests.get(
                    f"{self.server.url}/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails",
                    headers=headers,
                    timeout=30,
                )
                response.raise_for_status()
                for detail in response.json()["hitl_details"]:
                    instance = detail["task_instance"]
                    map_index = instance["map_index"]
                    if detail["response_received"] or map_index in self.answered:
                        continue
                    choice = ["Publish"] if map_index == 0 else ["Reject"]
                    answer = requests.patch(
                        f"{self.server.url}/api/v2/dags/{DAG_ID}/dagRuns/{instance['dag_run_id']}"
                        f"/taskInstances/review/{map_index}/hitlDetails",
                        headers=headers,
                        json={"chosen_options": choice},
                        timeout=30,
                    )
                    answer.raise_for_status()
                    self.answered[map_index] = choice
                    self.bodies[map_index] = detail["body"]
            except Exception as error:  # reported by the test, not lost in the thread
                self.errors.append(repr(error))


def fail_unanswered_reviews() -> None:
    """End the reviews nobody could answer, so that dag.test() returns and the test fails.

    From Airflow 3.3 a review waits in ``awaiting_input``, and only the scheduler ends that wait
    at its ``response_timeout``: under dag.test(), with no scheduler, an unanswered review waits
    for ever (and pytest-timeout's only way out ends the whole session, not this test).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        session.query(TaskInstance).filter(
            TaskInstance.dag_id == DAG_ID,
            TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
        ).update({TaskInstance.state: TaskInstanceState.FAILED}, synchronize_session=False)


def test_only_the_approved_video_is_published(
    airflow_db: None, hailuo_emulator: EmulatorServer, fast_connection: str, tmp_path: Path
) -> None:
    drafts, published = tmp_path / "drafts", tmp_path / "published"
    with api_server(Path(os.environ["AIRFLOW_HOME"]), {}) as server:
        reviewer = Reviewer(server)
        reviewer.start()
        dag = load_dag("examples", DAG_ID, DAG_ID)
        try:
            dag_run = dag.test(run_conf={"drafts": str(drafts), "published": str(published)})
        finally:
            reviewer.stop.set()
            reviewer.join()
        server_log = server.log.read_text(errors="replace")[-3000:]
    # A failed request is tried again on the next round (SQLite, shared with dag.test(), may be
    # busy for a moment); what counts is that every review got its answer.
    assert reviewer.answered == {0: ["Publish"], 1: ["Reject"]}, (reviewer.errors[-5:], server_log)
    results = task_results(dag_run)
    assert {state for state, _ in results.values()} == {"success"}, results
    videos: list[dict[str, Any]] = [results[("video", index)][1] for index in (0, 1)]
    # The reviewer was pointed at the video's own view, with its gateway task and cost.
    assert "tasks/video/mapped/0/plugin/hailuo-video" in reviewer.bodies[0]
    assert videos[1]["hailuo_task_id"] in reviewer.bodies[1]
    approved = Path(videos[0]["local_path"])
    assert results[("publish", -1)][1] == [str(published / approved.name)]
    assert sorted(path.name for path in published.iterdir()) == [approved.name]
    assert (published / approved.name).read_bytes() == approved.read_bytes()
    assert len(list(drafts.iterdir())) == 2  # the rejected draft stays a draft
