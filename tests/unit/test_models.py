"""Every rule of every Hailuo model, accepted at its boundary and refused beyond it.

The expectations below are written by hand from the model pages (docs/models.md), not read from
the code's table: a wrong row in ``gateway/models.py`` fails here.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.models import MODELS, Kind
from airflow_provider_hailuo.gateway.params import GenerationRequest

IMAGE = "https://example.com/first.png"
LAST = "https://example.com/last.png"
SHARED = {"prompt", "prompt_optimizer", "duration", "resolution", "aigc_watermark"}
HAILUO_23 = {6: {"768P", "1080P"}, 10: {"768P"}}

# model -> (kind, takes a last frame, prompt required, one-frame table, two-frame table, options)
SPEC: dict[str, tuple[str, bool, bool, dict[int, set[str]], dict[int, set[str]], set[str]]] = {
    "minimax_hailuo_02_i2v": (
        "i2v",
        True,
        False,
        {6: {"512P", "768P", "1080P"}, 10: {"512P", "768P"}},
        {6: {"768P", "1080P"}, 10: {"768P"}},
        SHARED | {"callback_url"},
    ),
    "minimax_hailuo_23_i2v": ("i2v", False, False, HAILUO_23, {}, SHARED | {"fast_pretreatment"}),
    "minimax_hailuo_23_fast_i2v": ("i2v", False, False, HAILUO_23, {}, SHARED | {"fast_pretreatment"}),
    "minimax_hailuo_23_t2v": (
        "t2v",
        False,
        True,
        HAILUO_23,
        {},
        SHARED | {"fast_pretreatment", "callback_url"},
    ),
    "minimax_hailuo_02_t2v": ("t2v", False, True, HAILUO_23, {}, SHARED | {"fast_pretreatment"}),
}
OPTION_VALUES: dict[str, Any] = {
    "prompt": "A lighthouse at dusk [push in]",
    "prompt_optimizer": False,
    "duration": 10,
    "resolution": "768P",
    "aigc_watermark": True,
    "fast_pretreatment": True,
    "callback_url": "https://example.com/cb",
}


def base(model: str) -> dict[str, Any]:
    """The least a model's request needs: a first frame (image to video) or a prompt (text)."""
    kind = SPEC[model][0]
    return (
        {"model": model, "first_frame_image": IMAGE}
        if kind == "i2v"
        else {"model": model, "prompt": "A lighthouse"}
    )


def refusal(**kwargs: Any) -> HailuoValidationError:
    with pytest.raises(HailuoValidationError) as info:
        GenerationRequest(**kwargs).validate()
    return info.value


def test_the_table_holds_the_models_of_the_spec() -> None:
    assert set(MODELS) == set(SPEC)
    for model, (kind, takes_last, prompt_required, *_) in SPEC.items():
        rules = MODELS[model]
        assert rules.kind is (Kind.IMAGE_TO_VIDEO if kind == "i2v" else Kind.TEXT_TO_VIDEO)
        assert rules.takes_last_frame is takes_last
        assert rules.prompt_required is prompt_required


CASES = [
    (model, frames, duration, resolution)
    for model in SPEC
    for frames in (0, 1, 2)
    for duration, resolution in itertools.product((None, 6, 10), (None, "512P", "768P", "1080P"))
]


@pytest.mark.parametrize(("model", "frames", "duration", "resolution"), CASES, ids=str)
def test_every_frames_duration_and_resolution_is_accepted_exactly_where_the_spec_allows(
    model: str, frames: int, duration: int | None, resolution: str | None
) -> None:
    kind, takes_last, _, one, two, _ = SPEC[model]
    request: dict[str, Any] = {"model": model, "prompt": "A lighthouse"}
    if frames >= 1:
        request["first_frame_image"] = IMAGE
    if frames == 2:
        request["last_frame_image"] = LAST
    request.update({"duration": duration, "resolution": resolution})
    frames_allowed = (kind == "t2v" and frames == 0) or (
        kind == "i2v" and (frames == 1 or (frames == 2 and takes_last))
    )
    table = two if frames == 2 else one
    pair_allowed = (resolution or "768P") in table.get(duration or 6, set())
    if frames_allowed and pair_allowed:
        assert GenerationRequest(**request).validate() == []
        return
    error = refusal(**request)
    if not frames_allowed:
        assert error.parameter in ("first_frame_image", "last_frame_image")
    else:
        assert error.parameter in ("resolution", "duration")
        assert f"{duration or 6} s videos are" in str(error)


@pytest.mark.parametrize(("model", "option"), [(m, o) for m in SPEC for o in OPTION_VALUES], ids=str)
def test_each_optional_parameter_is_taken_exactly_by_the_models_that_list_it(model: str, option: str) -> None:
    request = {**base(model), option: OPTION_VALUES[option]}
    if option in SPEC[model][5]:
        assert GenerationRequest(**request).validate() == []
        return
    error = refusal(**request)
    assert error.parameter == option
    assert f"{option} is not a parameter of {model}" in str(error)
    # The message names the models of the same kind that do take it.
    kind = SPEC[model][0]
    assert all(other in str(error) for other, spec in SPEC.items() if option in spec[5] and spec[0] == kind)


@pytest.mark.parametrize("model", [m for m, spec in SPEC.items() if spec[0] == "i2v" and not spec[1]])
def test_a_model_without_a_last_frame_refuses_one_naming_the_model_that_has_it(model: str) -> None:
    error = refusal(**base(model), last_frame_image=LAST)
    assert error.parameter == "last_frame_image"
    assert f"{model}" in str(error)
    assert "has no last frame" in str(error)
    assert "minimax_hailuo_02_i2v" in str(error)


