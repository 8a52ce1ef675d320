"""OpenLineage events of the operator and the sensor, from the real OpenLineage provider.

Each scenario is a ``dag.test()`` in a fresh interpreter with a file transport configured
(``AIRFLOW__OPENLINEAGE__TRANSPORT``): the provider reads its configuration and registers its
listener once per process, so a run in this one would depend on what ran before. Every supported
Airflow's ``dag.test()`` calls the task listeners: Airflow 3 through the task runner's ``run`` and
``finalize`` (``InProcessTestSupervisor``), Airflow 2.11 through ``TaskInstance._run_raw_task`` and
``handle_failure`` (``dag.test()`` does not set ``test_mode``, which alone would skip the success
event). The events parsed here are the ones the provider wrote.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.hooks.hailuo import HailuoHook
from tests.airflow_versions import EVERY_AIRFLOW
from tests.integration.support import REPO

FRAME = REPO / "dags_examples" / "images" / "lighthouse.jpg"
SIGNED_FRAME = "https://cdn.example.com/stills/end.png?X-Amz-Signature=s3cr3t&X-Amz-Expires=600"
FACET_SCHEMA = json.loads((REPO / "docs" / "openlineage" / "HailuoRunFacet.json").read_text())

# Loads a DAG as Airflow's parser would and runs it; writes each task's state and the OpenLineage
# modules loaded to a file (stdout is Airflow's log, and the provider's forked emitters share it). ``{refuse}`` names distributions to hide as if they
# were not installed: their metadata (so no provider or plugin entry point) and their modules.
_RUN_DAG = """
import importlib.abc, importlib.machinery, json, re, sys

REFUSED = {refuse!r}
MODULES = ("openlineage", "airflow.providers.openlineage")

def _name(distribution):
    return re.sub(r"[-_.]+", "-", distribution.metadata["Name"]).lower()

if REFUSED:
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == module or name.startswith(module + ".") for module in MODULES):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    import importlib_metadata  # Airflow reads entry points through it; it adds a finder of its own
    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions"):
            def find_distributions(*args, _original=finder.find_distributions, **kwargs):
                return (d for d in _original(*args, **kwargs) if _name(d) not in REFUSED)
            finder.find_distributions = find_distributions

from tests.integration.support import load_dag

dag = load_dag("tests", {module!r}, {dag_id!r})
run = dag.test(run_conf={conf!r})
states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
loaded = sorted(name for name in sys.modules if any(name == m or name.startswith(m + ".") for m in MODULES))
with open({output!r}, "w") as output:
    json.dump([states, loaded], output)
"""


def run_dag(
    module: str,
    dag_id: str,
    conf: dict[str, Any],
    workdir: Path,
    *,
    refuse: tuple[str, ...] = (),
    frames: dict[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Run ``dag_id`` in a fresh interpreter: its task states and the OpenLineage modules it loaded.

    The events go to ``workdir / "events.jsonl"``; ``refuse`` hides distributions (see ``_RUN_DAG``);
    ``frames`` sets the lineage DAGs' frames from the environment (see tests/dags/hailuo_lineage_dags.py).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), **(frames or {})}
    transport = {"type": "file", "log_file_path": str(workdir / "events.jsonl"), "append": True}
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
    output = workdir / "result.json"
    script = _RUN_DAG.format(refuse=refuse, module=module, dag_id=dag_id, conf=conf, output=str(output))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-4000:]
    states, loaded = json.loads(output.read_text())
    return states, loaded


def task_events(events: Path, job: str) -> list[dict[str, Any]]:
    """The run events of one task (OpenLineage names a task's job ``<dag_id>.<task_id>``)."""
    parsed = [json.loads(line) for line in events.read_text().splitlines()]
    return [event for event in parsed if event["job"]["name"] == job]


def names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(dataset["namespace"], dataset["name"]) for dataset in datasets]


def check_facet(facet: dict[str, Any]) -> None:
    """The facet is what docs/openlineage/HailuoRunFacet.json says, with the client's base fields."""
    import jsonschema

    definition = FACET_SCHEMA["$defs"]["HailuoRunFacet"]
    assert definition["allOf"][0]["$ref"].endswith("#/$defs/RunFacet")
    own = definition["allOf"][1]
    assert set(facet) - set(own["properties"]) == {"_producer", "_schemaURL"}
    assert facet["_schemaURL"].endswith("/HailuoRunFacet.json#/$defs/HailuoRunFacet")
    assert facet["_producer"].startswith("https://")
    jsonschema.validate({k: v for k, v in facet.items() if not k.startswith("_")}, own)


