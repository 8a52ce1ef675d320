"""How many triggerers share a connection's poll rate: ``[hailuo] triggerers``.

A connection's ``max_polls_per_second`` is the deployment's: what the account's quota allows all
of its polls. Airflow's HA triggerers share the deferred tasks among themselves and tell no
trigger how many of them run, so the deployment says it: each triggerer paces its polls of the
connection at ``max_polls_per_second / triggerers`` (triggers/pacer.py). Set it to the number of
triggerers that run (a rolling restart that briefly runs one more stays under the quota only if
counted too); the default, 1, gives one triggerer the whole rate.
"""

from __future__ import annotations

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.gateway.defaults import CONFIG_SECTION, CONFIG_TRIGGERERS


def triggerer_count() -> int:
    """``[hailuo] triggerers``, from Airflow's configuration; 1 when unset."""
    from airflow.providers.common.compat.sdk import conf

    text = (conf.get(CONFIG_SECTION, CONFIG_TRIGGERERS, fallback="") or "").strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise HailuoValidationError(
            CONFIG_TRIGGERERS,
            f"[{CONFIG_SECTION}] {CONFIG_TRIGGERERS} must be a whole number of triggerers, 1 or more; "
            f"it is {text!r}",
        )
    return int(text)


def poll_rate_share(max_polls_per_second: float | None) -> float | None:
    """This triggerer's share of a connection's poll rate; ``None`` (no rate) stays ``None``."""
    if max_polls_per_second is None:
        return None
    return max_polls_per_second / triggerer_count()
