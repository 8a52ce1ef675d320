"""The emulator's settings, changeable at run time through the control API."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_API_KEY = "test-key"
DEFAULT_RENDER_SECONDS = 2.0


class ControlError(ValueError):
    """A control API request the emulator cannot carry out; answered with 400 and this message."""


@dataclass(frozen=True)
class EmulatorConfig:
    """``render_seconds`` is how long a task stays ``in_progress``; it is fixed when a task is created.

    ``public_url`` is the base of the video URLs handed out; unset, the URL the client used to
    reach the emulator is used, which is right unless the emulator sits behind a proxy or port map.
    """

    api_key: str = DEFAULT_API_KEY
    render_seconds: float = DEFAULT_RENDER_SECONDS
    public_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise ControlError("api_key must be a non-empty string")
        render_seconds = self.render_seconds
        if (
            isinstance(render_seconds, bool)
            or not isinstance(render_seconds, (int, float))
            or not math.isfinite(render_seconds)
            or render_seconds < 0
        ):
            raise ControlError(f"render_seconds must be a number >= 0, got {render_seconds!r}")
        object.__setattr__(self, "render_seconds", float(render_seconds))
        if self.public_url is not None and (
            not isinstance(self.public_url, str) or not self.public_url.startswith(("http://", "https://"))
        ):
            raise ControlError(f"public_url must be an http(s) URL or null, got {self.public_url!r}")

    def updated(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """A copy with ``changes`` applied; unknown keys are refused so a typo is not silently ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ControlError(
                f"unknown config key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values = dict(changes)
        if isinstance(values.get("public_url"), str):
            values["public_url"] = values["public_url"].rstrip("/")
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
