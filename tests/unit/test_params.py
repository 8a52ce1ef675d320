"""Every rule of the seed page on the generation parameters, each accepted and refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.params import (
    BOOL_PARAMETERS,
    CAMERA_INSTRUCTIONS,
    DEFAULT_MODEL,
    MAX_PROMPT_LENGTH,
    MODELS,
    GenerationRequest,
    check_callback_url,
    check_duration,
    check_duration_resolution,
    check_prompt,
    check_resolution,
    parse_camera_instructions,
    suggest_camera_instruction,
)

IMAGE = "https://example.com/first.png"
LAST = "https://example.com/last.png"


def request(**kwargs: Any) -> GenerationRequest:
    kwargs.setdefault("first_frame_image", IMAGE)
    return GenerationRequest(**kwargs)


def refused(parameter: str, match: str, **kwargs: Any) -> HailuoValidationError:
    """Validate a request that must be refused; check the parameter named and the message."""
    with pytest.raises(HailuoValidationError, match=match) as info:
        request(**kwargs).validate()
    assert info.value.parameter == parameter
    return info.value


# --- first_frame_image -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_first_frame_image_is_required(value: Any) -> None:
    refused("first_frame_image", "first_frame_image is required", first_frame_image=value)


@pytest.mark.parametrize("value", [IMAGE, "data:image/png;base64,AAAA", "/tmp/frame.png", b"bytes"])
def test_first_frame_image_any_source_passes_parameter_validation(value: Any) -> None:
    assert request(first_frame_image=value).validate() == []


def test_minimal_request_is_valid_and_has_no_warnings() -> None:
    assert GenerationRequest(first_frame_image=IMAGE).validate() == []


# --- prompt ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", [123, 1.5, b"a lighthouse", ["a lighthouse"], {"text": "x"}, True])
def test_prompt_must_be_a_string(prompt: Any) -> None:
    refused("prompt", "prompt must be a string", prompt=prompt)


@pytest.mark.parametrize("length", [0, 1, 1999, MAX_PROMPT_LENGTH])
def test_prompt_up_to_2000_characters_is_accepted(length: int) -> None:
    assert MAX_PROMPT_LENGTH == 2000
    assert request(prompt="a" * length).validate() == []


@pytest.mark.parametrize("length", [MAX_PROMPT_LENGTH + 1, 5000])
def test_prompt_over_2000_characters_is_refused(length: int) -> None:
    refused("prompt", f"prompt has {length} characters: at most 2000", prompt="a" * length)


def test_prompt_length_counts_characters_not_bytes() -> None:
    # 2000 non-ASCII characters are 6000 UTF-8 bytes: still within the limit.
    assert request(prompt="灯" * 2000).validate() == []


def test_there_are_exactly_15_camera_instructions() -> None:
    assert len(CAMERA_INSTRUCTIONS) == 15
    assert len(set(CAMERA_INSTRUCTIONS)) == 15


@pytest.mark.parametrize("instruction", CAMERA_INSTRUCTIONS)
def test_each_camera_instruction_is_accepted_alone(instruction: str) -> None:
    assert request(prompt=f"A lighthouse at dusk [{instruction}]").validate() == []


@pytest.mark.parametrize(
    "prompt",
    [
        "[tilt left, rise]",
        "A boat [pan left,pan right]",
        "[ zoom in ,  shake ]",
        "[push in, pull back, static]",
    ],
)
def test_combined_instructions_in_one_bracket_are_accepted(prompt: str) -> None:
    assert request(prompt=prompt).validate() == []


def test_sequential_instructions_are_accepted_and_parsed_in_order() -> None:
    prompt = "A lighthouse [push in], then a wave [pull back], finally [tilt left, rise]"
    assert request(prompt=prompt).validate() == []
    assert parse_camera_instructions(prompt) == [["push in"], ["pull back"], ["tilt left", "rise"]]


def test_prompt_without_brackets_is_natural_language_and_accepted() -> None:
    assert request(prompt="The camera slowly pans left over the sea").validate() == []


@pytest.mark.parametrize(
    ("prompt", "shown", "suggestion"),
    [
        ("[pan lft]", "[pan lft]", "pan left"),
        ("[zoom]", "[zoom]", "zoom "),
        ("[Pan Left]", "[Pan Left]", "pan left"),
        ("[push]", "[push]", "push in"),
        ("[pull bak]", "[pull bak]", "pull back"),
        ("[tilt up, shak]", "[shak]", "shake"),
        ("[static] then [folow]", "[folow]", "follow"),
    ],
)
def test_unknown_instruction_is_refused_with_nearest_suggestion(
    prompt: str, shown: str, suggestion: str
) -> None:
    error = refused("prompt", f"unknown camera instruction {re.escape(shown)}", prompt=prompt)
    assert re.search(rf"did you mean \[{re.escape(suggestion)}", str(error))
    # The message also lists the valid instructions.
    assert all(instruction in str(error) for instruction in CAMERA_INSTRUCTIONS)


def test_zoom_is_suggested_a_zoom_instruction() -> None:
    assert suggest_camera_instruction("zoom") in ("zoom in", "zoom out")


@pytest.mark.parametrize(
    ("word", "expected"), [("pan lft", "pan left"), ("ZOOM OUT", "zoom out"), ("rize", "rise")]
)
def test_suggest_camera_instruction_finds_nearest(word: str, expected: str) -> None:
    assert suggest_camera_instruction(word) == expected


@pytest.mark.parametrize("word", ["", "xyz", "   "])
def test_suggest_camera_instruction_always_returns_a_valid_one(word: str) -> None:
    assert suggest_camera_instruction(word) in CAMERA_INSTRUCTIONS


@pytest.mark.parametrize("prompt", ["A boat []", "[ ]", "[pan left,]", "[, rise]"])
def test_empty_instruction_is_refused(prompt: str) -> None:
    refused("prompt", r"unknown camera instruction \[\] \(empty\)", prompt=prompt)


def test_four_instructions_in_one_bracket_warn_but_are_not_refused() -> None:
    warnings = request(prompt="[pan left, rise, zoom in, shake]").validate()
    assert len(warnings) == 1
    assert "combines 4 camera instructions" in warnings[0]
    assert "no more than 3" in warnings[0]


def test_exactly_three_instructions_in_one_bracket_give_no_warning() -> None:
    assert request(prompt="[pan left, rise, zoom in]").validate() == []


def test_three_instructions_in_each_of_several_brackets_give_no_warning() -> None:
    assert request(prompt="[pan left, rise, zoom in] then [pan right, lower, zoom out]").validate() == []


def test_each_crowded_bracket_gives_its_own_warning() -> None:
    warnings = check_prompt(
        "[pan left, rise, zoom in, shake] and [static, follow, lower, tilt up, tilt down]"
    )
    assert len(warnings) == 2
    assert "combines 4" in warnings[0]
    assert "combines 5" in warnings[1]


def test_unknown_instruction_in_crowded_bracket_is_an_error_not_a_warning() -> None:
    refused("prompt", r"\[spin\]", prompt="[pan left, rise, zoom in, spin]")


# --- booleans ----------------------------------------------------------------------------------


def image_model_taking(parameter: str) -> str:
    """An image-to-video model that takes ``parameter`` (fast_pretreatment is not Hailuo 02's)."""
    return next(model for model, rules in MODELS.items() if rules.frames and rules.takes(parameter))


@pytest.mark.parametrize("parameter", BOOL_PARAMETERS)
@pytest.mark.parametrize("value", [True, False, None])
def test_bool_parameters_accept_true_false_and_unset(parameter: str, value: bool | None) -> None:
    assert request(model=image_model_taking(parameter), **{parameter: value}).validate() == []


@pytest.mark.parametrize("parameter", BOOL_PARAMETERS)
@pytest.mark.parametrize("value", [1, 0, "true", "false", "yes", "", 1.0, [True]])
def test_bool_parameters_must_be_bool_exactly(parameter: str, value: Any) -> None:
    model = image_model_taking(parameter)
    refused(parameter, f"{parameter} must be True or False", model=model, **{parameter: value})


def test_bool_parameters_are_the_three_documented_ones() -> None:
    assert set(BOOL_PARAMETERS) == {"prompt_optimizer", "aigc_watermark", "fast_pretreatment"}


# --- duration and resolution -------------------------------------------------------------------


@pytest.mark.parametrize("duration", [6, 10])
def test_duration_6_or_10_is_accepted(duration: int) -> None:
    assert request(duration=duration).validate() == []


@pytest.mark.parametrize("duration", [6.0, 10.0, "6", "10", True, False, [6]])
def test_duration_must_be_an_int(duration: Any) -> None:
    refused("duration", "duration must be an integer number of seconds", duration=duration)


@pytest.mark.parametrize("duration", [0, 5, 7, 8, 12, -6])
def test_duration_other_than_6_or_10_is_refused(duration: int) -> None:
    refused("duration", rf"duration={duration}: videos are 6 or 10 seconds long", duration=duration)


@pytest.mark.parametrize("resolution", ["512P", "768P", "1080P"])
def test_documented_resolutions_are_accepted(resolution: str) -> None:
    check_resolution(resolution)
    assert request(resolution=resolution, duration=6).validate() == []


@pytest.mark.parametrize(("resolution", "hint"), [("768p", "768P"), ("512p", "512P"), ("1080p", "1080P")])
def test_lowercase_resolution_is_refused_with_hint(resolution: str, hint: str) -> None:
    refused("resolution", rf"resolution='{resolution}'.*did you mean '{hint}'\?", resolution=resolution)


@pytest.mark.parametrize("resolution", ["720P", "4K", "", "768", "1080 P"])
def test_unknown_resolution_is_refused_without_hint(resolution: str) -> None:
    error = refused("resolution", "must be '512P', '768P' or '1080P'", resolution=resolution)
    assert "did you mean" not in str(error)


@pytest.mark.parametrize("resolution", [768, 1080.0, b"768P", ["768P"]])
def test_resolution_must_be_a_string(resolution: Any) -> None:
    refused("resolution", "resolution must be a string", resolution=resolution)


IMAGE_TO_VIDEO_TABLE = [
    (6, "512P", True),
    (6, "768P", True),
    (6, "1080P", True),
    (10, "512P", True),
    (10, "768P", True),
    (10, "1080P", False),
]
FIRST_AND_LAST_TABLE = [
    (6, "512P", False),
    (6, "768P", True),
    (6, "1080P", True),
    (10, "512P", False),
    (10, "768P", True),
    (10, "1080P", False),
]


@pytest.mark.parametrize(("duration", "resolution", "allowed"), IMAGE_TO_VIDEO_TABLE)
def test_image_to_video_duration_resolution_table(duration: int, resolution: str, allowed: bool) -> None:
    req = request(duration=duration, resolution=resolution)
    if allowed:
        assert req.validate() == []
    else:
        with pytest.raises(HailuoValidationError, match=f"duration={duration}") as info:
            req.validate()
        assert info.value.parameter == "resolution"


@pytest.mark.parametrize(("duration", "resolution", "allowed"), FIRST_AND_LAST_TABLE)
def test_first_and_last_frame_duration_resolution_table(
    duration: int, resolution: str, allowed: bool
) -> None:
    req = request(last_frame_image=LAST, duration=duration, resolution=resolution)
    if allowed:
        assert req.validate() == []
    else:
        with pytest.raises(HailuoValidationError, match="with first and last frame") as info:
            req.validate()
        assert info.value.parameter == "resolution"


@pytest.mark.parametrize(("duration", "resolution", "allowed"), IMAGE_TO_VIDEO_TABLE)
def test_check_duration_resolution_image_to_video(duration: int, resolution: str, allowed: bool) -> None:
    if allowed:
        check_duration_resolution(duration, resolution, first_and_last=False)
    else:
        with pytest.raises(HailuoValidationError):
            check_duration_resolution(duration, resolution, first_and_last=False)


@pytest.mark.parametrize(("duration", "resolution", "allowed"), FIRST_AND_LAST_TABLE)
def test_check_duration_resolution_first_and_last(duration: int, resolution: str, allowed: bool) -> None:
    if allowed:
        check_duration_resolution(duration, resolution, first_and_last=True)
    else:
        with pytest.raises(HailuoValidationError):
            check_duration_resolution(duration, resolution, first_and_last=True)


def test_ten_seconds_at_1080p_message_format() -> None:
    refused(
        "resolution",
        re.escape("duration=10 with resolution='1080P': 10 s videos are 512P or 768P only"),
        duration=10,
        resolution="1080P",
    )


def test_first_and_last_frame_512p_message_format() -> None:
    refused(
        "resolution",
        re.escape(
            "duration=6 with resolution='512P': with first and last frame, 6 s videos are 768P or 1080P only"
        ),
        last_frame_image=LAST,
        duration=6,
        resolution="512P",
    )


def test_first_and_last_frame_10s_message_says_768p_only() -> None:
    refused(
        "resolution",
        re.escape(
            "duration=10 with resolution='1080P': with first and last frame, 10 s videos are 768P only"
        ),
        last_frame_image=LAST,
        duration=10,
        resolution="1080P",
    )


def test_last_frame_with_512p_and_default_duration_is_refused() -> None:
    refused(
        "resolution",
        re.escape("duration (default 6) with resolution='512P'"),
        last_frame_image=LAST,
        resolution="512P",
    )


@pytest.mark.parametrize("last_frame_image", [None, LAST])
def test_ten_seconds_with_default_resolution_is_accepted(last_frame_image: str | None) -> None:
    assert request(last_frame_image=last_frame_image, duration=10).validate() == []


@pytest.mark.parametrize("last_frame_image", [None, LAST])
def test_1080p_with_default_duration_is_accepted(last_frame_image: str | None) -> None:
    assert request(last_frame_image=last_frame_image, resolution="1080P").validate() == []


def test_512p_with_default_duration_is_accepted_without_last_frame() -> None:
    assert request(resolution="512P").validate() == []


@pytest.mark.parametrize("duration", [6.0, "10", True])
def test_check_duration_alone_refuses_non_int(duration: Any) -> None:
    with pytest.raises(HailuoValidationError, match="integer") as info:
        check_duration(duration)
    assert info.value.parameter == "duration"


# --- callback_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/callback",
        "https://example.com/callback",
        "https://example.com:8443/hooks/hailuo?token=abc",
        "http://127.0.0.1:8080/",
        "HTTPS://EXAMPLE.COM/cb",
    ],
)
def test_http_and_https_callback_urls_are_accepted(url: str) -> None:
    check_callback_url(url)
    assert request(callback_url=url).validate() == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/callback",
        "not a url",
        "http://",
        "https://",
        "example.com/callback",
        "javascript:alert(1)",
        "http://exa mple.com/cb",
        "https://example.com:99999/cb",
        "",
    ],
)
def test_non_http_callback_urls_are_refused(url: str) -> None:
    refused("callback_url", "must be an http:// or https:// URL", callback_url=url)


