"""The emulator's own reading of what each model accepts, written from the model pages.

Deliberately not the provider's code (``gateway/params.py``, ``gateway/models.py``,
``media/images.py``): if both used one table, a wrong rule could never fail a test. Here every
model lists the exact (frames, duration, resolution) combinations it renders and the parameter
names it takes; an unset duration or resolution is the gateway's default (6 s, 768P). Frames
are checked by their bytes as the pages state (JPG/PNG/WebP, under 20 MB, short side over
300 px, aspect ratio 2:5 to 5:2). Anything else is refused with the gateway's 400, naming the
parameter: the least convenient plausible gateway is a strict one.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Mapping
from typing import Any

# (number of frames, duration, resolution) each model renders.
_HAILUO_02_IMAGE = {
    (1, 6, "512P"), (1, 6, "768P"), (1, 6, "1080P"),
    (1, 10, "512P"), (1, 10, "768P"),
    (2, 6, "768P"), (2, 6, "1080P"),
    (2, 10, "768P"),
}  # fmt: skip
_HAILUO_23_IMAGE = {(1, 6, "768P"), (1, 6, "1080P"), (1, 10, "768P")}
_TEXT = {(0, 6, "768P"), (0, 6, "1080P"), (0, 10, "768P")}
_BASE = {"prompt", "prompt_optimizer", "duration", "resolution", "aigc_watermark"}

RENDERS: Mapping[str, set[tuple[int, int, str]]] = {
    "minimax_hailuo_02_i2v": _HAILUO_02_IMAGE,
    "minimax_hailuo_23_i2v": _HAILUO_23_IMAGE,
    "minimax_hailuo_23_fast_i2v": _HAILUO_23_IMAGE,
    "minimax_hailuo_23_t2v": _TEXT,
    "minimax_hailuo_02_t2v": _TEXT,
}
TAKES: Mapping[str, set[str]] = {
    "minimax_hailuo_02_i2v": _BASE | {"first_frame_image", "last_frame_image", "callback_url"},
    "minimax_hailuo_23_i2v": _BASE | {"first_frame_image", "fast_pretreatment"},
    "minimax_hailuo_23_fast_i2v": _BASE | {"first_frame_image", "fast_pretreatment"},
    "minimax_hailuo_23_t2v": _BASE | {"fast_pretreatment", "callback_url"},
    "minimax_hailuo_02_t2v": _BASE | {"fast_pretreatment"},
}
SERVED_MODELS: tuple[str, ...] = tuple(RENDERS)

_BOOLEANS = ("prompt_optimizer", "aigc_watermark", "fast_pretreatment")
_INSTRUCTIONS = frozenset(
    [
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
    ]
)
_DATA_URL = re.compile(r"^data:image/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,")


class Refused(Exception):
    """A request the gateway refuses: ``parameter`` and the message it answers with."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def check_create(model: str, params: Mapping[str, Any]) -> None:
    """Refuse what ``model`` would not render; returns quietly when the gateway would accept it."""
    takes = TAKES.get(model)
    if takes is None:
        raise Refused("model", f"unknown model {model!r}")
    for name in params:
        if name not in takes:
            raise Refused(name, f"{name} is not a parameter of {model}")
    frames = [params.get(name) for name in ("first_frame_image", "last_frame_image")]
    if "first_frame_image" in takes and frames[0] is None:
        raise Refused("first_frame_image", "first_frame_image is required")
    _check_prompt(params.get("prompt"), required="first_frame_image" not in takes)
    for name in _BOOLEANS:
        if name in params and not isinstance(params[name], bool):
            raise Refused(name, f"{name} must be a boolean")
    duration, resolution = params.get("duration", 6), params.get("resolution", "768P")
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise Refused("duration", "duration must be an integer")
    if duration not in {combination[1] for combination in RENDERS[model]}:
        raise Refused("duration", f"{model} does not render {duration} s videos")
    if not isinstance(resolution, str):
        raise Refused("resolution", "resolution must be a string")
    count = sum(frame is not None for frame in frames)
    if (count, duration, resolution) not in RENDERS[model]:
        raise Refused(
            "resolution", f"{model} does not render {duration} s at {resolution} with {count} frame(s)"
        )
    callback = params.get("callback_url")
    if callback is not None and (
        not isinstance(callback, str) or not re.match(r"^https?://[^/\s]+", callback)
    ):
        raise Refused("callback_url", "callback_url must be an http(s) URL")
    for name, frame in zip(("first_frame_image", "last_frame_image"), frames, strict=True):
        if frame is not None:
            check_frame(name, frame)


def _check_prompt(prompt: object, *, required: bool) -> None:
    """Text to video needs a prompt; an image's is optional (and may be empty)."""
    if prompt is None:
        if required:
            raise Refused("prompt", "prompt is required")
        return
    if not isinstance(prompt, str):
        raise Refused("prompt", "prompt must be a string")
    if required and not prompt.strip():
        raise Refused("prompt", "prompt is required")
    if len(prompt) > 2000:
        raise Refused("prompt", "prompt is longer than 2000 characters")
    for group in re.findall(r"\[([^\[\]]*)\]", prompt):
        for instruction in group.split(","):
            if instruction.strip() not in _INSTRUCTIONS:
                raise Refused("prompt", f"unknown camera instruction [{instruction.strip()}]")


def check_frame(parameter: str, value: object) -> None:
    """A public http(s) URL (fetched by the gateway, not checked here) or a base64 data URL of an
    image the pages allow."""
    if not isinstance(value, str):
        raise Refused(parameter, f"{parameter} must be a URL or a data URL")
    if value.startswith(("http://", "https://")):
        return
    if not _DATA_URL.match(value[:256]):
        raise Refused(parameter, f"{parameter} must be a public http(s) URL or a base64 data URL")
    try:
        data = base64.b64decode(value.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        raise Refused(parameter, f"{parameter}: the data URL is not valid base64") from None
    if len(data) >= 20 * 1024 * 1024:
        raise Refused(parameter, f"{parameter}: the image is 20 MB or more")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
    except Exception:
        raise Refused(parameter, f"{parameter}: not an image") from None
    if fmt not in ("JPEG", "PNG", "WEBP"):
        raise Refused(parameter, f"{parameter}: {fmt} is not JPG, PNG or WebP")
    if min(width, height) <= 300:
        raise Refused(parameter, f"{parameter}: the short side must be over 300 px")
    if not 2 / 5 <= width / height <= 5 / 2:
        raise Refused(parameter, f"{parameter}: the aspect ratio must be between 2:5 and 5:2")
