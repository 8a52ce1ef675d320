"""One DAG run's cost cap (``max_run_cost_usd``, or the DAG param ``hailuo_max_run_cost_usd``),
checked before a create (one video's cap is :func:`airflow_provider_hailuo.gateway.cost.check_video_cap`).

A run's spend is the sum of its Hailuo tasks' *commitments*, each kept in its task instance's XCom
(``hailuo_spend``), which every task of the run can read: a task commits its estimate before it
creates a video and replaces it with the gateway's actual cost once the video is rendered.
Commitments are ordered by the time they were made; a task may create only if the commitments made
before its own, plus its own, stay within the cap.

It reads them a moment after writing its own (:data:`SETTLE_SECONDS`), and again until no other
spending task instance of the run is running without a commitment it can read: Airflow deletes a
task instance's XComs when its new try starts, and every try commits (again) as the first thing it
does, so a running task instance without one is between those two steps. A commitment keeps the
time it was first made at through retries and clears (the operator's durable record carries it),
so a resumed try's video keeps its place before the tasks that committed after it. What is left:
a try that ends between its start and committing again (its durable record unreadable), whose
earlier videos then go uncounted until its next try.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_hailuo.exceptions import HailuoAmbiguousSubmitError, HailuoError, HailuoSpendLimitError
from airflow_provider_hailuo.gateway.cost import format_usd, parse_usd
from airflow_provider_hailuo.integration.run_states import TaskInstanceKey, run_task_states

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SPEND_XCOM_KEY = "hailuo_spend"
RUN_CAP_PARAM = "hailuo_max_run_cost_usd"
# How long a commitment waits before the run's commitments are read again: far longer than an
# XCom write takes, far shorter than a video renders.
SETTLE_SECONDS = 1.0
# How long a task waits for the run's running task instances to commit before it refuses to create:
# a try commits within seconds of its start, far sooner under any load this provider is tested at.
UNCOMMITTED_WAIT_SECONDS = 120.0
RUNNING = "running"


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
    def key(self) -> TaskInstanceKey:
        return (self.task_id, self.map_index)

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

    ``task_ids`` are the run's tasks that can spend (every Hailuo operator of the DAG);
    ``states`` reads the states of their task instances in the run
    (:func:`airflow_provider_hailuo.integration.run_states.run_task_states`).
    """

    def __init__(
        self,
        ti: Any,
        task_ids: Sequence[str],
        cap: Decimal | None,
        states: Callable[[], Mapping[TaskInstanceKey, str | None]],
    ) -> None:
        self.ti = ti
        self.task_ids = list(task_ids)
        self.cap = cap
        self.states = states

    @classmethod
    def of_run(cls, context: Context, task_ids: Sequence[str], operator_cap: Decimal | None) -> RunBudget:
        """The budget of the running task's DAG run: capped by the operator's ``max_run_cost_usd``,
        else by the run's ``hailuo_max_run_cost_usd`` param (set by whoever triggers it)."""
        cap = operator_cap
        if cap is None:
            value = (context.get("params") or {}).get(RUN_CAP_PARAM)
            cap = None if value is None else parse_usd(value, RUN_CAP_PARAM)
        return cls(context["ti"], task_ids, cap, lambda: run_task_states(context, task_ids))

    @property
    def _key(self) -> TaskInstanceKey:
        map_index = getattr(self.ti, "map_index", -1)
        return (self.ti.task_id, -1 if map_index is None else int(map_index))

    def _others(self) -> list[Commitment]:
        """The other task instances' commitments, in one pull per spending task id.

        Never a pull of one task instance's key: Airflow 3's task SDK logs a missing one at error
        level ("XCom not found"), and a commitment is missing until its task first commits.
        """
        others: list[Commitment] = []
        # A list of ids makes every Airflow return a flat list over all map indexes.
        for value in self.ti.xcom_pull(task_ids=self.task_ids, key=SPEND_XCOM_KEY) or ():
            commitment = Commitment.from_xcom(value)
            if commitment is not None and commitment.key != self._key:
                others.append(commitment)
        return others

    def _all_others(self, what: str) -> list[Commitment]:
        """The other task instances' commitments, once none of them is missing for a try that
        started (its XComs deleted) and has not committed again yet.

        Such a try is running; the states are read before and after the commitments, so that a try
        that started, or committed and moved on, while they were read is looked at again.
        """
        started_waiting = time.time()
        while True:
            before = self.states()
            others = self._others()
            after = self.states()
            read = {commitment.key for commitment in others} | {self._key}
            missing = sorted(
                key
                for key in before.keys() | after.keys()
                if key not in read
                and (RUNNING in (before.get(key), after.get(key)) or before.get(key) != after.get(key))
            )
            if not missing:
                return others
            waited = time.time() - started_waiting
            if waited > UNCOMMITTED_WAIT_SECONDS:
                names = ", ".join(
                    f"{task_id}[{index}]" if index >= 0 else task_id for task_id, index in missing
                )
                # Not a refusal (an AirflowFailException): the wait may end, so Airflow's retries
                # may try again (a killed worker's task instance stays running until its heartbeat
                # times out).
                raise HailuoError(
                    f"The DAG run's spend cannot be known: {names} ran for {waited:.0f} s without committing "
                    f"to the run's cost cap (max_run_cost_usd={format_usd(self.cap or Decimal(0))}), so "
                    f"this video ({what}) might take the run over it. Nothing was sent; a retry checks again."
                )
            time.sleep(SETTLE_SECONDS)

    def commit(
        self, amount: Decimal, *, carried: Decimal, settled: bool = False, at: float | None = None
    ) -> Commitment:
        """Write this task instance's commitment; ``at`` (default: now) orders it among the run's."""
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

    def check(self, estimate: Decimal | None, *, carried: Decimal, what: str) -> None:
        """Refuse a video that would take the run over its cap (reads, writes nothing)."""
        if estimate is None:
            if self.cap is not None:
                raise HailuoSpendLimitError(
                    "max_run_cost_usd",
                    f"the DAG run's cost cap (max_run_cost_usd={format_usd(self.cap)}) is set, but there is "
                    f"no price for {what}: add one to the connection's price_table extra (see the README, "
                    "'Cost'). Nothing was sent.",
                )
            return
        if self.cap is None:
            return
        spent = sum((other.amount for other in self._others()), Decimal(0))
        self._refuse_over_cap(spent, carried + estimate, what)

    def reserve(
        self, estimate: Decimal | None, *, carried: Decimal, what: str, at: float | None = None
    ) -> float:
        """Commit ``carried + estimate`` for a video about to be created, or refuse it; returns
        the commitment's time.

        ``at`` keeps the place of a commitment this try already made (a quota wait sends the same
        create again). Checked twice: before writing (a batch past its cap writes nothing), and a
        moment after, against the commitments made before this one once every running task
        instance of the run has committed (so two tasks that commit at once agree on which of them
        came first, and a resumed try's earlier video is counted). A video without a price commits
        what its earlier tries count (possibly nothing) until the gateway says what it cost, so that
        other tasks do not wait for it.
        """
        self.check(estimate, carried=carried, what=what)  # refuses an unknown price under a cap
        commitment = self.commit(carried + (estimate or Decimal(0)), carried=carried, at=at)
        if self.cap is None or estimate is None:
            return commitment.at
        time.sleep(SETTLE_SECONDS)
        try:
            others = self._all_others(what)
            self._refuse_over_cap(committed_before(commitment, others), commitment.amount, what)
        except HailuoError:  # refused, or the run's spend unknown: nothing is sent
            self.commit(carried, carried=carried, at=commitment.at)
            raise
        return commitment.at

    @contextmanager
    def reservation(
        self,
        estimate: Decimal | None,
        *,
        carried: Decimal,
        what: str,
        at: float | None = None,
        carried_at: float | None = None,
    ) -> Iterator[float]:
        """:meth:`reserve` around a create: yields the commitment's time, and gives the estimate
        back if the create fails with proof that nothing was accepted (any :class:`HailuoError` but
        an ambiguous one, which may be billed: its estimate stays); ``carried`` is then committed
        again at ``carried_at``, where the earlier tries' videos were first committed. A deferral
        passes through."""
        committed_at = self.reserve(estimate, carried=carried, what=what, at=at)
        try:
            yield committed_at
        except HailuoAmbiguousSubmitError:
            raise
        except HailuoError:
            if estimate is not None:
                self.commit(carried, carried=carried, at=carried_at)
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
