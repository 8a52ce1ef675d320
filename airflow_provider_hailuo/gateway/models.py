"""The Hailuo models the gateway serves, and each one's rules, as data: one row per model.

Every model speaks the same create and poll protocol (``protocol``); what differs is which frames
it takes, whether the prompt is required, which duration and resolution pairs it renders, and
which optional parameters it accepts. Validation (``params``), the connection form's help, the
README's model table and the docs are read from this table, so adding the next model is a row
and its tests. Where each row's facts were read is in ``docs/models.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

# Every optional parameter a model of the family may take, besides its frames.
OPTIONAL_PARAMETERS: tuple[str, ...] = (
    "prompt",
    "prompt_optimizer",
    "duration",
    "resolution",
    "callback_url",
    "aigc_watermark",
    "fast_pretreatment",
)


class Kind(Enum):
    IMAGE_TO_VIDEO = "image to video"
    TEXT_TO_VIDEO = "text to video"


@dataclass(frozen=True)
class ModelRules:
    """What one model takes. ``resolutions`` maps each duration to the resolutions it renders
    with at most one frame; ``two_frame_resolutions`` the same with a first and a last frame
    (``None``: the model takes no last frame). Unset values are the gateway's defaults."""

    model: str
    name: str
    kind: Kind
    frames: tuple[str, ...]
    prompt_required: bool
    resolutions: Mapping[int, tuple[str, ...]]
    options: frozenset[str]
    two_frame_resolutions: Mapping[int, tuple[str, ...]] | None = None
    default_duration: int = 6
    default_resolution: str = "768P"
    # Shown with the model in refusals: what a newcomer would want to know first.
    note: str = field(default="")

    @property
    def takes_last_frame(self) -> bool:
        return "last_frame_image" in self.frames

    @property
    def durations(self) -> tuple[int, ...]:
        return tuple(sorted(self.resolutions))

    def all_resolutions(self) -> tuple[str, ...]:
        """Every resolution the model renders at some duration, lowest first."""
        tables = [self.resolutions, self.two_frame_resolutions or {}]
        found = {resolution for table in tables for values in table.values() for resolution in values}
        return tuple(sorted(found, key=lambda text: int(text.rstrip("P"))))

    def takes(self, parameter: str) -> bool:
        return parameter in self.frames or parameter in self.options


_ONE_FRAME_02 = {6: ("512P", "768P", "1080P"), 10: ("512P", "768P")}
_HAILUO_23 = {6: ("768P", "1080P"), 10: ("768P",)}
_COMMON = frozenset({"prompt", "prompt_optimizer", "duration", "resolution", "aigc_watermark"})

MODELS: Mapping[str, ModelRules] = {
    rules.model: rules
    for rules in (
        ModelRules(
            model="minimax_hailuo_02_i2v",
            name="Hailuo 02",
            kind=Kind.IMAGE_TO_VIDEO,
            frames=("first_frame_image", "last_frame_image"),
            prompt_required=False,
            resolutions=_ONE_FRAME_02,
            two_frame_resolutions={6: ("768P", "1080P"), 10: ("768P",)},
            options=_COMMON | {"callback_url"},
        ),
        ModelRules(
            model="minimax_hailuo_23_i2v",
            name="Hailuo 2.3",
            kind=Kind.IMAGE_TO_VIDEO,
            frames=("first_frame_image",),
            prompt_required=False,
            resolutions=_HAILUO_23,
            options=_COMMON | {"fast_pretreatment"},
        ),
        ModelRules(
            model="minimax_hailuo_23_fast_i2v",
            name="Hailuo 2.3 Fast",
            kind=Kind.IMAGE_TO_VIDEO,
            frames=("first_frame_image",),
            prompt_required=False,
            resolutions=_HAILUO_23,
            options=_COMMON | {"fast_pretreatment"},
            note="faster and cheaper, for big image batches",
        ),
        ModelRules(
            model="minimax_hailuo_23_t2v",
            name="Hailuo 2.3",
            kind=Kind.TEXT_TO_VIDEO,
            frames=(),
            prompt_required=True,
            resolutions=_HAILUO_23,
            options=_COMMON | {"fast_pretreatment", "callback_url"},
        ),
        ModelRules(
            model="minimax_hailuo_02_t2v",
            name="Hailuo 02",
            kind=Kind.TEXT_TO_VIDEO,
            frames=(),
            prompt_required=True,
            resolutions=_HAILUO_23,
            options=_COMMON | {"fast_pretreatment"},
        ),
    )
}

DEFAULT_MODEL = "minimax_hailuo_02_i2v"
DEFAULT_TEXT_MODEL = "minimax_hailuo_23_t2v"


def models_of(kind: Kind) -> tuple[str, ...]:
    return tuple(model for model, rules in MODELS.items() if rules.kind is kind)


def who_takes(parameter: str, kind: Kind | None = None) -> tuple[str, ...]:
    """The models (of ``kind``, if given) that take ``parameter``."""
    return tuple(
        model for model, rules in MODELS.items() if rules.takes(parameter) and kind in (None, rules.kind)
    )
