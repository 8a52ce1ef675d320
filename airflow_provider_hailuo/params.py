"""The generation parameters of Hailuo 02 image-to-video and every rule its documentation states.

Pure and cheap to import: the operator checks non-templated values at DAG-parse time with it, and
the emulator applies the same rules to the bodies it receives, so a rule lives in one place.
Image *contents* are checked in :mod:`airflow_provider_hailuo.images`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.urls import is_http_url

DEFAULT_MODEL = "minimax_hailuo_02_i2v"
MAX_PROMPT_LENGTH = 2000
# The seed recommends no more than three instructions acting together; more is allowed but warned.
MAX_COMBINED_INSTRUCTIONS = 3

CAMERA_INSTRUCTIONS: tuple[str, ...] = (
    "pan left",
    "pan right",
    "tilt left",
    "tilt right",
    "push in",
    "pull back",
    "rise",
    "lower",
    "tilt up",
    "tilt down",
    "zoom in",
    "zoom out",
    "shake",
    "follow",
    "static",
)

DURATIONS: tuple[int, ...] = (6, 10)
DEFAULT_DURATION = 6
RESOLUTIONS: tuple[str, ...] = ("512P", "768P", "1080P")
DEFAULT_RESOLUTION = "768P"

# Which resolutions each duration allows, for the two kinds of generation the seed tabulates.
IMAGE_TO_VIDEO_RESOLUTIONS: Mapping[int, tuple[str, ...]] = {
    6: ("512P", "768P", "1080P"),
    10: ("512P", "768P"),
}
FIRST_AND_LAST_FRAME_RESOLUTIONS: Mapping[int, tuple[str, ...]] = {6: ("768P", "1080P"), 10: ("768P",)}

IMAGE_PARAMETERS: tuple[str, ...] = ("first_frame_image", "last_frame_image")
BOOL_PARAMETERS: tuple[str, ...] = ("prompt_optimizer", "aigc_watermark", "fast_pretreatment")

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def _type_name(value: object) -> str:
    return type(value).__name__


def _describe(value: object) -> str:
    """A short repr for messages: a data URL is shown shortened, never whole."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...({len(text)} chars)"


def _join_or(options: tuple[Any, ...]) -> str:
    shown = [repr(o) if isinstance(o, str) else str(o) for o in options]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def suggest_camera_instruction(word: str) -> str:
    """The valid instruction nearest to ``word`` (there is always one to suggest)."""
    normalised = " ".join(word.lower().split())
    match = difflib.get_close_matches(normalised, CAMERA_INSTRUCTIONS, n=1, cutoff=0.0)
    return match[0] if match else CAMERA_INSTRUCTIONS[0]


def parse_camera_instructions(prompt: str) -> list[list[str]]:
    """The bracketed instruction groups of a prompt, in order; each group acts at once."""
    return [[part.strip() for part in group.split(",")] for group in _BRACKET.findall(prompt)]


def check_prompt(prompt: object) -> list[str]:
    """Refuse a prompt the gateway would refuse; return warnings for what it merely advises against."""
    if not isinstance(prompt, str):
        raise HailuoValidationError("prompt", f"prompt must be a string, got {_type_name(prompt)}")
    if len(prompt) > MAX_PROMPT_LENGTH:
        raise HailuoValidationError(
            "prompt", f"prompt has {len(prompt)} characters: at most {MAX_PROMPT_LENGTH} are allowed"
        )
    warnings: list[str] = []
    for group in parse_camera_instructions(prompt):
        for instruction in group:
            if instruction not in CAMERA_INSTRUCTIONS:
                shown = f"[{instruction}]" if instruction else "[] (empty)"
                raise HailuoValidationError(
                    "prompt",
                    f"prompt: unknown camera instruction {shown}; did you mean "
                    f"[{suggest_camera_instruction(instruction)}]? The 15 instructions are: "
                    + ", ".join(CAMERA_INSTRUCTIONS),
                )
        if len(group) > MAX_COMBINED_INSTRUCTIONS:
            warnings.append(
                f"prompt: [{', '.join(group)}] combines {len(group)} camera instructions; "
                f"no more than {MAX_COMBINED_INSTRUCTIONS} are recommended"
            )
    return warnings


def check_bool(parameter: str, value: object) -> None:
    # bool is checked exactly: 1, "true" and "yes" are mistakes, not intentions.
    if not isinstance(value, bool):
        raise HailuoValidationError(
            parameter, f"{parameter} must be True or False, got {_describe(value)} ({_type_name(value)})"
        )


def check_duration(duration: object) -> None:
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise HailuoValidationError(
            "duration",
            f"duration must be an integer number of seconds ({_join_or(DURATIONS)}), "
            f"got {_describe(duration)} ({_type_name(duration)})",
        )
    if duration not in DURATIONS:
        raise HailuoValidationError(
            "duration", f"duration={duration}: videos are {_join_or(DURATIONS)} seconds long"
        )