def last_event(events: Path, job: str, kinds: list[str]) -> dict[str, Any]:
    """The task's final event, after checking the sequence of event types it emitted."""
    emitted = task_events(events, job)
    assert [event["eventType"] for event in emitted] == kinds
    return emitted[-1]


# On the older Airflow lines one scenario per path through Airflow's listeners (a success after a
# deferral, a failure in the worker, the sensor) and the absent package; the other variants differ
# in the provider's own naming, the same on every line.
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    ("download", "mode"),
    [
        pytest.param(True, "deferrable", id="download_to-deferrable", marks=EVERY_AIRFLOW),
        pytest.param(True, "sync", id="download_to-sync"),
        pytest.param(False, "deferrable", id="gateway_url-deferrable"),
        pytest.param(False, "sync", id="gateway_url-sync"),
    ],
)
def test_a_video_reports_its_frames_its_video_and_the_gateway_facts(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path, mode: str, download: bool
) -> None:
    events = tmp_path / "events.jsonl"
    conf = {"frame": str(FRAME), "download_to": f"{tmp_path}/videos/" if download else ""}
    frames = {"HAILUO_LINEAGE_LAST_FRAME": SIGNED_FRAME}
    states, _ = run_dag("hailuo_lineage_dags", f"hailuo_lineage_video_{mode}", conf, tmp_path, frames=frames)
    assert states == {"video": "success"}

    # A deferred task starts twice (before and after the deferral) and completes once, from the
    # process that ran execute_complete.
    starts = ["START", "START"] if mode == "deferrable" else ["START"]
    event = last_event(events, f"hailuo_lineage_video_{mode}.video", [*starts, "COMPLETE"])
    (gateway_task,) = hailuo_emulator.client.tasks()
    assert names(event["inputs"]) == [("file", str(FRAME)), ("https://cdn.example.com", "/stills/end.png")]
    if download:
        expected = tmp_path / "videos" / f"{gateway_task['id']}.mp4"
        assert expected.is_file()
        assert names(event["outputs"]) == [("file", str(expected))]
        # The file's proof: its size as OpenLineage's output statistics, its SHA-256 in the facet.
        written = expected.read_bytes()
        (output,) = event["outputs"]
        assert output["outputFacets"]["outputStatistics"]["size"] == len(written)
        hailuo = event["run"]["facets"]["hailuo"]
        assert (hailuo["videoSizeBytes"], hailuo["videoSha256"]) == (
            len(written),
            hashlib.sha256(written).hexdigest(),
        )
    else:
        ((namespace, name),) = names(event["outputs"])
        assert namespace == hailuo_emulator.url  # http://127.0.0.1:PORT
        assert name.startswith("/cdn/")  # the path, as signed
        assert name.endswith("output.mp4")
        assert "?" not in name
    facet = event["run"]["facets"]["hailuo"]
    check_facet(facet)
    assert facet["hailuoTaskId"] == gateway_task["id"]
    assert facet["status"] == "completed"
    assert facet["model"] == "minimax_hailuo_02_i2v"
    assert (facet["durationSeconds"], facet["resolution"]) == (6, "768P")
    assert facet["promptLength"] == len("A lighthouse [push in]")
    assert Decimal(facet["cost"]) == Decimal(gateway_task["cost"])
    assert Decimal(facet["discount"]) == 0
    # The emulator starts rendering at once: queued 0 s, then rendering until completed_at.
    assert facet["queuedSeconds"] == 0
    assert facet["renderingSeconds"] > 0
    assert "errorCode" not in facet
    written = events.read_text()
    for secret in (hailuo_emulator.api_key, "X-Amz-Signature", "s3cr3t", "Signature=", "Expires="):
        assert secret not in written