@pytest.mark.parametrize("model", [m for m, spec in SPEC.items() if spec[0] == "t2v"])
def test_text_to_video_takes_no_frame_and_needs_a_prompt(model: str) -> None:
    error = refusal(model=model, prompt="A lighthouse", first_frame_image=IMAGE)
    assert error.parameter == "first_frame_image"
    assert "takes no frame" in str(error)
    for prompt in (None, "", "   "):
        error = refusal(model=model, prompt=prompt)
        assert error.parameter == "prompt"
        assert "prompt is required" in str(error)
    assert GenerationRequest(model=model, prompt="x" * 2000).validate() == []
    assert refusal(model=model, prompt="x" * 2001).parameter == "prompt"


@pytest.mark.parametrize("model", [m for m, spec in SPEC.items() if spec[0] == "i2v"])
def test_image_to_video_needs_a_first_frame_and_not_a_prompt(model: str) -> None:
    assert refusal(model=model, prompt="A lighthouse").parameter == "first_frame_image"
    assert GenerationRequest(model=model, first_frame_image=IMAGE).validate() == []


def test_512p_on_hailuo_23_says_where_it_is_rendered() -> None:
    error = refusal(model="minimax_hailuo_23_fast_i2v", first_frame_image=IMAGE, resolution="512P")
    assert error.parameter == "resolution"
    assert "6 s videos are 768P or 1080P only" in str(error)
    assert "512P at 6 s is minimax_hailuo_02_i2v only" in str(error)


def test_an_unknown_model_suggests_the_nearest() -> None:
    error = refusal(model="minimax_hailuo_23_fast", first_frame_image=IMAGE)
    assert error.parameter == "model"
    assert "did you mean 'minimax_hailuo_23_fast_i2v'?" in str(error)


# --- the provider and the emulator agree on the whole table -----------------------------------

AGREEMENT_VALUES: dict[str, tuple[Any, ...]] = {
    "duration": (None, 6, 10, 7, "6", True),
    "resolution": (None, "512P", "768P", "1080P", "768p", 768),
    "prompt": (None, "", "  ", "A lighthouse [push in]", "[spin]", "x" * 2001),
    "prompt_optimizer": (None, True, "true"),
    "aigc_watermark": (None, False, 0),
    "fast_pretreatment": (None, True, 1),
    "callback_url": (None, "https://example.com/cb", "ftp://example.com/cb"),
}


def agreement_cases() -> list[dict[str, Any]]:
    cases = []
    for model in MODELS:
        for frames in (0, 1, 2):
            frame_params = {"first_frame_image": IMAGE} if frames else {}
            if frames == 2:
                frame_params["last_frame_image"] = LAST
            for duration, resolution in itertools.product(
                AGREEMENT_VALUES["duration"], AGREEMENT_VALUES["resolution"]
            ):
                cases.append(
                    {
                        "model": model,
                        **frame_params,
                        "prompt": "A lighthouse",
                        "duration": duration,
                        "resolution": resolution,
                    }
                )
            for name, values in AGREEMENT_VALUES.items():
                if name in ("duration", "resolution"):
                    continue
                for value in values:
                    cases.append({"model": model, **frame_params, "prompt": "A lighthouse", name: value})
    return cases


def test_what_the_provider_allows_the_emulator_accepts_and_what_it_refuses_the_emulator_refuses() -> None:
    from airflow_provider_hailuo.emulator.rules import Refused, check_create

    disagreements = []
    for case in agreement_cases():
        request = {name: value for name, value in case.items() if value is not None}
        try:
            GenerationRequest(**request).validate()
            provider = True
        except HailuoValidationError:
            provider = False
        model = request.pop("model")
        try:
            check_create(model, request)
            emulator = True
        except Refused:
            emulator = False
        if provider != emulator:
            disagreements.append((case, provider, emulator))
    assert disagreements == [], disagreements[:10]
    assert len(agreement_cases()) > 500


def test_a_resolution_no_model_renders_lists_the_models_own() -> None:
    error = refusal(model="minimax_hailuo_23_t2v", prompt="A lighthouse", resolution="720P")
    assert error.parameter == "resolution"
    assert "must be '768P' or '1080P'" in str(error)


def test_fast_pretreatment_without_the_prompt_optimizer_is_warned_about() -> None:
    request = GenerationRequest(
        model="minimax_hailuo_23_i2v", first_frame_image=IMAGE, fast_pretreatment=True, prompt_optimizer=False
    )
    (warning,) = request.validate()
    assert "fast_pretreatment=True has no effect with prompt_optimizer=False" in warning


def test_an_operator_of_one_kind_suggests_and_names_models_of_its_kind() -> None:
    from airflow_provider_hailuo.gateway.params import check_model

    with pytest.raises(HailuoValidationError) as info:
        check_model("minimax_hailuo_02_t2", Kind.IMAGE_TO_VIDEO)
    assert "did you mean 'minimax_hailuo_02_i2v'?" in str(info.value)
    assert "t2v" not in str(info.value).split("Known:")[1]
    error = refusal(model="minimax_hailuo_02_t2v", prompt="A lighthouse", callback_url="https://x.example/cb")
    assert "minimax_hailuo_23_t2v takes it" in str(error)
    assert "i2v" not in str(error)