@pytest.mark.parametrize("url", [123, b"https://example.com/cb", ["https://example.com/cb"]])
def test_callback_url_must_be_a_string(url: Any) -> None:
    refused("callback_url", "callback_url must be a string", callback_url=url)


# --- model -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["minimax_hailuo_02_i2v", "minimax_hailuo_23_i2v", "minimax_hailuo_23_fast_i2v"]
)
def test_each_image_model_is_accepted(model: str) -> None:
    assert request(model=model).validate() == []


@pytest.mark.parametrize(
    "model", ["minimax_hailuo_02_i2v_fast", "minimax_hailuo_03_i2v", "MINIMAX_HAILUO_02_I2V"]
)
def test_an_unknown_model_is_refused_naming_the_known_ones(model: str) -> None:
    error = refused("model", f"model={model!r} is not a Hailuo model this provider knows", model=model)
    assert all(known in str(error) for known in MODELS)


@pytest.mark.parametrize("model", ["", "   ", None, 123, ["minimax_hailuo_02_i2v"]])
def test_model_must_be_a_non_empty_string(model: Any) -> None:
    refused("model", "model must be a non-empty string", model=model)


def test_default_model_is_the_seed_model_id() -> None:
    assert DEFAULT_MODEL == "minimax_hailuo_02_i2v"
    assert GenerationRequest(first_frame_image=IMAGE).model == DEFAULT_MODEL


