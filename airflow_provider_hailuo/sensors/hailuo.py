"""HailuoTaskSensor: waits for a gateway task started elsewhere and returns the same result dict."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow.triggers.base import StartTriggerArgs

from airflow_provider_hailuo.exceptions import (
    HailuoTaskFailedError,
    HailuoTimeoutError,
    HailuoTransientError,
    HailuoValidationError,
)
from airflow_provider_hailuo.gateway.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
)
from airflow_provider_hailuo.gateway.protocol import failure_error
from airflow_provider_hailuo.gateway.seconds import to_seconds
from airflow_provider_hailuo.integration.links import HailuoVideoLink
from airflow_provider_hailuo.integration.metrics import record_failed
from airflow_provider_hailuo.integration.xcoms import record_task_id
from airflow_provider_hailuo.operators.waiting import HailuoTaskWaitMixin
from airflow_provider_hailuo.version_compat import triggers_render_templates

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


_TRIGGER_CLASS = "airflow_provider_hailuo.triggers.hailuo.HailuoTaskTrigger"
# Airflow renders a start-from-trigger task's templates in the triggerer only where triggers can
# render templates (recent Airflow 3); before that, a templated task id would reach the trigger
# unrendered, so the sensor then starts on a worker and defers from there.
CAN_START_FROM_TRIGGER = triggers_render_templates()


class HailuoTaskSensor(HailuoTaskWaitMixin, BaseSensorOperator):
    """Wait for a Hailuo gateway task (e.g. one submitted with ``wait_for_completion=False``).

    Succeeds with the same result dict as the operator; a ``failed`` or ``cancelled`` gateway task
    fails the sensor with the gateway's code and message (or skips it, with ``soft_fail``).

    :param hailuo_task_id: the gateway task id. Templated, e.g.
        ``"{{ ti.xcom_pull(task_ids='submit', key='hailuo_task_id') }}"``.
    :param hailuo_conn_id: connection of type ``hailuo``.
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``);
        where Airflow's triggerer can render templates, the sensor then starts straight in the
        triggerer, without a worker at all.
    :param poll_interval: seconds (or a ``timedelta``) between polls (the sensor's ``poke_interval``).
    :param timeout: seconds (or a ``timedelta``) to wait before failing (the sensor's ``timeout``).
    """

    template_fields: Sequence[str] = ("hailuo_task_id",)
    operator_extra_links = (HailuoVideoLink(),)
    ui_color = "#f3e5ff"

    def __init__(
        self,
        *,
        hailuo_task_id: str,
        hailuo_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        poll_interval = to_seconds("poll_interval", poll_interval)
        timeout = to_seconds("timeout", timeout)
        # Starting in the triggerer needs the id as a template string the triggerer can render:
        # an XComArg (``submit.output``) would reach the trigger unresolved.
        start_in_triggerer = deferrable and CAN_START_FROM_TRIGGER and isinstance(hailuo_task_id, str)
        super().__init__(poke_interval=poll_interval, timeout=timeout, **kwargs)
        self.hailuo_task_id = hailuo_task_id
        self.hailuo_conn_id = hailuo_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        if start_in_triggerer:
            # The scheduler hands the task to the triggerer directly; Airflow's trigger timeout
            # bounds the wait, since an absolute end time cannot be known when the DAG is parsed.
            self.start_from_trigger = True
            self.start_trigger_args = StartTriggerArgs(
                trigger_cls=_TRIGGER_CLASS,
                trigger_kwargs={
                    "hailuo_task_id": hailuo_task_id,
                    "hailuo_conn_id": hailuo_conn_id,
                    "poll_interval": poll_interval,
                    "end_time": None,
                },
                next_method="execute_complete",
                next_kwargs=None,
                timeout=timedelta(seconds=timeout),
            )

    def execute(self, context: Context) -> Any:
        if not isinstance(self.hailuo_task_id, str) or self.hailuo_task_id.strip() in ("", "None"):
            # Usually a template whose XCom was missing: say so instead of polling a task "None".
            raise HailuoValidationError(
                "hailuo_task_id",
                f"hailuo_task_id rendered to {self.hailuo_task_id!r}: no gateway task to wait for",
            )
        record_task_id(context, self.hailuo_task_id)
        if not self.waits_in_triggerer(float(self.timeout)):
            # With less than the deferral floor to wait, the worker pokes (see deferral.py).
            return super().execute(context)
        self.defer_to_task_trigger(
            self.hailuo_task_id, timeout=float(self.timeout), try_number=context["ti"].try_number
        )

    def _fail(self, error: Exception, context: Context) -> NoReturn:
        """Fail with the gateway's reason, or skip under ``soft_fail``."""
        if isinstance(error, HailuoTaskFailedError):
            self.note_failure(context, error)
        if self.soft_fail:
            # Airflow does not log a skip's reason; without this line the gateway's code is lost.
            self.log.warning("%s (soft_fail: skipping)", error)
            raise AirflowSkipException(f"{error} (soft_fail: skipping)") from error
        raise error

    def poke(self, context: Context) -> PokeReturnValue | bool:
        try:
            task = self.hook.get_task(self.hailuo_task_id)
        except HailuoTransientError as error:
            # As in the trigger: the gateway's trouble is not the video's; poke again later.
            self.log.warning("Hailuo task %s: poll failed (%s); poking again", self.hailuo_task_id, error)
            return False
        if task.is_success:
            return PokeReturnValue(is_done=True, xcom_value=self.deliver(task, context))
        if task.is_final:
            record_failed(task)
            self._fail(failure_error(task), context)
        self.log.info("Hailuo task %s is %s", task.id, task.status)
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.resumed_by_an_earlier_try(context, event):
            return self.execute(context)  # type: ignore[no-any-return]
        try:
            task = self.completed_task(event)
        except HailuoTaskFailedError as error:
            self._fail(error, context)
        except HailuoTimeoutError as error:
            # A timeout means what it does in poke mode: no retry (and a skip under soft_fail).
            self._fail(AirflowSensorTimeout(str(error)), context)
        # Started in the triggerer, the sensor ran nothing on a worker before this point.
        record_task_id(context, task.id)
        return self.deliver(task, context)

    # -- OpenLineage: the video as the output; a sensor knows no frames ------------------------

    def lineage_task_id(self) -> str | None:
        return self.hailuo_task_id if isinstance(self.hailuo_task_id, str) else None