def check_resolution(resolution: object) -> None:
    if not isinstance(resolution, str):
        raise HailuoValidationError(
            "resolution",
            f"resolution must be a string ({_join_or(RESOLUTIONS)}), got {_type_name(resolution)}",
        )
    if resolution not in RESOLUTIONS:
        hint = f"; did you mean {resolution.upper()!r}?" if resolution.upper() in RESOLUTIONS else ""
        raise HailuoValidationError(
            "resolution", f"resolution={resolution!r}: must be {_join_or(RESOLUTIONS)}{hint}"
        )


def check_duration_resolution(duration: int | None, resolution: str | None, *, first_and_last: bool) -> None:
    """The seed's two tables; unset values take the gateway's defaults (6 s, 768P)."""
    effective_duration = DEFAULT_DURATION if duration is None else duration
    effective_resolution = DEFAULT_RESOLUTION if resolution is None else resolution
    table = FIRST_AND_LAST_FRAME_RESOLUTIONS if first_and_last else IMAGE_TO_VIDEO_RESOLUTIONS
    allowed = table[effective_duration]
    if effective_resolution in allowed:
        return
    kind = "with first and last frame, " if first_and_last else ""
    duration_text = (
        f"duration={duration}" if duration is not None else f"duration (default {DEFAULT_DURATION})"
    )
    resolution_text = (
        f"resolution={resolution!r}"
        if resolution is not None
        else f"resolution (default {DEFAULT_RESOLUTION!r})"
    )
    parameter = "resolution" if resolution is not None else "duration"
    raise HailuoValidationError(
        parameter,
        f"{duration_text} with {resolution_text}: {kind}{effective_duration} s videos are "
        f"{' or '.join(allowed)} only",
    )


def check_callback_url(callback_url: object) -> None:
    if not isinstance(callback_url, str):
        raise HailuoValidationError(
            "callback_url", f"callback_url must be a string, got {_type_name(callback_url)}"
        )
    if not is_http_url(callback_url):
        raise HailuoValidationError(
            "callback_url", f"callback_url={_describe(callback_url)}: must be an http:// or https:// URL"
        )


def check_model(model: object) -> None:
    if not isinstance(model, str) or not model.strip():
        raise HailuoValidationError(
            "model", f"model must be a non-empty string such as {DEFAULT_MODEL!r}, got {_describe(model)}"
        )


@dataclass(frozen=True)
class GenerationRequest:
    """One image-to-video generation as the user asked for it; ``None`` means "gateway default".

    The frames are image *sources* (URL, data URL, path, bytes, file object, ObjectStoragePath);
    :func:`airflow_provider_hailuo.images.resolve_image` turns them into what is sent.
    """

    first_frame_image: Any
    last_frame_image: Any = None
    prompt: str | None = None
    prompt_optimizer: bool | None = None
    duration: int | None = None
    resolution: str | None = None
    callback_url: str | None = None
    aigc_watermark: bool | None = None
    fast_pretreatment: bool | None = None
    model: str = DEFAULT_MODEL

    def validate(self) -> list[str]:
        """Check every rule that needs no image contents; returns warnings, raises on errors."""
        if self.first_frame_image is None or (
            isinstance(self.first_frame_image, str) and not self.first_frame_image.strip()
        ):
            raise HailuoValidationError("first_frame_image", "first_frame_image is required")
        check_model(self.model)
        warnings = check_prompt(self.prompt) if self.prompt is not None else []
        for name in BOOL_PARAMETERS:
            value = getattr(self, name)
            if value is not None:
                check_bool(name, value)
        if self.duration is not None:
            check_duration(self.duration)
        if self.resolution is not None:
            check_resolution(self.resolution)
        check_duration_resolution(
            self.duration, self.resolution, first_and_last=self.last_frame_image is not None
        )
        if self.callback_url is not None:
            check_callback_url(self.callback_url)
        return warnings

    @property
    def effective_resolution(self) -> str:
        """The resolution the gateway renders, and charges for: the one asked for, else its default."""
        return DEFAULT_RESOLUTION if self.resolution is None else self.resolution

    @property
    def effective_duration(self) -> int:
        """The duration the gateway renders, and charges for: the one asked for, else its default."""
        return DEFAULT_DURATION if self.duration is None else self.duration

    def options(self) -> dict[str, Any]:
        """The parameters other than the frames and the model that the user set, as sent."""
        skip = {"model", *IMAGE_PARAMETERS}
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in skip and getattr(self, f.name) is not None
        }


def validate_wire_params(params: Mapping[str, Any]) -> list[str]:
    """Apply every rule to a ``params`` object as it travels in a create body (the emulator's side).

    Frames must already be strings here (a URL or a data URL); their contents are checked by the
    caller. Unknown keys are refused, as a strict gateway would.
    """
    known = {f.name for f in fields(GenerationRequest)} - {"model"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise HailuoValidationError(unknown[0], f"unknown parameter(s): {', '.join(unknown)}")
    for name in IMAGE_PARAMETERS:
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise HailuoValidationError(name, f"{name} must be a URL or data URL string")
    # A body without first_frame_image is refused by validate(), not by a TypeError here.
    request = GenerationRequest(model=DEFAULT_MODEL, **{"first_frame_image": None, **params})
    return request.validate()
