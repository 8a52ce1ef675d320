"""The Hailuo family through the operators: every model of the table creates, is resumed by a
retry instead of paying twice, and delivers, in a real Airflow run (every line of the matrix); a
model a task cannot use fails it before anything is paid."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hailuo.emulator import EmulatorServer
from airflow_provider_hailuo.exceptions import HailuoError, HailuoValidationError
from airflow_provider_hailuo.gateway.models import MODELS, Kind
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator, HailuoTextToVideoOperator
from tests.airflow_versions import EVERY_AIRFLOW
from tests.dags.hailuo_family_dags import FRAME
from tests.integration.support import RESULT_KEYS, RecordingTaskInstance, StandInStateStore, load_dag

pytestmark = EVERY_AIRFLOW


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("model", list(MODELS))
def test_each_model_makes_resumes_and_delivers_its_video(
    fast_connection: str, hailuo_emulator: EmulatorServer, model: str
) -> None:
    dag = load_dag("tests", "hailuo_family_dags", f"hailuo_test_family_{model}")
    # Try 1 creates, then its first poll is refused: the retry must resume, not pay again.
    hailuo_emulator.client.add_fault("status", target="poll", http_status=401)
    dag_run = dag.test()
    (ti,) = dag_run.get_task_instances()
    assert (str(ti.state), ti.try_number) == ("success", 2)
    (task,) = hailuo_emulator.client.tasks()
    assert hailuo_emulator.client.stats()["create"] == 1
    result: dict[str, Any] = ti.xcom_pull(task_ids="video")
    assert set(result) >= RESULT_KEYS
    assert (result["hailuo_task_id"], result["model"], result["status"]) == (task["id"], model, "completed")
    if MODELS[model].kind is Kind.TEXT_TO_VIDEO:
        assert set(task["params"]) == {"prompt", "resolution"}
    else:
        assert task["params"]["duration"] == 10


def run(operator: HailuoImageToVideoOperator | HailuoTextToVideoOperator) -> Any:
    return operator.execute({"ti": RecordingTaskInstance(), "task_state_store": StandInStateStore()})


@pytest.mark.parametrize(
    ("kwargs", "parameter", "match"),
    [
        (
            {"model": "minimax_hailuo_23_fast_i2v", "last_frame_image": FRAME},
            "last_frame_image",
            "has no last frame",
        ),
        (
            {"model": "minimax_hailuo_23_i2v", "resolution": "512P"},
            "resolution",
            "512P at 6 s is minimax_hailuo_02_i2v only",
        ),
        ({"fast_pretreatment": True}, "fast_pretreatment", "not a parameter of minimax_hailuo_02_i2v"),
        ({"model": "minimax_hailuo_23_t2v"}, "model", "is text to video; this operator makes image to video"),
        ({"model": "minimax_hailuo_2_3_i2v"}, "model", "is not a Hailuo model this provider knows"),
    ],
)
def test_a_literal_the_model_does_not_take_breaks_the_dag_import(
    kwargs: dict[str, Any], parameter: str, match: str
) -> None:
    with pytest.raises(HailuoValidationError, match=match) as info:
        HailuoImageToVideoOperator(task_id="video", first_frame_image=FRAME, **kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter", "match"),
    [
        ({"prompt": ""}, "prompt", "prompt is required"),
        ({"prompt": "A lighthouse", "model": "minimax_hailuo_02_i2v"}, "model", "is image to video"),
        (
            {
                "prompt": "A lighthouse",
                "model": "minimax_hailuo_02_t2v",
                "callback_url": "https://x.example/cb",
            },
            "callback_url",
            "not a parameter",
        ),
        (
            {"prompt": "A lighthouse", "duration": 10, "resolution": "1080P"},
            "resolution",
            "10 s videos are 768P only",
        ),
    ],
)
def test_the_text_operator_refuses_what_its_model_does_not_take(
    kwargs: dict[str, Any], parameter: str, match: str
) -> None:
    with pytest.raises(HailuoValidationError, match=match) as info:
        HailuoTextToVideoOperator(task_id="video", **kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("operator", "parameter"),
    [
        (
            lambda: HailuoImageToVideoOperator(
                task_id="v", first_frame_image=FRAME, model="{{ 'minimax_hailuo_23_t2v' }}"
            ),
            "model",
        ),
        (
            lambda: HailuoImageToVideoOperator(
                task_id="v",
                first_frame_image=FRAME,
                model="minimax_hailuo_23_fast_i2v",
                resolution="{{ '512P' }}",
            ),
            "resolution",
        ),
        (lambda: HailuoTextToVideoOperator(task_id="v", prompt="{{ '' }}"), "prompt"),
    ],
    ids=["t2v-model-on-image-operator", "512P-on-2.3-fast", "empty-prompt"],
)
def test_a_rendered_value_the_model_does_not_take_fails_and_sends_nothing(
    fast_connection: str, hailuo_emulator: EmulatorServer, operator: Any, parameter: str
) -> None:
    task = operator()
    task.render_template_fields({})
    with pytest.raises(HailuoValidationError) as info:
        run(task)
    assert info.value.parameter == parameter
    assert hailuo_emulator.client.stats()["create"] == 0


def test_a_model_not_enabled_for_the_account_fails_clearly_and_pays_nothing(
    fast_connection: str, hailuo_emulator: EmulatorServer
) -> None:
    hailuo_emulator.client.configure(enabled_models=["minimax_hailuo_02_i2v"])
    task = HailuoImageToVideoOperator(
        task_id="v",
        first_frame_image=FRAME,
        model="minimax_hailuo_23_fast_i2v",
        poll_interval=0.05,
        timeout=30,
    )
    with pytest.raises(HailuoError, match="minimax_hailuo_23_fast_i2v' is not available for this API key"):
        run(task)
    assert hailuo_emulator.client.stats()["tasks_created"] == 0


def test_a_templated_model_accepts_the_literals_one_model_of_its_kind_takes() -> None:
    # fast_pretreatment is Hailuo 2.3's, not Hailuo 02's (the default): the model may be 2.3.
    HailuoImageToVideoOperator(
        task_id="video", first_frame_image=FRAME, model="{{ params.model }}", fast_pretreatment=True
    )
    # No image model takes both a last frame and fast_pretreatment: refused as the default's refusal.
    with pytest.raises(HailuoValidationError) as info:
        HailuoImageToVideoOperator(
            task_id="video",
            first_frame_image=FRAME,
            last_frame_image=FRAME,
            model="{{ params.model }}",
            fast_pretreatment=True,
        )
    assert info.value.parameter == "fast_pretreatment"


def test_the_text_operator_maps_over_prompts_and_refuses_frames() -> None:
    from airflow.providers.common.compat.sdk import DAG

    with DAG(dag_id="mapped_text", schedule=None):
        mapped = HailuoTextToVideoOperator.partial(task_id="video", model="minimax_hailuo_02_t2v").expand(
            prompt=["A lighthouse", "A harbour at dawn [pan left]"]
        )
    assert mapped.partial_kwargs["model"] == "minimax_hailuo_02_t2v"
    with pytest.raises(TypeError, match="first_frame_image"), DAG(dag_id="mapped_text_frames", schedule=None):
        HailuoTextToVideoOperator.partial(task_id="video").expand(first_frame_image=[FRAME])
