"""What a video costs, as the gateway reports it in ``usage.cost``: an exact decimal string.

The numbers are the emulator's own (the gateway publishes no price list); they are kept in one
table so that tests, the demo and the benchmarks agree on them and one edit changes them all.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_hailuo.params import DEFAULT_DURATION, DEFAULT_RESOLUTION

# (resolution, duration in seconds) -> US dollars. 1080P 10 s is not a valid combination.
COST_TABLE: Mapping[tuple[str, int], str] = {
    ("512P", 6): "0.10",
    ("512P", 10): "0.15",
    ("768P", 6): "0.28",
    ("768P", 10): "0.56",
    ("1080P", 6): "0.49",
}


def cost_for(duration: int | None, resolution: str | None) -> str:
    """The cost string for a validated request; unset values take the gateway's defaults."""
    key = (resolution or DEFAULT_RESOLUTION, DEFAULT_DURATION if duration is None else duration)
    try:
        return COST_TABLE[key]
    except KeyError:
        raise ValueError(f"no price for resolution={key[0]!r} with duration={key[1]}") from None
