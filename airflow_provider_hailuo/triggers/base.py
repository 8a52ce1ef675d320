"""What every trigger of this provider shares: the connection it acts for, the try it waits for,
and how it is named.

Each subclass keeps its own explicit ``serialize()`` (its kwargs are its contract with the
triggerer's database, tested by a round trip), rather than a shared field list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class HailuoBaseTrigger(BaseTrigger):
    """A trigger acting for one ``hailuo`` connection (one gateway account).

    :param hailuo_conn_id: connection of type ``hailuo``.
    :param try_number: the try of the task that deferred to it, echoed in its events (see
        :func:`is_from_an_earlier_try`); ``None`` where no task try is known.
    """

    def __init__(self, hailuo_conn_id: str, try_number: int | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hailuo_conn_id = hailuo_conn_id
        self.try_number = try_number

    @classmethod
    def classpath(cls) -> str:
        """The dotted path the triggerer imports this class by."""
        return f"{cls.__module__}.{cls.__qualname__}"

    def event(self, payload: dict[str, Any]) -> TriggerEvent:
        if self.try_number is not None:
            payload = {**payload, "try_number": self.try_number}
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def is_from_an_earlier_try(event: object, try_number: int) -> bool:
    """Whether a task resumed in try ``try_number`` was handed the event of an earlier try.

    Airflow 3.0 and 3.1.0 do not clear a failed try's resume method and its event, so the retry
    of a task that failed after a deferral starts in the resume method with the event that failed
    the try before (apache/airflow#56704, fixed in 3.1.1); run as is, every retry would fail the
    same way. Events of triggers that know no try (made before this check) are taken as current.
    """
    deferred_in = event.get("try_number") if isinstance(event, Mapping) else None
    return isinstance(deferred_in, int) and deferred_in != try_number
