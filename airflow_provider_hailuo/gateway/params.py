"""The generation parameters of the Hailuo models and every rule their documentation states.

Pure and cheap to import: the operator checks non-templated values at DAG-parse time with it.
What differs between models (frames, prompt, duration and resolution pairs, optional parameters)
is read from the table in :mod:`airflow_provider_hailuo.gateway.models`; the rules every model
shares (the prompt's camera instructions, the types) are here. Image *contents* are checked in
:mod:`airflow_provider_hailuo.media.images`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.models import (
    DEFAULT_MODEL,
    MODELS,
    OPTIONAL_PARAMETERS,
    Kind,
    ModelRules,
    models_of,
    who_takes,
)
from airflow_provider_hailuo.gateway.urls import is_http_url

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

# Which resolutions each duration allows for the seed's model, with one frame and with two.
IMAGE_TO_VIDEO_RESOLUTIONS: Mapping[int, tuple[str, ...]] = MODELS[DEFAULT_MODEL].resolutions
FIRST_AND_LAST_FRAME_RESOLUTIONS: Mapping[int, tuple[str, ...]] = (
    MODELS[DEFAULT_MODEL].two_frame_resolutions or {}
)

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


def check_resolution(resolution: object, rules: ModelRules | None = None) -> None:
    """A resolution the model renders at some duration (any of the family's, without a model)."""
    allowed = rules.all_resolutions() if rules is not None else RESOLUTIONS
    if not isinstance(resolution, str):
        raise HailuoValidationError(
            "resolution",
            f"resolution must be a string ({_join_or(allowed)}), got {_type_name(resolution)}",
        )
    if resolution not in allowed:
        hint = f"; did you mean {resolution.upper()!r}?" if resolution.upper() in allowed else ""
        model = f" for {rules.model}" if rules is not None and resolution in RESOLUTIONS else ""
        raise HailuoValidationError(
            "resolution", f"resolution={resolution!r}: must be {_join_or(allowed)}{model}{hint}"
        )


def check_duration_resolution(
    duration: int | None,
    resolution: str | None,
    *,
    first_and_last: bool,
    rules: ModelRules | None = None,
) -> None:
    """The model's table of duration and resolution pairs (the seed's two tables for Hailuo 02);
    unset values take the gateway's defaults (6 s, 768P)."""
    rules = rules or MODELS[DEFAULT_MODEL]
    effective_duration = rules.default_duration if duration is None else duration
    effective_resolution = rules.default_resolution if resolution is None else resolution
    table = (
        rules.two_frame_resolutions if first_and_last and rules.two_frame_resolutions else rules.resolutions
    )
    allowed = table[effective_duration]
    if effective_resolution in allowed:
        return
    kind = "with first and last frame, " if first_and_last else ""
    duration_text = (
        f"duration={duration}" if duration is not None else f"duration (default {rules.default_duration})"
    )
    resolution_text = (
        f"resolution={resolution!r}"
        if resolution is not None
        else f"resolution (default {rules.default_resolution!r})"
    )
    parameter = "resolution" if resolution is not None else "duration"
    model = "" if rules.model == DEFAULT_MODEL else f"{rules.model} ({rules.name}): "
    elsewhere = [
        other.model
        for other in MODELS.values()
        if other.kind is rules.kind and effective_resolution in other.resolutions.get(effective_duration, ())
    ]
    hint = (
        f"; {effective_resolution} at {effective_duration} s is {', '.join(elsewhere)} only"
        if elsewhere and rules.model not in elsewhere
        else ""
    )
    raise HailuoValidationError(
        parameter,
        f"{duration_text} with {resolution_text}: {model}{kind}{effective_duration} s videos are "
        f"{' or '.join(allowed)} only{hint}",
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


def check_model(model: object, kind: Kind | None = None) -> ModelRules:
    """The rules of ``model`` (of ``kind``, when the caller makes only one kind of video)."""
    if not isinstance(model, str) or not model.strip():
        raise HailuoValidationError(
            "model", f"model must be a non-empty string such as {DEFAULT_MODEL!r}, got {_describe(model)}"
        )
    rules = MODELS.get(model)
    if rules is None:
        candidates = models_of(kind) if kind is not None else tuple(MODELS)
        known = ", ".join(candidates)
        hint = difflib.get_close_matches(model, candidates, n=1)
        raise HailuoValidationError(
            "model",
            f"model={model!r} is not a Hailuo model this provider knows"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f" Known: {known}",
        )
    if kind is not None and rules.kind is not kind:
        raise HailuoValidationError(
            "model",
            f"model={model!r} is {rules.kind.value}; this operator makes {kind.value}: use "
            + ", ".join(models_of(kind)),
        )
    return rules


def _check_taken(rules: ModelRules, name: str) -> None:
    """Refuse a parameter the model does not take (sending it would be refused, or ignored)."""
    if rules.takes(name):
        return
    model = f"{rules.model} ({rules.name} {rules.kind.value})"
    others = who_takes(name, rules.kind)
    where = f"; {', '.join(others)} take{'s' if len(others) == 1 else ''} it" if others else ""
    if name == "last_frame_image":
        message = f"{model} has no last frame: last_frame_image is not one of its parameters{where}"
    elif name == "first_frame_image":
        message = f"{model} takes no frame: it makes a video from the prompt alone{where}"
    else:
        message = f"{name} is not a parameter of {model}{where}"
    raise HailuoValidationError(name, message)


@dataclass(frozen=True)
class GenerationRequest:
    """One image-to-video generation as the user asked for it; ``None`` means "gateway default".

    The frames are image *sources* (URL, data URL, path, bytes, file object, ObjectStoragePath);
    :func:`airflow_provider_hailuo.media.images.resolve_image` turns them into what is sent.
    """

    first_frame_image: Any = None
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
        """Check every rule that needs no image contents; returns warnings, raises on errors.

        The request cannot change, so the rules run once: later calls return the same warnings.
        """
        return list(self._warnings)

    @property
    def rules(self) -> ModelRules:
        """The model's rules (the model checked first)."""
        return check_model(self.model)

    def render_ask(self) -> tuple[str, str, int]:
        """What the render's length depends on: the model, and the resolution and duration with
        the model's defaults filled in (an unset one renders as its default does)."""
        rules = self.rules
        return (
            self.model,
            self.resolution or rules.default_resolution,
            self.duration or rules.default_duration,
        )

    @cached_property
    def _warnings(self) -> tuple[str, ...]:
        rules = self.rules
        for name in (*IMAGE_PARAMETERS, *OPTIONAL_PARAMETERS):
            if getattr(self, name) is not None:
                _check_taken(rules, name)
        if rules.kind is Kind.IMAGE_TO_VIDEO and (
            self.first_frame_image is None
            or (isinstance(self.first_frame_image, str) and not self.first_frame_image.strip())
        ):
            raise HailuoValidationError("first_frame_image", "first_frame_image is required")
        if rules.prompt_required and (
            self.prompt is None or (isinstance(self.prompt, str) and not self.prompt.strip())
        ):
            raise HailuoValidationError(
                "prompt", f"prompt is required: {rules.model} makes a video from the prompt alone"
            )
        warnings = check_prompt(self.prompt) if self.prompt is not None else []
        if self.fast_pretreatment and self.prompt_optimizer is False:
            warnings.append(
                "fast_pretreatment=True has no effect with prompt_optimizer=False: it shortens the "
                "prompt optimizer's work"
            )
        for name in BOOL_PARAMETERS:
            value = getattr(self, name)
            if value is not None:
                check_bool(name, value)
        if self.duration is not None:
            check_duration(self.duration)
        if self.resolution is not None and self.resolution not in RESOLUTIONS:
            # A type or a value no model renders: this model's are listed. One of the family's
            # that this model does not render is left to the pair check, which says where it is.
            check_resolution(self.resolution, rules)
        check_duration_resolution(
            self.duration, self.resolution, first_and_last=self.last_frame_image is not None, rules=rules
        )
        if self.callback_url is not None:
            check_callback_url(self.callback_url)
        return tuple(warnings)

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