# --- options() ---------------------------------------------------------------------------------


def test_options_is_empty_when_nothing_is_set() -> None:
    assert GenerationRequest(first_frame_image=IMAGE).options() == {}


def test_options_holds_only_what_the_user_set() -> None:
    req = request(last_frame_image=LAST, prompt="[push in]", duration=10)
    assert req.options() == {"prompt": "[push in]", "duration": 10}


def test_options_keeps_false_values() -> None:
    req = request(prompt_optimizer=False, aigc_watermark=False, fast_pretreatment=False)
    assert req.options() == {"prompt_optimizer": False, "aigc_watermark": False, "fast_pretreatment": False}


def test_options_with_every_parameter_set() -> None:
    req = request(
        last_frame_image=LAST,
        prompt="p",
        prompt_optimizer=True,
        duration=6,
        resolution="768P",
        callback_url="https://example.com/cb",
        aigc_watermark=True,
        fast_pretreatment=True,
        model="other_model",
    )
    assert req.options() == {
        "prompt": "p",
        "prompt_optimizer": True,
        "duration": 6,
        "resolution": "768P",
        "callback_url": "https://example.com/cb",
        "aigc_watermark": True,
        "fast_pretreatment": True,
    }


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="duration"):
        request(duration=7).validate()


def test_a_malformed_ipv6_callback_url_is_a_validation_error() -> None:
    with pytest.raises(HailuoValidationError, match="callback_url"):
        GenerationRequest(first_frame_image="https://x/y.png", callback_url="http://[bad/cb").validate()
