"""What every trigger of this provider shares: the connection it acts for, and how it is named.

Each subclass keeps its own explicit ``serialize()`` (its kwargs are its contract with the
triggerer's database, tested by a round trip), rather than a shared field list.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class HailuoBaseTrigger(BaseTrigger):
    """A trigger acting for one ``hailuo`` connection (one gateway account).

    :param hailuo_conn_id: connection of type ``hailuo``.
    """

    def __init__(self, hailuo_conn_id: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hailuo_conn_id = hailuo_conn_id

    @classmethod
    def classpath(cls) -> str:
        """The dotted path the triggerer imports this class by."""
        return f"{cls.__module__}.{cls.__qualname__}"

    @staticmethod
    def event(payload: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]
