"""Timing parameters (``timeout``, ``poll_interval``, ``max_quota_wait``) read as seconds.

Airflow's own operators take a ``timedelta`` as readily as a number of seconds, so these do too;
anything else (a string, ``None``, a bool) is refused here, naming the parameter, at DAG parse
time rather than as a bare ``TypeError`` halfway through a run.
"""

from __future__ import annotations

import math
from datetime import timedelta

from airflow_provider_hailuo.exceptions import HailuoValidationError


def to_seconds(parameter: str, value: object, *, zero_allowed: bool = False) -> float:
    """``value`` (seconds as an int or float, or a ``timedelta``) as a positive number of seconds;
    0 too with ``zero_allowed``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise HailuoValidationError(
            parameter,
            f"{parameter}={value!r} must be a number of seconds or a datetime.timedelta, "
            f"not {type(value).__name__}",
        )
    bound = "0 or positive" if zero_allowed else "positive"
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero_allowed):
        raise HailuoValidationError(parameter, f"{parameter}={value!r} must be {bound}")
    return seconds
