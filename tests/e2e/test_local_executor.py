"""Scenarios 1-7 on a real Airflow with the LocalExecutor, PostgreSQL and the emulator as gateway."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator.videos import task_id_of_video
from tests.dags.crash_once import AFTER_CREATE, AFTER_DOWNLOAD, AFTER_RECORD, MID_DOWNLOAD, POLLING
from tests.e2e.cluster import Cluster, max_concurrent_renders, running_cluster
from tests.e2e.conftest import make_stills, require_postgres

PARALLELISM = 8  # worker slots: far fewer than the videos rendering at once in scenario 1
EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"  # scenario 10 runs two of them
# The deployment's prices (scenario 12's run cap needs them; the emulator bills 0.10 for 512P 6 s).
PRICES = {"minimax_hailuo_02_i2v": {"512P": {"6": "0.10"}, "768P": {"6": "0.28"}}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    postgres = require_postgres()
    with running_cluster(
        postgres_url=postgres,
        executor="LocalExecutor",
        home=tmp_path_factory.mktemp("airflow-local"),
        parallelism=PARALLELISM,
        more_dags=(EXAMPLES,),
        openlineage=True,  # for scenario 11's DAG only (selectively enabled)
        connection_extra={"retry_limit": 3, "retry_delay": 0.2, "price_table": PRICES},
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_gateway(cluster: Cluster) -> None:
    cluster.emulator.reset()


def test_1_a_mapped_batch_of_50_renders_without_holding_worker_slots(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.emulator.configure(render_seconds=20)
    folder = make_stills(tmp_path / "stills", 50)
    run_id = cluster.trigger("e2e_batch", {"folder": str(folder)})
    peak_deferred = 0

    def watch() -> None:
        nonlocal peak_deferred
        rows = cluster.query(
            "select count(*) from task_instance where run_id = %s and task_id = 'video' and state = 'deferred'",
            run_id,
        )
        peak_deferred = max(peak_deferred, rows[0][0])

    assert cluster.wait_for_run("e2e_batch", run_id, timeout=300, on_tick=watch) == "success"
    states = cluster.task_states("e2e_batch", run_id)
    videos = {key: value for key, value in states.items() if key[0] == "video"}
    assert len(videos) == 50
    assert {state for state, _ in videos.values()} == {"success"}
    tasks = cluster.emulator.tasks()
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (50, 50)
    # Far more videos rendered at once than there are worker slots: no slot waited on a render.
    assert max_concurrent_renders(tasks) > PARALLELISM
    assert peak_deferred > PARALLELISM
    summary = cluster.xcom("e2e_batch", run_id, "total_cost")
    assert summary["task_ids"] == sorted(task["id"] for task in tasks)
    assert len(summary["urls"]) == 50
    assert all(summary["urls"])
    assert Decimal(summary["total"]) == sum(Decimal(task["cost"]) for task in tasks)
    # 50 trigger events fired (Airflow 3.3's triggerer logs each one, payload included), 50 videos
    # delivered: no signed URL in any log line of any process or task.
    logs = cluster.every_log()
    assert any("Trigger fired event" in text for text in logs.values())
    leaks = [path.name for path, text in logs.items() if "Signature=" in text or "OSSAccessKeyId=" in text]
    assert leaks == []


def test_2_killing_the_triggerer_loses_nothing_and_pays_once(cluster: Cluster, tmp_path: Path) -> None:
    cluster.emulator.configure(render_seconds=25)
    run_id = cluster.trigger("e2e_batch", {"folder": str(make_stills(tmp_path / "stills", 5))})

    def all_deferred() -> bool:
        return cluster.count_in_state("e2e_batch", run_id, "video", "deferred") == 5

    cluster.wait_for(all_deferred, 120, "all five videos to be deferred")
    cluster.kill("triggerer-0", signal.SIGKILL)
    time.sleep(3)
    cluster.spawn("triggerer-0", "triggerer")
    assert cluster.wait_for_run("e2e_batch", run_id, timeout=180) == "success"
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (5, 5)
    states = cluster.task_states("e2e_batch", run_id)
    assert all(tries == 1 for (task_id, _), (_, tries) in states.items() if task_id == "video")


def test_3_killing_the_worker_after_submitting_resumes_the_same_gateway_task(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.emulator.configure(render_seconds=20)
    frame = make_stills(tmp_path / "stills", 1) / "still_000.jpg"
    run_id = cluster.trigger("e2e_worker_killed", {"frame": str(frame)})

    def submitted_and_running() -> bool:
        rows = cluster.query(
            "select pid from task_instance where run_id = %s and task_id = 'video' and state = 'running'",
            run_id,
        )
        return cluster.emulator.stats()["tasks_created"] == 1 and bool(rows) and rows[0][0] is not None

    cluster.wait_for(submitted_and_running, 120, "the task to submit and poll in its worker")
    (pid,) = cluster.query("select pid from task_instance where run_id = %s and task_id = 'video'", run_id)[0]
    import os

    os.kill(pid, signal.SIGKILL)
    assert cluster.wait_for_run("e2e_worker_killed", run_id, timeout=180) == "success"
    (_, tries) = cluster.task_states("e2e_worker_killed", run_id)[("video", -1)]
    assert tries == 2
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (1, 1)
    result = cluster.xcom("e2e_worker_killed", run_id, "video")
    assert result["hailuo_task_id"] == cluster.emulator.tasks()[0]["id"]


def test_4_a_flaky_gateway_during_polling_is_ridden_out(cluster: Cluster, tmp_path: Path) -> None:
    cluster.emulator.configure(render_seconds=8)
    run_id = cluster.trigger("e2e_batch", {"folder": str(make_stills(tmp_path / "stills", 3))})
    cluster.emulator.add_faults(
        [
            {"kind": "status", "target": "poll", "http_status": 429, "retry_after": 2, "times": 4},
            {"kind": "status", "target": "poll", "http_status": 502, "times": 8},
            {"kind": "drop", "target": "poll", "times": 6},
        ]
    )
    assert cluster.wait_for_run("e2e_batch", run_id, timeout=240) == "success"
    assert cluster.emulator.faults() == []  # every fault was met
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (3, 3)
    states = cluster.task_states("e2e_batch", run_id)
    assert all(tries == 1 for (task_id, _), (_, tries) in states.items() if task_id == "video")


def test_5_a_failed_gateway_task_fails_the_task_with_its_code(cluster: Cluster, tmp_path: Path) -> None:
    cluster.emulator.configure(render_seconds=3)
    cluster.emulator.add_fault(
        "task_failure", error_code="010004098", error_message="status check went wrong"
    )
    frame = make_stills(tmp_path / "stills", 1) / "still_000.jpg"
    run_id = cluster.trigger("e2e_failure", {"frame": str(frame)})
    assert cluster.wait_for_run("e2e_failure", run_id, timeout=180) == "failed"
    states = cluster.task_states("e2e_failure", run_id)
    assert states[("video", -1)][0] == "failed"
    assert states[("publish", -1)][0] == "upstream_failed"
    log = cluster.task_log("e2e_failure", run_id, "video")
    assert "010004098" in log
    assert "status check went wrong" in log


# -- the crash-point matrix: a worker killed once at each point of a video's life ------------------

CRASH_POINTS = [
    (AFTER_CREATE, "sync"),
    (AFTER_RECORD, "sync"),
    (POLLING, "sync"),
    (MID_DOWNLOAD, "deferrable"),
    (AFTER_DOWNLOAD, "deferrable"),
]


@pytest.mark.parametrize(("point", "mode"), CRASH_POINTS, ids=[point for point, _ in CRASH_POINTS])
def test_6_a_worker_killed_at_any_point_pays_once_and_keeps_its_own_video(
    cluster: Cluster, tmp_path: Path, point: str, mode: str
) -> None:
    # Renders shorter than a deferral takes: the deferral floor keeps Airflow's scheduler race away
    # (scenario 13), and the retry of a finished video reads it in the worker, deferring nothing.
    cluster.emulator.configure(render_seconds=2)
    frame = make_stills(tmp_path / "stills", 1) / "still_000.jpg"
    videos, marker = tmp_path / "videos", tmp_path / "crashed"
    dag_id = f"e2e_crash_{mode}"
    conf = {"frame": str(frame), "crash_at": point, "marker": str(marker), "download_to": f"{videos}/"}
    run_id = cluster.trigger(dag_id, conf)
    state = cluster.wait_for_run(dag_id, run_id, timeout=240)

    assert marker.exists()  # the worker was killed where the test says
    assert cluster.task_states(dag_id, run_id)[("video", -1)][1] == 2  # and Airflow retried it
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (1, 1)  # paid once, whatever the point
    if point == AFTER_CREATE:
        # The id died with the worker: the retry cannot know the task, and must not pay again.
        assert state == "failed"
        assert "stopped before recording the answer" in cluster.task_log(dag_id, run_id, "video")
        return
    assert state == "success", cluster.task_log(dag_id, run_id, "video")[-5000:]
    (gateway_task,) = cluster.emulator.tasks()
    result = cluster.xcom(dag_id, run_id, "video")
    expected = videos / f"{gateway_task['id']}.mp4"
    assert result["hailuo_task_id"] == gateway_task["id"]
    assert result["local_path"] == str(expected)
    assert task_id_of_video(expected.read_bytes()) == gateway_task["id"]  # whole, and its own
    assert [path.name for path in videos.iterdir()] == [expected.name]  # no partial file left


def test_7_a_mapped_batch_of_same_named_frames_keeps_every_video_apart(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.emulator.configure(render_seconds=2)  # shorter than a deferral takes: see scenario 13
    products = tmp_path / "products"
    for index, still in enumerate(sorted(make_stills(tmp_path / "stills", 4).iterdir())):
        (products / f"product_{index}").mkdir(parents=True)
        still.rename(products / f"product_{index}" / "front.jpg")
    videos = tmp_path / "videos"
    run_id = cluster.trigger("e2e_same_names", {"folder": str(products), "videos": f"{videos}/"})
    state = cluster.wait_for_run("e2e_same_names", run_id, timeout=240)
    assert state == "success", cluster.task_log("e2e_same_names", run_id, "video")[-5000:]

    tasks = cluster.emulator.tasks()
    assert len(tasks) == cluster.emulator.stats()["create"] == 4
    results = [cluster.xcom("e2e_same_names", run_id, "video", map_index=index) for index in range(4)]
    assert len({result["hailuo_task_id"] for result in results}) == 4
    for result in results:
        path = Path(result["local_path"])
        assert path.parent == videos
        assert task_id_of_video(path.read_bytes()) == result["hailuo_task_id"]
    assert len(list(videos.iterdir())) == 4


def test_8_a_mapped_batch_against_a_tight_create_quota_waits_in_the_triggerer(
    cluster: Cluster, tmp_path: Path
) -> None:
    # 12 creates a minute: a burst of 12, then one every 5 s. 30 videos reach the gateway faster
    # than that (about one a second on this executor), so most of the batch meets the limit.
    cluster.emulator.configure(render_seconds=12, create_quota_per_minute=12)
    run_id = cluster.trigger("e2e_batch", {"folder": str(make_stills(tmp_path / "stills", 30))})
    peak_waiting_for_quota = 0

    def watch() -> None:
        nonlocal peak_waiting_for_quota
        rows = cluster.query(
            "select count(*) from task_instance ti join trigger t on ti.trigger_id = t.id "
            "where ti.run_id = %s and ti.task_id = 'video' and ti.state = 'deferred' "
            "and t.classpath like %s",
            run_id,
            "%.HailuoQuotaWaitTrigger",
        )
        peak_waiting_for_quota = max(peak_waiting_for_quota, rows[0][0])

    state = cluster.wait_for_run("e2e_batch", run_id, timeout=420, on_tick=watch)
    assert state == "success", cluster.task_log("e2e_batch", run_id, "video")[-5000:]
    videos = {
        key: value for key, value in cluster.task_states("e2e_batch", run_id).items() if key[0] == "video"
    }
    assert len(videos) == 30
    assert set(videos.values()) == {("success", 1)}  # no failure, and no Airflow retry either
    stats = cluster.emulator.stats()
    refused = stats["quota_refusals"].get("create_rate", 0)
    # Exactly one accepted create per video; the gateway refused some, and their tasks waited
    # deferred (in the triggerer, holding no worker slot), not running.
    assert stats["tasks_created"] == stats["create"] - refused == 30
    assert refused > 0
    assert peak_waiting_for_quota > 0
    assert "Waiting in the triggerer for its quota" in cluster.task_log("e2e_batch", run_id, "video")


@pytest.mark.parametrize("pooled", [False, True], ids=["quota_wait_alone", "with_a_pool"])
def test_9_the_cap_on_tasks_in_flight_is_waited_out_or_never_met_with_a_pool(
    cluster: Cluster, tmp_path: Path, pooled: bool
) -> None:
    cap = 3
    cluster.emulator.configure(render_seconds=12, max_tasks_in_flight=cap)
    # Without the recipe the pool is larger than the batch: only the gateway's cap holds it back.
    cluster.run_cli("pools", "set", "hailuo_account", str(cap if pooled else 32), "e2e", "--include-deferred")
    run_id = cluster.trigger("e2e_pooled_batch", {"folder": str(make_stills(tmp_path / "stills", 7))})
    state = cluster.wait_for_run("e2e_pooled_batch", run_id, timeout=420)
    assert state == "success", cluster.task_log("e2e_pooled_batch", run_id, "video")[-5000:]
    videos = {k: v for k, v in cluster.task_states("e2e_pooled_batch", run_id).items() if k[0] == "video"}
    assert set(videos.values()) == {("success", 1)}
    stats = cluster.emulator.stats()
    refused = stats["quota_refusals"].get("tasks_in_flight", 0)
    assert stats["tasks_created"] == stats["create"] - refused == 7
    assert max_concurrent_renders(cluster.emulator.tasks()) <= cap
    # The pool keeps the batch under the cap: the gateway never has to refuse.
    assert (refused == 0) if pooled else (refused > 0)


def test_10_a_video_made_as_an_asset_starts_the_consumer_which_reads_its_extra(
    cluster: Cluster, tmp_path: Path
) -> None:
    # The example pair as shipped: the producer's video emits an asset event, and the scheduler,
    # not the test, starts the consumer's run from it.
    producer, consumer = "example_hailuo_asset_producer", "example_hailuo_asset_consumer"
    cluster.emulator.configure(render_seconds=2)  # shorter than a deferral takes: see scenario 13
    videos = tmp_path / "videos"
    cluster.run_cli("variables", "set", "hailuo_video_dir", str(videos))
    run_id = cluster.trigger(producer)
    assert cluster.wait_for_run(producer, run_id, timeout=180) == "success"
    video = cluster.xcom(producer, run_id, "harbour_video")

    def consumer_runs() -> list[tuple[str, str]]:
        return cluster.query(
            "select run_id, state from dag_run where dag_id = %s and run_type = 'asset_triggered'", consumer
        )

    def consumer_finished() -> bool:
        return any(state in ("success", "failed") for _, state in consumer_runs())

    cluster.wait_for(consumer_finished, 120, "the scheduler to run the consumer on the producer's event")
    ((consumer_run, state),) = consumer_runs()
    assert state == "success", cluster.task_log(consumer, consumer_run, "new_videos")[-5000:]
    summary = cluster.xcom(consumer, consumer_run, "new_videos")
    (gateway_task,) = cluster.emulator.tasks()
    assert summary["hailuo_task_ids"] == [gateway_task["id"]] == [video["hailuo_task_id"]]
    assert summary["local_paths"] == [str(videos / f"{gateway_task['id']}.mp4")] == [video["local_path"]]
    assert Decimal(summary["total_cost"]) == Decimal(gateway_task["cost"]) == Decimal(video["cost"]) > 0
    assert Path(video["local_path"]).is_file()


def test_11_openlineage_events_report_the_video_made_across_a_deferral(
    cluster: Cluster, tmp_path: Path
) -> None:
    import json

    cluster.emulator.configure(render_seconds=2)  # shorter than a deferral takes: see scenario 13
    frame = make_stills(tmp_path / "stills", 1) / "still_000.jpg"
    videos = tmp_path / "videos"
    run_id = cluster.trigger("e2e_lineage", {"frame": str(frame), "videos": f"{videos}/"})
    deferred = False

    def watch() -> None:
        nonlocal deferred
        deferred = deferred or cluster.count_in_state("e2e_lineage", run_id, "video", "deferred") == 1

    assert cluster.wait_for_run("e2e_lineage", run_id, timeout=180, on_tick=watch) == "success"
    # execute ran on a worker, the trigger in the triggerer, execute_complete on a worker again.
    assert deferred

    def task_events() -> list[dict[str, Any]]:
        if not cluster.openlineage_events.exists():
            return []
        parsed = [json.loads(line) for line in cluster.openlineage_events.read_text().splitlines()]
        return [event for event in parsed if event["job"]["name"] == "e2e_lineage.video"]

    # The worker emits COMPLETE after reporting the task's success: wait for it.
    def completed() -> bool:
        return [event["eventType"] for event in task_events()][-1:] == ["COMPLETE"]

    cluster.wait_for(completed, 60, "the COMPLETE event")
    events = task_events()
    # One START per worker process (before and after the deferral), one COMPLETE, all one OpenLineage run.
    assert [event["eventType"] for event in events] == ["START", "START", "COMPLETE"]
    assert len({event["run"]["runId"] for event in events}) == 1
    complete = events[-1]
    (gateway_task,) = cluster.emulator.tasks()
    video = videos / f"{gateway_task['id']}.mp4"
    assert task_id_of_video(video.read_bytes()) == gateway_task["id"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("file", str(frame))]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [("file", str(video))]
    facet = complete["run"]["facets"]["hailuo"]
    assert facet["hailuoTaskId"] == gateway_task["id"]
    assert (facet["status"], facet["model"], facet["durationSeconds"], facet["resolution"]) == (
        "completed",
        "minimax_hailuo_02_i2v",
        10,
        "768P",
    )
    assert facet["promptLength"] == len("A lighthouse [push in]")
    assert Decimal(facet["cost"]) == Decimal(gateway_task["cost"]) > 0
    assert facet["renderingSeconds"] > 0
    # The START events come before the gateway's answer: they carry no facts of ours.
    assert all("hailuo" not in event["run"]["facets"] for event in events[:-1])


@pytest.mark.timeout(600)  # the batch, then the batch cleared
def test_12_a_runaway_batch_in_parallel_stops_exactly_at_the_run_cap(
    cluster: Cluster, tmp_path: Path
) -> None:
    # 12 videos at 0.10 on 8 worker slots, committing to the run's 0.50 at about the same time.
    cluster.emulator.configure(render_seconds=2)  # shorter than a deferral takes: see scenario 13
    run_id = cluster.trigger("e2e_capped_batch", {"folder": str(make_stills(tmp_path / "stills", 12))})
    assert cluster.wait_for_run("e2e_capped_batch", run_id, timeout=300) == "failed"
    videos = {
        key: value
        for key, value in cluster.task_states("e2e_capped_batch", run_id).items()
        if key[0] == "video"
    }
    outcomes = sorted(state or "none" for state, _ in videos.values())
    assert outcomes == ["failed"] * 7 + ["success"] * 5
    assert all(try_number == 1 for _, try_number in videos.values())  # a cap refusal is not retried
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (5, 5)
    log = cluster.task_log("e2e_capped_batch", run_id, "video")
    assert "the DAG run's cost cap is reached" in log
    # The whole batch cleared: Airflow deletes each task instance's XCom (its commitment) when its
    # new try starts, and 12 tries start together; the 5 videos resume, the 7 others are refused
    # again. The run cap holds through the clear: no video is made twice or beyond it.
    cluster.clear("e2e_capped_batch", run_id, "video")

    def second_tries() -> dict[tuple[str, int], tuple[str | None, int]]:
        states = cluster.task_states("e2e_capped_batch", run_id)
        return {key: value for key, value in states.items() if key[0] == "video"}

    cluster.wait_for(
        lambda: all(
            state in ("success", "failed") and tries == 2 for state, tries in second_tries().values()
        ),
        300,
        "the cleared batch's second tries",
    )
    videos = second_tries()
    assert sorted(state or "none" for state, _ in videos.values()) == ["failed"] * 7 + ["success"] * 5
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (5, 5)


def test_13_videos_ready_within_seconds_of_deferring_never_fail_by_the_scheduler(
    cluster: Cluster, tmp_path: Path
) -> None:
    # 8 videos ready 1 s after their creates on 8 worker slots, then a sensor started on a worker
    # whose target is done: without the deferral floor, a trigger firing before the deferring
    # process's exit is processed made the scheduler fail a paid video's task ("finished with
    # state success, but the task instance's state attribute is ..."), with no retry to recover.
    cluster.emulator.configure(render_seconds=1)
    run_id = cluster.trigger("e2e_fast_renders", {"folder": str(make_stills(tmp_path / "stills", 8))})
    assert cluster.wait_for_run("e2e_fast_renders", run_id, timeout=300) == "success"
    states = cluster.task_states("e2e_fast_renders", run_id)
    assert {key[0] for key in states} == {"list_fast_stills", "video", "first_video", "sense"}
    assert set(states.values()) == {("success", 1)}  # every task on its first try
    stats = cluster.emulator.stats()
    assert (stats["create"], stats["tasks_created"]) == (8, 8)
