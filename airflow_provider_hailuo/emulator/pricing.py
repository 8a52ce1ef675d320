"""What a video costs, as the gateway reports it in ``usage.cost``: an exact decimal string.

The numbers are the emulator's own (the gateway publishes no price list); they are kept in one
table so that tests, the demo and the benchmarks agree on them and one edit changes them all.
"""

from __future__ import annotations

from collections.abc import Mapping

# The gateway's defaults, restated (the emulator does not read the provider's rules).
_DEFAULT_DURATION, _DEFAULT_RESOLUTION = 6, "768P"

# Hailuo 02 image to video: (resolution, duration in seconds) -> US dollars. 1080P 10 s is not a
# valid combination.
COST_TABLE: Mapping[tuple[str, int], str] = {
    ("512P", 6): "0.10",
    ("512P", 10): "0.15",
    ("768P", 6): "0.28",
    ("768P", 10): "0.56",
    ("1080P", 6): "0.49",
}
# Hailuo 2.3 (image and text) renders no 512P; 2.3 Fast costs about two thirds of it, as resellers
# list it.
_HAILUO_23_TABLE: Mapping[tuple[str, int], str] = {
    key: cost for key, cost in COST_TABLE.items() if key[0] != "512P"
}
_FAST_TABLE: Mapping[tuple[str, int], str] = {("768P", 6): "0.19", ("768P", 10): "0.37", ("1080P", 6): "0.33"}
MODEL_COST_TABLES: Mapping[str, Mapping[tuple[str, int], str]] = {
    "minimax_hailuo_02_i2v": COST_TABLE,
    "minimax_hailuo_23_i2v": _HAILUO_23_TABLE,
    "minimax_hailuo_23_fast_i2v": _FAST_TABLE,
    "minimax_hailuo_23_t2v": _HAILUO_23_TABLE,
    "minimax_hailuo_02_t2v": _HAILUO_23_TABLE,
}


def cost_for(duration: int | None, resolution: str | None, model: str = "minimax_hailuo_02_i2v") -> str:
    """The cost string for a validated request; unset values take the gateway's defaults."""
    key = (resolution or _DEFAULT_RESOLUTION, _DEFAULT_DURATION if duration is None else duration)
    try:
        return MODEL_COST_TABLES[model][key]
    except KeyError:
        raise ValueError(f"no price for {model} at resolution={key[0]!r} with duration={key[1]}") from None
