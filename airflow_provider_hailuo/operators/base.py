"""HailuoVideoOperator: what every Hailuo operator does (validate, pay once, wait in the triggerer
or the worker, deliver); the public operators (``hailuo.py``) differ in their parameters only.

Kept cheap to import, since every DAG file that uses them imports it at parse time: Pillow,
aiohttp and the emulator are never imported here, and the hook only when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_hailuo.exceptions import HailuoTaskFailedError, HailuoValidationError
from airflow_provider_hailuo.gateway.cost import check_video_cap, describe_request, format_usd, parse_usd
from airflow_provider_hailuo.gateway.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_MAX_QUOTA_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
)
from airflow_provider_hailuo.gateway.models import Kind
from airflow_provider_hailuo.gateway.params import IMAGE_PARAMETERS, GenerationRequest, check_model
from airflow_provider_hailuo.gateway.protocol import failure_error, still_rendering_warning
from airflow_provider_hailuo.gateway.seconds import to_seconds
from airflow_provider_hailuo.integration.durable import JobRecord, request_fingerprint
from airflow_provider_hailuo.integration.links import HailuoVideoLink
from airflow_provider_hailuo.integration.spend import RunBudget
from airflow_provider_hailuo.integration.xcoms import record_request, record_task_id
from airflow_provider_hailuo.media.images import check_source
from airflow_provider_hailuo.media.storage import check_destination, normalise_destination
from airflow_provider_hailuo.operators.arguments import (
    GENERATION_FIELDS,
    check_download_to,
    check_literals,
    is_template,
    rendered_request,
)
from airflow_provider_hailuo.operators.dry_run import dry_run_result
from airflow_provider_hailuo.operators.quota_wait import QuotaWaitMixin
from airflow_provider_hailuo.operators.submission import DurableSubmission

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.gateway.protocol import HailuoTask


def _creates_videos(task: object) -> bool:
    """Whether a task of the DAG is a Hailuo operator (or a subclass), mapped or not."""
    operator_class = getattr(task, "operator_class", type(task))
    return isinstance(operator_class, type) and issubclass(operator_class, HailuoVideoOperator)


class HailuoVideoOperator(QuotaWaitMixin, BaseOperator):
    """Everything a Hailuo operator does but taking its generation parameters: a subclass sets
    those after ``super().__init__()``, then calls :meth:`_arguments_set`; ``video_kind`` says
    which models it makes videos with. See the public operators for the parameters shared by all
    (``model`` to ``dry_run``)."""

    template_fields: Sequence[str] = (*GENERATION_FIELDS, "download_to")
    # Which generation parameters were templates when the DAG was parsed (see _arguments_set).
    _templated_fields: frozenset[str] = frozenset()

    video_kind: ClassVar[Kind] = Kind.IMAGE_TO_VIDEO
    operator_extra_links = (HailuoVideoLink(),)
    ui_color = "#f3e5ff"

    def __init__(
        self,
        *,
        model: str,
        hailuo_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        wait_for_completion: bool = True,
        download_to: Any = None,
        durable: bool = True,
        max_quota_wait: float | timedelta = DEFAULT_MAX_QUOTA_WAIT,
        max_cost_usd: float | str | Decimal | None = None,
        max_run_cost_usd: float | str | Decimal | None = None,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Every field of the family's requests exists on every operator (unset where a kind has
        # none, set by the subclass where it has), so that one request type serves them all.
        for name in GENERATION_FIELDS:
            setattr(self, name, None)
        self.model = model
        self.hailuo_conn_id = hailuo_conn_id
        self.deferrable = deferrable
        self.poll_interval = to_seconds("poll_interval", poll_interval)
        self.timeout = to_seconds("timeout", timeout)
        self.wait_for_completion = wait_for_completion
        self.download_to = download_to
        self.durable = durable
        self.max_quota_wait = to_seconds("max_quota_wait", max_quota_wait, zero_allowed=True)
        self.max_cost_usd = None if max_cost_usd is None else parse_usd(max_cost_usd, "max_cost_usd")
        self.max_run_cost_usd = (
            None if max_run_cost_usd is None else parse_usd(max_run_cost_usd, "max_run_cost_usd")
        )
        # Not ``self.dry_run``: BaseOperator.dry_run() renders templates for ``airflow tasks test``.
        self.is_dry_run = dry_run
        if download_to is not None and not wait_for_completion:
            raise HailuoValidationError(
                "download_to", "download_to needs wait_for_completion=True: there is no video to download yet"
            )
        if not is_template(download_to):
            check_destination(download_to, registry=False)  # whole in execute, before any request
        # As given, before rendering: whether it tells map indexes apart (see check_download_to).
        self._raw_download_to = download_to
        # The gateway task this try works on, once known: what on_kill reports.
        self._hailuo_task_id: str | None = None
        # The try running now, told to the triggers it defers to (they echo it in their events).
        self._try_number: int | None = None

    def _arguments_set(self) -> None:
        """Called by a subclass once its generation parameters are set: which of them are
        templates (rendered ones come back as text, see execute), and the parse-time check."""
        self._templated_fields = frozenset(
            name for name in GENERATION_FIELDS if is_template(getattr(self, name))
        )
        self._validate_literals()

    def _validate_literals(self) -> None:
        """Refuse at DAG-parse time what is already known to be wrong (see check_literals)."""
        for warning in check_literals(self._arguments(), self._templated_fields, self.video_kind):
            self.log.warning("%s", warning)

    def generation_request(self) -> GenerationRequest:
        """The rendered parameters as a request (templates that rendered to text are read as such)."""
        return rendered_request(self._arguments(), self._templated_fields)

    def _arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in GENERATION_FIELDS}

    # -- execution -----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        return self._run(context, refusals=0, quota_deadline=None, committed_at=None)

    def execute_after_quota_wait(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        refusals: int = 0,
        quota_deadline: float | None = None,
        committed_at: float | None = None,
    ) -> Any:
        """Resume after waiting for the gateway's quota in the triggerer: send the create again
        (its run-cap commitment keeps the place it had before the wait)."""
        if self.resumed_by_an_earlier_try(context, event):
            return self.execute(context)
        return self._run(context, refusals=refusals, quota_deadline=quota_deadline, committed_at=committed_at)

    def _run(
        self, context: Context, *, refusals: int, quota_deadline: float | None, committed_at: float | None
    ) -> Any:
        """Everything from the rendered parameters to the result; ``refusals``, ``quota_deadline``
        and ``committed_at`` carry an earlier quota wait of this try over a deferral."""
        self._try_number = context["ti"].try_number
        self.deferral_floor  # noqa: B018 (read before anything is paid: a bad setting fails here)
        budget = self._run_budget(context)
        submission = DurableSubmission.open(
            context, self.hook, self.log, durable=self.durable and not self.is_dry_run
        )
        self._count_earlier_videos(budget, submission.record)
        request = self.generation_request()
        estimate = self._check_before_sending(request, context)
        if self.is_dry_run:
            return dry_run_result(request, estimate, context, hook=self.hook, budget=budget, logger=self.log)
        fingerprint = request_fingerprint(request) if submission.records is not None else ""
        task = submission.resume(fingerprint)
        if task is None:
            body = self.hook.prepare_create_body(request)
            task_id = self._pay_for_video(
                budget, submission, body, estimate, fingerprint, describe_request(request),
                refusals=refusals, quota_deadline=quota_deadline, committed_at=committed_at,
            )  # fmt: skip
        else:
            task_id = task.id
        self._hailuo_task_id = task_id
        record_task_id(context, task_id)
        record_request(context, request)
        if not self.wait_for_completion:
            self.log.info("Not waiting for Hailuo task %s (wait_for_completion=False)", task_id)
            return task_id
        if task is None or not task.is_final:
            if self.waits_in_triggerer(self.timeout):
                self.defer_to_task_trigger(
                    task_id,
                    timeout=self.timeout,
                    try_number=self._try_number,
                    kwargs=self._commitment_kwargs(),
                    created_at=submission.sent_at,
                    request=request,
                )
            task = self.hook.wait_for_task(task_id, poll_interval=self.poll_interval, timeout=self.timeout)
        return self._finish(task, context, request)

    def _count_earlier_videos(self, budget: RunBudget, record: JobRecord | None) -> None:
        """Commit to the run's spend first thing: what the earlier tries' videos count (a fresh
        try, nothing). Other tasks wait while a task instance of the run is running without a
        commitment (spend.py), and this try's XCom starts empty (a retry, or a cleared run). The
        earlier videos are committed at the time they were first committed, so that they keep their
        place among the run's commitments."""
        carried = Decimal(record.carried) if record is not None else Decimal(0)
        at = record.committed_at if record is not None else None
        self._commitment = (carried, at)
        budget.commit(record.committed if record is not None else Decimal(0), carried=carried, at=at)

    def _check_before_sending(self, request: GenerationRequest, context: Context) -> Decimal | None:
        """Every rule, checked again after rendering (also covers mapped values), the destination
        and the video's cap; returns the estimate. The frames are read when the body is built."""
        check_model(request.model, self.video_kind)  # an image operator makes no text video
        request.validate()  # its warnings are logged with the request, when the body is built
        for name in IMAGE_PARAMETERS:
            if getattr(request, name) is not None:
                check_source(getattr(request, name), name)
        check_download_to(
            self._destination(),
            context,
            raw=self._raw_download_to,
            origin=self.dag.task_dict.get(self.task_id) if self.has_dag() else None,  # type: ignore[no-untyped-call]
        )
        estimate = self.hook.estimate_cost(request)
        check_video_cap(estimate, self.max_cost_usd, request, self.hailuo_conn_id)
        return estimate

    def _pay_for_video(
        self,
        budget: RunBudget,
        submission: DurableSubmission,
        body: dict[str, Any],
        estimate: Decimal | None,
        fingerprint: str,
        what: str,
        *,
        refusals: int,
        quota_deadline: float | None,
        committed_at: float | None,
    ) -> str:
        """Reserve the video's estimate under the run's cap, then create it (waiting for quota);
        the estimate is given back only when nothing was accepted. ``body`` is built before: a
        frame that cannot be used reserves nothing, even for a moment, and a refused create goes
        again with the same body (a file object frame cannot be read twice)."""
        record = submission.record
        # Earlier tries' videos (rendering or not) still count against the run's cap.
        carried = record.committed if record is not None else Decimal(0)
        with budget.reservation(
            estimate,
            carried=carried,
            what=what,
            at=committed_at,
            carried_at=record.committed_at if record else None,
        ) as committed_at:
            self._commitment = (carried, committed_at)
            intent = submission.intent(
                fingerprint,
                estimate=None if estimate is None else format_usd(estimate),
                carried=format_usd(carried),
                committed_at=committed_at,
            )
            return self.create_until_accepted(
                body, submission, intent, refusals=refusals, quota_deadline=quota_deadline
            )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        carried: str = "0",
        committed_at: float | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger: the result on success; an exception on anything else.

        ``carried`` and ``committed_at``: this try's run-cap commitment, which the video's actual
        cost replaces (carried over the deferral, so that no XCom need be read back).
        """
        if self.resumed_by_an_earlier_try(context, event):
            return self.execute(context)  # type: ignore[no-any-return]
        self._commitment = (parse_usd(carried, "carried"), committed_at)
        try:
            task = self.completed_task(event)
        except HailuoTaskFailedError as failure:
            self.note_failure(context, failure)
            raise
        self._hailuo_task_id = task.id
        return self._finish(task, context, self.generation_request())

    def on_kill(self) -> None:
        """Killed while its video renders: the gateway task renders on, and is charged for."""
        task_id = self._hailuo_task_id
        if task_id is not None and not self.hook.cancel_task(task_id):
            self.log.warning("%s", still_rendering_warning(task_id))

    def _finish(self, task: HailuoTask, context: Context, request: GenerationRequest) -> dict[str, Any]:
        """A final gateway task: its result, or its failure raised."""
        if not task.is_success:
            failure = failure_error(task)
            self.note_failure(context, failure)
            raise failure
        # The record stays: deleting it before Airflow has stored the success (the return value's
        # XCom, the state) would let a retry of that window pay again.
        self._settle(task, context)
        return self.deliver(task, context, request=request, download_to=self._destination())

    # -- spend ----------------------------------------------------------------------------------

    def _run_budget(self, context: Context) -> RunBudget:
        # Every task of the DAG that creates videos spends from the run's budget, mapped or not.
        tasks = self.dag.tasks if self.has_dag() else [self]  # type: ignore[no-untyped-call]
        spenders = [task.task_id for task in tasks if _creates_videos(task)]
        return RunBudget.of_run(context, spenders, self.max_run_cost_usd)

    def _commitment_kwargs(self) -> dict[str, Any]:
        """This try's run-cap commitment, carried over a deferral to ``execute_complete``."""
        return {"carried": format_usd(self._commitment[0]), "committed_at": self._commitment[1]}

    def _settle(self, task: HailuoTask, context: Context) -> None:
        """The gateway's actual cost replaces the video's estimate in the run's spend.

        Best effort: the video is paid for and delivered, and failing its task here would make a
        retry of ``durable=False`` pay again; the estimate then stays counted instead.
        """
        if task.cost is None:
            return
        try:
            cost = parse_usd(task.cost, "usage.cost")
            carried, at = self._commitment
            self._run_budget(context).commit(carried + cost, carried=carried, settled=True, at=at)
        except Exception as error:
            self.log.warning(
                "Could not replace the estimate of Hailuo task %s with its cost in the run's spend (%s); "
                "the estimate stays counted",
                task.id,
                error,
            )

    def _destination(self) -> Any:
        """``download_to`` as rendered: a template that rendered ``""`` or ``"None"`` is unset."""
        return normalise_destination(self.download_to)

    # -- OpenLineage ----------------------------------------------------------------------------

    # The gateway task this try works on, once known: what on_kill and the lineage report.
    _hailuo_task_id: str | None = None

    def lineage_request(self) -> GenerationRequest | None:
        return self.generation_request()

    def lineage_task_id(self) -> str | None:
        return self._hailuo_task_id
