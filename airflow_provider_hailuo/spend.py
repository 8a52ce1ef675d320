"""One DAG run's cost cap (``max_run_cost_usd``, or the DAG param ``hailuo_max_run_cost_usd``),
checked before a create (one video's cap is :func:`airflow_provider_hailuo.cost.check_video_cap`).

A run's spend is the sum of its Hailuo tasks' *commitments*, each kept in its task instance's XCom
(``hailuo_spend``), which every task of the run can read: a task commits its estimate before it
creates a video and replaces it with the gateway's actual cost once the video is rendered.
Commitments are ordered by the time they were made; a task may create only if the commitments made
before its own, plus its own, stay within the cap. It reads them a moment after writing its own
(:data:`SETTLE_SECONDS`), so that a commitment made before it is readable by then unless its
write took longer than that: only such a slow write, or clocks apart by more than that, can let a
run pass its cap (the overshoot the README documents).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_hailuo.cost import format_usd, parse_usd
from airflow_provider_hailuo.exceptions import HailuoSpendLimitError

SPEND_XCOM_KEY = "hailuo_spend"
RUN_CAP_PARAM = "hailuo_max_run_cost_usd"
# How long a commitment waits before the run's commitments are read again: far longer than an
# XCom write takes, far shorter than a video renders.
SETTLE_SECONDS = 1.0


@dataclass(frozen=True)
class Commitment:
    """What one task instance has committed in this run, in US dollars.

    ``carried`` is what its earlier tries' videos count (from its durable record), ``amount`` the
    total, this try's video included: its estimate until ``settled`` with the gateway's cost.
    """

    task_id: str
    map_index: int
    amount: Decimal
    carried: Decimal
    at: float
    settled: bool = False

    @property
    def order(self) -> tuple[float, str, int]:
        return (self.at, self.task_id, self.map_index)

    def to_xcom(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "map_index": self.map_index,
            "amount": format_usd(self.amount),
            "carried": format_usd(self.carried),
            "at": self.at,
            "settled": self.settled,
        }

    @classmethod
    def from_xcom(cls, value: object) -> Commitment | None:
        """A commitment as stored; anything else under the key (another writer's value) is none."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                task_id=str(value["task_id"]),
                map_index=int(value["map_index"]),
                amount=parse_usd(value["amount"], SPEND_XCOM_KEY),
                carried=parse_usd(value.get("carried", "0"), SPEND_XCOM_KEY),
                at=float(value["at"]),
                settled=bool(value.get("settled")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def committed_before(own: Commitment, others: Iterable[Commitment]) -> Decimal:
    """The commitments made before ``own``: what its video must fit on top of."""
    return sum((other.amount for other in others if other.order < own.order), Decimal(0))


class RunBudget:
    """One try's view of its DAG run's spend, read from and written to XCom through ``ti``.

    ``task_ids`` are the run's tasks that can spend (every Hailuo operator of the DAG).
    """

    def __init__(self, ti: Any, task_ids: Sequence[str], cap: Decimal | None) -> None:
        self.ti = ti
        self.task_ids = list(task_ids)
        self.cap = cap

    @property
    def _key(self) -> tuple[str, int]:
        map_index = getattr(self.ti, "map_index", -1)
        return (self.ti.task_id, -1 if map_index is None else int(map_index))

    def _read(self) -> tuple[Commitment | None, list[Commitment]]:
        """This task instance's commitment and the others', in one pull per spending task id."""
        own: Commitment | None = None
        others: list[Commitment] = []
        # A list of ids makes every Airflow return a flat list over all map indexes.
        for value in self.ti.xcom_pull(task_ids=self.task_ids, key=SPEND_XCOM_KEY) or ():
            commitment = Commitment.from_xcom(value)
            if commitment is None:
                continue
            if (commitment.task_id, commitment.map_index) == self._key:
                own = commitment
            else:
                others.append(commitment)
        return own, others

    def own(self) -> Commitment | None:
        """This task instance's commitment (one pull)."""
        task_id, map_index = self._key
        return Commitment.from_xcom(
            self.ti.xcom_pull(task_ids=task_id, key=SPEND_XCOM_KEY, map_indexes=map_index)
        )

    def commit(
        self, amount: Decimal, *, carried: Decimal, settled: bool = False, at: float | None = None
    ) -> Commitment:
        task_id, map_index = self._key
        commitment = Commitment(
            task_id=task_id,
            map_index=map_index,
            amount=amount,
            carried=carried,
            at=time.time() if at is None else at,
            settled=settled,
        )
        self.ti.xcom_push(key=SPEND_XCOM_KEY, value=commitment.to_xcom())
        return commitment

    def check(self, estimate: Decimal | None, *, carried: Decimal, what: str) -> Commitment | None:
        """Refuse a video that would take the run over its cap (writes nothing); returns this
        task instance's commitment so far, if any."""
        if estimate is None:
            if self.cap is not None:
                raise HailuoSpendLimitError(
                    "max_run_cost_usd",
                    f"the DAG run's cost cap (max_run_cost_usd={format_usd(self.cap)}) is set, but there is "
                    f"no price for {what}: add one to the connection's price_table extra (see the README, "
                    "'Cost'). Nothing was sent.",
                )
            return None
        if self.cap is None:
            return self.own()
        own, others = self._read()
        self._refuse_over_cap(sum((other.amount for other in others), Decimal(0)), carried + estimate, what)
        return own

    def reserve(self, estimate: Decimal | None, *, carried: Decimal, what: str) -> None:
        """Commit ``carried + estimate`` for a video about to be created, or refuse it.

        Checked twice: before writing (a batch past its cap writes nothing), and a moment after,
        against the commitments made before this one (so two tasks that commit at once agree on
        which of them came first).
        """
        own = self.check(estimate, carried=carried, what=what)  # refuses an unknown price under a cap
        if estimate is None:
            return  # nothing to commit until the gateway says what it cost
        # A quota wait keeps its place: the same try commits again at its first time.
        commitment = self.commit(carried + estimate, carried=carried, at=own.at if own else None)
        if self.cap is None:
            return
        time.sleep(SETTLE_SECONDS)
        _, others = self._read()
        try:
            self._refuse_over_cap(committed_before(commitment, others), commitment.amount, what)
        except HailuoSpendLimitError:
            self.commit(carried, carried=carried)
            raise

    def _refuse_over_cap(self, spent: Decimal, amount: Decimal, what: str) -> None:
        if self.cap is None or spent + amount <= self.cap:
            return
        raise HailuoSpendLimitError(
            "max_run_cost_usd",
            f"the DAG run's cost cap is reached: its Hailuo tasks have committed ${format_usd(spent)} and "
            f"this video ({what}) would take it to ${format_usd(spent + amount)}, over max_run_cost_usd="
            f"{format_usd(self.cap)}. Nothing was sent. Raise the cap (the operator's max_run_cost_usd "
            f"or the DAG param {RUN_CAP_PARAM}) and clear the task to go on.",
        )
