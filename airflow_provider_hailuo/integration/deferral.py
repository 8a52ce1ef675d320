"""How soon a deferred task may come back: the floor every deferral of the provider keeps.

Airflow 3.x can fail a deferred task whose trigger fires within seconds of its deferral: the
deferring process's late "success" reaches the scheduler after the task has resumed
(apache/airflow#72716, #71580, open as of 3.3.2). So a task that defers comes back no sooner than
``[hailuo] min_deferral_seconds`` after deferring (each trigger holds an earlier event until
then), and a task with less than that left to wait waits in its worker instead of deferring.
``dag.test()`` runs triggers inline, with no scheduler to race: the sandbox that runs the
examples and the tests that way sets the floor to 0.
"""

from __future__ import annotations

import math

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.defaults import CONFIG_MIN_DEFERRAL, CONFIG_SECTION, MIN_DEFERRAL_SECONDS


def min_deferral_seconds() -> float:
    """The floor, from Airflow's configuration (``[hailuo] min_deferral_seconds``)."""
    from airflow.providers.common.compat.sdk import conf

    text = conf.get(CONFIG_SECTION, CONFIG_MIN_DEFERRAL, fallback="") or ""
    if not text.strip():
        return MIN_DEFERRAL_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise HailuoValidationError(
            CONFIG_MIN_DEFERRAL,
            f"[{CONFIG_SECTION}] {CONFIG_MIN_DEFERRAL} must be a number of seconds, 0 or more; it is {text!r}",
        )
    return seconds
