"""What the operator and the sensor share once a gateway task exists: one waiting path.

Waiting in the triggerer (or in the worker when the wait is shorter than the deferral floor),
telling an earlier try's event from this try's, reading the trigger's event, recording a failed
gateway task, delivering a completed one, and the OpenLineage facets built from what was learned.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_hailuo.gateway.defaults import DEFERRAL_GRACE_SECONDS
from airflow_provider_hailuo.integration.completion import complete
from airflow_provider_hailuo.integration.deferral import min_deferral_seconds
from airflow_provider_hailuo.integration.xcoms import record_failure

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_hailuo.exceptions import HailuoTaskFailedError
    from airflow_provider_hailuo.gateway.params import GenerationRequest
    from airflow_provider_hailuo.gateway.protocol import HailuoTask
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook

    _Operator = BaseOperator
else:
    _Operator = object


class HailuoTaskWaitMixin(_Operator):
    """Mixed into an operator with ``hailuo_conn_id``, ``poll_interval`` and ``deferrable``."""

    hailuo_conn_id: str
    poll_interval: float
    deferrable: bool

    # What this process learned for the OpenLineage events, set where it happens: after a deferral
    # the listener asks the fresh operator that ran execute_complete, so nothing is carried over.
    _completed_result: dict[str, Any] | None = None
    _hailuo_failure: HailuoTaskFailedError | None = None

    @cached_property
    def hook(self) -> HailuoHook:
        from airflow_provider_hailuo.hooks.hailuo import HailuoHook

        return HailuoHook(self.hailuo_conn_id)

    @cached_property
    def deferral_floor(self) -> float:
        """``[hailuo] min_deferral_seconds``, read once: a bad setting fails the first use."""
        return min_deferral_seconds()

    def waits_in_triggerer(self, timeout: float) -> bool:
        """Whether a wait of up to ``timeout`` seconds is deferred: with less than the deferral
        floor to wait, the worker waits instead (see integration/deferral.py)."""
        return self.deferrable and timeout >= self.deferral_floor

    def defer_to_task_trigger(
        self,
        hailuo_task_id: str,
        *,
        timeout: float,
        try_number: int | None,
        kwargs: dict[str, Any] | None = None,
        created_at: float | None = None,
        request: GenerationRequest | None = None,
    ) -> NoReturn:
        """Hand the wait for ``hailuo_task_id`` to the triggerer; ``execute_complete`` resumes.

        ``created_at`` (when the create was sent) and the ``request`` let the trigger poll
        sparsely while renders of the same ask are not done (gateway/render_times.py)."""
        from airflow_provider_hailuo.gateway.render_times import render_key
        from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger

        now = time.time()
        self.defer(
            trigger=HailuoTaskTrigger(
                hailuo_task_id=hailuo_task_id,
                hailuo_conn_id=self.hailuo_conn_id,
                poll_interval=self.poll_interval,
                end_time=now + timeout,
                try_number=try_number,
                not_before=now + self.deferral_floor,
                created_at=created_at,
                render_key=None if request is None else render_key(*request.render_ask()),
            ),
            method_name="execute_complete",
            kwargs=kwargs,
            # Airflow's own deadline is a backstop behind the trigger's end time, which fails the
            # task with a clearer message.
            timeout=timedelta(seconds=timeout + self.poll_interval + DEFERRAL_GRACE_SECONDS),
        )

    def resumed_by_an_earlier_try(self, context: Context, event: dict[str, Any] | None) -> bool:
        """Whether Airflow resumed this try with an earlier try's event (Airflow 3.0 and 3.1.0 do,
        see triggers/base.py): the try then starts afresh."""
        from airflow_provider_hailuo.triggers.base import is_from_an_earlier_try

        if not is_from_an_earlier_try(event, context["ti"].try_number):
            return False
        self.log.warning(
            "Airflow resumed try %s with the event of an earlier try (%s): starting this try afresh",
            context["ti"].try_number,
            event.get("message") or event.get("status") if event else None,
        )
        return True

    def completed_task(self, event: dict[str, Any] | None) -> HailuoTask:
        """The completed gateway task the trigger's event reports, read again from the gateway (an
        event carries no video URL); the reason as an exception otherwise."""
        from airflow_provider_hailuo.triggers.hailuo import completed_task

        return completed_task(event, self.hook)

    def note_failure(self, context: Context, failure: HailuoTaskFailedError) -> None:
        """A failed gateway task: kept for the lineage event and pushed to XCom for the UI."""
        self._hailuo_failure = failure
        record_failure(context, failure)

    def deliver(
        self, task: HailuoTask, context: Context, *, request: GenerationRequest | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The completed task's result (downloads, XComs, asset events, metrics), kept for lineage."""
        self._completed_result = complete(
            task, context, hook=self.hook, logger=self.log, request=request, **kwargs
        )
        return self._completed_result

    # -- OpenLineage (called by its listener, when apache-airflow-providers-openlineage is installed) --

    def lineage_request(self) -> GenerationRequest | None:
        """The request whose frames are the inputs; a sensor knows none."""
        return None

    def lineage_task_id(self) -> str | None:
        """The gateway task this try worked on, once known."""
        return None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:  # type: ignore[type-arg]
        """The frames as inputs, the video as the output, the gateway's facts as a run facet."""
        from airflow_provider_hailuo.integration.lineage import generation_lineage

        return generation_lineage(
            request=self.lineage_request(),
            result=self._completed_result,
            failure=self._hailuo_failure,
            hailuo_task_id=self.lineage_task_id(),
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:  # type: ignore[type-arg]
        """The same, with what is known: the frames, the gateway task and its error if it failed."""
        return self.get_openlineage_facets_on_complete(task_instance)