@pytest.mark.usefixtures("airflow_db")
def test_a_text_to_video_task_has_no_input_and_reports_its_video_and_model(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    states, _ = run_dag("hailuo_lineage_dags", "hailuo_lineage_text", {}, tmp_path)
    assert states == {"video": "success"}
    event = last_event(events, "hailuo_lineage_text.video", ["START", "START", "COMPLETE"])
    (gateway_task,) = hailuo_emulator.client.tasks()
    assert event["inputs"] == []
    ((namespace, name),) = names(event["outputs"])
    assert (namespace, name.endswith("output.mp4")) == (hailuo_emulator.url, True)
    facet = event["run"]["facets"]["hailuo"]
    check_facet(facet)
    assert (facet["model"], facet["durationSeconds"]) == ("minimax_hailuo_23_t2v", 10)
    assert Decimal(facet["cost"]) == Decimal(gateway_task["cost"])


@pytest.mark.usefixtures("airflow_db")
def test_a_data_url_frame_is_no_dataset_and_never_in_an_event(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    encoded = base64.b64encode(FRAME.read_bytes()).decode()
    frames = {"HAILUO_LINEAGE_FRAME": f"data:image/jpeg;base64,{encoded}"}
    states, _ = run_dag(
        "hailuo_lineage_dags", "hailuo_lineage_video_sync", {"download_to": ""}, tmp_path, frames=frames
    )
    assert states == {"video": "success"}
    event = last_event(events, "hailuo_lineage_video_sync.video", ["START", "COMPLETE"])
    assert event["inputs"] == []
    assert len(event["outputs"]) == 1
    written = events.read_text()
    assert "base64" not in written
    assert encoded[:64] not in written


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", pytest.param("sync", marks=EVERY_AIRFLOW)])
def test_a_failed_gateway_task_reports_its_code_and_message(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code="010004097", error_message="upstream said no")
    events = tmp_path / "events.jsonl"
    conf = {"frame": str(FRAME), "download_to": ""}
    states, _ = run_dag("hailuo_lineage_dags", f"hailuo_lineage_video_{mode}", conf, tmp_path)
    assert states == {"video": "failed"}
    starts = ["START", "START"] if mode == "deferrable" else ["START"]
    event = last_event(events, f"hailuo_lineage_video_{mode}.video", [*starts, "FAIL"])
    (gateway_task,) = hailuo_emulator.client.tasks()
    assert names(event["inputs"]) == [("file", str(FRAME))]
    assert event["outputs"] == []
    facet = event["run"]["facets"]["hailuo"]
    check_facet(facet)
    assert facet["hailuoTaskId"] == gateway_task["id"]
    assert (facet["status"], facet["errorCode"], facet["errorMessage"]) == (
        "failed",
        "010004097",
        "upstream said no",
    )
    assert "cost" not in facet


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", [pytest.param("deferrable", marks=EVERY_AIRFLOW), "poke"])
def test_the_sensor_reports_the_video_it_waited_for(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    task_id = HailuoHook(fast_connection).submit(GenerationRequest(first_frame_image=FRAME, duration=10))
    events = tmp_path / "events.jsonl"
    dag_id = f"hailuo_test_sensor_{mode}"
    states, _ = run_dag("hailuo_test_dags", dag_id, {"hailuo_task_id": task_id}, tmp_path)
    assert states == {"wait": "success"}
    final = task_events(events, f"{dag_id}.wait")[-1]
    assert final["eventType"] == "COMPLETE"
    assert final["inputs"] == []  # the sensor knows no frames
    ((namespace, name),) = names(final["outputs"])
    assert (namespace, name.endswith("output.mp4")) == (hailuo_emulator.url, True)
    facet = final["run"]["facets"]["hailuo"]
    check_facet(facet)
    assert (facet["hailuoTaskId"], facet["status"], facet["cost"]) == (task_id, "completed", "0.56")
    assert "durationSeconds" not in facet  # the result does not say; the sensor never saw the request
    assert "promptLength" not in facet


@pytest.mark.usefixtures("airflow_db")
def test_the_sensor_reports_a_failed_gateway_task(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    hailuo_emulator.client.add_fault("task_failure", error_code="010004096", error_message="could not parse")
    task_id = HailuoHook(fast_connection).submit(GenerationRequest(first_frame_image=FRAME))
    events = tmp_path / "events.jsonl"
    states, _ = run_dag(
        "hailuo_test_dags", "hailuo_test_sensor_deferrable", {"hailuo_task_id": task_id}, tmp_path
    )
    assert states == {"wait": "failed"}
    final = task_events(events, "hailuo_test_sensor_deferrable.wait")[-1]
    assert final["eventType"] == "FAIL"
    facet = final["run"]["facets"]["hailuo"]
    assert (facet["hailuoTaskId"], facet["errorCode"], facet["errorMessage"]) == (
        task_id,
        "010004096",
        "could not parse",
    )


@EVERY_AIRFLOW
@pytest.mark.usefixtures("airflow_db")
def test_without_the_openlineage_package_nothing_changes_and_nothing_is_imported(
    fast_connection: str, hailuo_emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Configured for OpenLineage, but without its packages: as a deployment that dropped the extra.
    conf = {"frame": str(FRAME), "download_to": ""}
    states, loaded = run_dag(
        "hailuo_lineage_dags",
        "hailuo_lineage_video_deferrable",
        conf,
        tmp_path,
        refuse=(
            "apache-airflow-providers-openlineage",
            "openlineage-python",
            "openlineage-integration-common",
            "openlineage-sql",
        ),
    )
    assert states == {"video": "success"}
    assert loaded == []
    assert not (tmp_path / "events.jsonl").exists()
    assert hailuo_emulator.client.stats()["create"] == 1
