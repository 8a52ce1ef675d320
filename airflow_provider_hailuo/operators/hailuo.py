"""HailuoImageToVideoOperator: validate, submit, wait in the triggerer (or the worker), finish.

Kept cheap to import, since every DAG file that uses it imports it at parse time: Pillow, aiohttp
and the emulator are never imported here, and the hook only when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_hailuo.assets import annotate_outlet_events
from airflow_provider_hailuo.completion import complete
from airflow_provider_hailuo.cost import check_video_cap, describe_request, format_usd, parse_usd
from airflow_provider_hailuo.defaults import (
    DEFAULT_MAX_QUOTA_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    DEFERRAL_GRACE_SECONDS,
    MIN_QUOTA_DEFERRAL_SECONDS,
    NOT_FOUND_GRACE_SECONDS,
)
from airflow_provider_hailuo.durable import JobRecord, RecordStore, record_store, request_fingerprint
from airflow_provider_hailuo.exceptions import (
    HailuoAmbiguousSubmitError,
    HailuoError,
    HailuoNotFoundError,
    HailuoQuotaWaitExpiredError,
    HailuoTaskFailedError,
    HailuoTransientError,
    HailuoValidationError,
)
from airflow_provider_hailuo.images import check_source, shown_value
from airflow_provider_hailuo.links import HailuoVideoLink
from airflow_provider_hailuo.params import (
    BOOL_PARAMETERS,
    DEFAULT_MODEL,
    IMAGE_PARAMETERS,
    GenerationRequest,
)
from airflow_provider_hailuo.protocol import failure_error, still_rendering_warning
from airflow_provider_hailuo.quota import is_quota_refusal, plan_wait
from airflow_provider_hailuo.spend import RUN_CAP_PARAM, RunBudget
from airflow_provider_hailuo.storage import check_destination, normalise_destination
from airflow_provider_hailuo.xcoms import record_failure, record_request, record_task_id

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage
    from tenacity import Retrying

    from airflow_provider_hailuo.hooks.hailuo import HailuoHook
    from airflow_provider_hailuo.protocol import HailuoTask

# The generation parameters, in the order of the model's page; all are templated.
GENERATION_FIELDS: tuple[str, ...] = (
    "first_frame_image",
    "last_frame_image",
    "prompt",
    "prompt_optimizer",
    "duration",
    "resolution",
    "callback_url",
    "aigc_watermark",
    "fast_pretreatment",
    "model",
)
_TEXT_BOOLEANS = {"true": True, "false": False}
# Writes to the durable record store: a hiccup is retried (1 s, 2 s) before giving up on it.
_RECORD_ATTEMPTS = 3


def _store_retrying() -> Retrying:
    """Retries of a write to the durable record store (1 s, then 2 s)."""
    from tenacity import Retrying, stop_after_attempt, wait_incrementing

    return Retrying(
        stop=stop_after_attempt(_RECORD_ATTEMPTS), wait=wait_incrementing(start=1, increment=1), reraise=True
    )


def _is_template(value: object) -> bool:
    """A value only known when the task runs: Jinja text, or an XComArg/other lazy reference."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return hasattr(value, "resolve") and hasattr(value, "iter_references")


def _from_rendered_text(name: str, value: object) -> object:
    """Jinja renders to text unless the DAG renders native objects: ``"10"`` -> 10, ``"true"`` -> True,
    and an optional value that rendered empty (``""``, ``"None"``) is unset.

    Only applied to values that were templates; a literal of the wrong type stays an error.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if name != "first_frame_image" and text in ("", "None"):
        return None
    if name == "duration" and text.isdigit():
        return int(text)
    if name in BOOL_PARAMETERS and text.lower() in _TEXT_BOOLEANS:
        return _TEXT_BOOLEANS[text.lower()]
    return value


def _creates_videos(task: object) -> bool:
    """Whether a task of the DAG is this operator (or a subclass), mapped or not."""
    operator_class = getattr(task, "operator_class", type(task))
    return isinstance(operator_class, type) and issubclass(operator_class, HailuoImageToVideoOperator)


class HailuoImageToVideoOperator(BaseOperator):
    """Turn a still image (or a first and a last frame) into a video with MiniMax Hailuo 02.

    Every generation parameter is checked before the first request; the gateway task id is pushed
    to XCom (``hailuo_task_id``) as soon as the task exists; the wait happens in the triggerer when
    ``deferrable``; the return value is the result dict (see the README), with ``local_path`` when
    ``download_to`` is set. A retry of the task picks up the gateway task an earlier try created
    (Airflow 3.3+, through the task state store) instead of paying for a second video.

    :param first_frame_image: the first frame: http(s) URL, data URL, local path, bytes, file
        object, ObjectStoragePath or a URI such as ``s3://bucket/key.png``. Templated.
    :param last_frame_image: optional last frame, same forms. Templated.
    :param prompt: at most 2000 characters, with bracketed camera instructions. Templated.
    :param prompt_optimizer: let the gateway rewrite the prompt (its default: True). Templated.
    :param duration: 6 or 10 seconds (gateway default 6). Templated.
    :param resolution: "512P", "768P" or "1080P" (gateway default "768P"). Templated.
    :param callback_url: http(s) URL the gateway notifies of status changes. Templated.
    :param aigc_watermark: add the AI-generated watermark (gateway default False). Templated.
    :param fast_pretreatment: optional pass-through flag for Hailuo models. Templated.
    :param model: the model id. Templated.
    :param hailuo_conn_id: connection of type ``hailuo``.
    :param deferrable: wait in the triggerer, freeing the worker slot (default from
        ``[operators] default_deferrable``).
    :param poll_interval: seconds between polls.
    :param timeout: seconds to wait for the video before failing.
    :param wait_for_completion: False returns the gateway task id right after submitting.
    :param download_to: local path or ObjectStoragePath URI (a folder, or a file name) to stream
        the video to; the result then has ``local_path``. Templated.
    :param durable: resume the gateway task of an earlier try instead of submitting anew
        (every supported Airflow: the task state store on 3.3+, an Airflow Variable before).
    :param max_quota_wait: seconds a create refused for the gateway's quota (429, 503) may wait
        and be sent again, counted from the first refusal and never longer than ``timeout``; the
        wait happens in the triggerer when ``deferrable``. 0 fails the task once the connection's
        own retries of the refusal run out.
    :param max_cost_usd: refuse, before sending anything, a video whose estimated cost (from the
        connection's ``price_table`` extra) is over this many US dollars, or has no price there.
    :param max_run_cost_usd: refuse, before sending anything, a video that would take what this
        DAG run's Hailuo tasks have committed (estimates until their actual costs are known) over
        this many US dollars; unset, the DAG param ``hailuo_max_run_cost_usd`` applies, if any.
    :param dry_run: validate and resolve everything (the connection, the frames, the estimate, the
        caps), log the request and its estimate, return a result with ``dry_run: True``; nothing
        is sent to the gateway.
    """

    template_fields: Sequence[str] = (*GENERATION_FIELDS, "download_to")
    operator_extra_links = (HailuoVideoLink(),)
    ui_color = "#f3e5ff"

    def __init__(
        self,
        *,
        first_frame_image: Any,
        last_frame_image: Any = None,
        prompt: str | None = None,
        prompt_optimizer: bool | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        callback_url: str | None = None,
        aigc_watermark: bool | None = None,
        fast_pretreatment: bool | None = None,
        model: str = DEFAULT_MODEL,
        hailuo_conn_id: str = "hailuo_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        wait_for_completion: bool = True,
        download_to: Any = None,
        durable: bool = True,
        max_quota_wait: float = DEFAULT_MAX_QUOTA_WAIT,
        max_cost_usd: float | str | Decimal | None = None,
        max_run_cost_usd: float | str | Decimal | None = None,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.first_frame_image = first_frame_image
        self.last_frame_image = last_frame_image
        self.prompt = prompt
        self.prompt_optimizer = prompt_optimizer
        self.duration = duration
        self.resolution = resolution
        self.callback_url = callback_url
        self.aigc_watermark = aigc_watermark
        self.fast_pretreatment = fast_pretreatment
        self.model = model
        self.hailuo_conn_id = hailuo_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.wait_for_completion = wait_for_completion
        self.download_to = download_to
        self.durable = durable
        self.max_quota_wait = max_quota_wait
        self.max_cost_usd = None if max_cost_usd is None else parse_usd(max_cost_usd, "max_cost_usd")
        self.max_run_cost_usd = (
            None if max_run_cost_usd is None else parse_usd(max_run_cost_usd, "max_run_cost_usd")
        )
        # Not ``self.dry_run``: BaseOperator.dry_run() renders templates for ``airflow tasks test``.
        self.is_dry_run = dry_run
        if poll_interval <= 0:
            raise HailuoValidationError("poll_interval", f"poll_interval={poll_interval!r} must be positive")
        if timeout <= 0:
            raise HailuoValidationError("timeout", f"timeout={timeout!r} must be positive")
        if max_quota_wait < 0:
            raise HailuoValidationError(
                "max_quota_wait", f"max_quota_wait={max_quota_wait!r} must be 0 (do not wait) or positive"
            )
        if download_to is not None and not wait_for_completion:
            raise HailuoValidationError(
                "download_to", "download_to needs wait_for_completion=True: there is no video to download yet"
            )
        if not _is_template(download_to):
            check_destination(download_to, registry=False)  # whole in execute, before any request
        # Rendered templates come back as text; remember which values were templates (see execute).
        self._templated_fields = frozenset(
            name for name in GENERATION_FIELDS if _is_template(getattr(self, name))
        )
        # The gateway task this try works on, once known: what on_kill reports.
        self._hailuo_task_id: str | None = None
        # The try running now, told to the triggers it defers to (they echo it in their events).
        self._try_number: int | None = None
        self._validate_literals()

    def _validate_literals(self) -> None:
        """Refuse at DAG-parse time what is already known to be wrong.

        Templated values stand in as "unset": the gateway's defaults (6 s, 768P, no last frame)
        are the most permissive choices of every table, so this never refuses a valid DAG.
        """
        literal: dict[str, Any] = {
            name: (None if name in self._templated_fields else getattr(self, name))
            for name in GENERATION_FIELDS
        }
        for name in IMAGE_PARAMETERS:
            if literal[name] is not None:
                check_source(literal[name], name, registry=False)
        if literal["first_frame_image"] is None and "first_frame_image" not in self._templated_fields:
            raise HailuoValidationError("first_frame_image", "first_frame_image is required")
        literal["first_frame_image"] = literal["first_frame_image"] or "https://placeholder.invalid/frame.png"
        if literal["model"] is None:
            literal["model"] = DEFAULT_MODEL
        for warning in GenerationRequest(**literal).validate():
            self.log.warning("%s", warning)

    def generation_request(self) -> GenerationRequest:
        """The rendered parameters as a request (templates that rendered to text are read as such)."""
        values: dict[str, Any] = {
            name: _from_rendered_text(name, getattr(self, name))
            if name in self._templated_fields
            else getattr(self, name)
            for name in GENERATION_FIELDS
        }
        return GenerationRequest(**values)

    @cached_property
    def hook(self) -> HailuoHook:
        from airflow_provider_hailuo.hooks.hailuo import HailuoHook

        return HailuoHook(self.hailuo_conn_id)

    # -- execution -----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        return self._run(context, refusals=0, quota_deadline=None)

    def execute_after_quota_wait(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        refusals: int = 0,
        quota_deadline: float | None = None,
    ) -> Any:
        """Resume after waiting for the gateway's quota in the triggerer: send the create again."""
        if self._resumed_by_an_earlier_try(context, event):
            return self.execute(context)
        return self._run(context, refusals=refusals, quota_deadline=quota_deadline)

    def _resumed_by_an_earlier_try(self, context: Context, event: dict[str, Any] | None) -> bool:
        """Whether Airflow resumed this try with an earlier try's event (see is_from_an_earlier_try);
        the try then starts afresh, and its durable record finds the gateway task."""
        from airflow_provider_hailuo.triggers.base import is_from_an_earlier_try

        if not is_from_an_earlier_try(event, context["ti"].try_number):
            return False
        self.log.warning(
            "Airflow resumed try %s with the event of an earlier try (%s): starting this try afresh",
            context["ti"].try_number,
            event.get("message") or event.get("status") if event else None,
        )
        return True

    def _run(self, context: Context, *, refusals: int, quota_deadline: float | None) -> Any:
        """Everything from the rendered parameters to the result; ``refusals`` and
        ``quota_deadline`` carry an earlier quota wait of this try over a deferral."""
        self._try_number = context["ti"].try_number
        # Checked again after rendering, before anything is sent (also covers mapped values);
        # the hook logs the warnings when it submits.
        request = self.generation_request()
        request.validate()
        for name in IMAGE_PARAMETERS:
            if getattr(request, name) is not None:
                check_source(getattr(request, name), name)
        check_destination(self._destination())
        estimate = self.hook.estimate_cost(request)
        check_video_cap(estimate, self.max_cost_usd, request, self.hailuo_conn_id)
        if self.is_dry_run:
            return self._dry_run(request, estimate, context)
        task: HailuoTask | None = None
        records: RecordStore | None = None
        record: JobRecord | None = None
        fingerprint = ""
        if self.durable:
            records = record_store(context)
            fingerprint = request_fingerprint(request)
            record = records.get()
            if record is not None and record.committed:
                # This try's XCom starts empty: the run counts the earlier tries' videos again,
                # before anything here can fail.
                self._run_budget(context).commit(record.committed, carried=Decimal(record.carried))
            task = self._resume(record, records, fingerprint)
        if task is not None:
            task_id = task.id
        else:
            # Earlier tries' videos (rendering or not) still count against the run's cap.
            carried = record.committed if record is not None else Decimal(0)
            budget = self._run_budget(context)
            # Before the frames are read: a batch past its cap spends no time encoding them.
            budget.reserve(estimate, carried=carried, what=describe_request(request))
            try:
                # Built once: a refused create goes again with the same body (a file object frame
                # cannot be read twice, and a 20 MB frame need not be read and encoded again).
                body = self.hook.prepare_create_body(request)
                intent = JobRecord(
                    request=fingerprint,
                    hailuo_task_id=None,
                    recorded_at=time.time(),
                    estimate=None if estimate is None else format_usd(estimate),
                    carried=format_usd(carried),
                )
                task_id = self._create_until_accepted(
                    body, records, intent, record, refusals=refusals, quota_deadline=quota_deadline
                )
            except HailuoAmbiguousSubmitError:
                raise  # the gateway may have taken it: the estimate stays committed
            except HailuoError:
                if estimate is not None:  # nothing was accepted: give the estimate back
                    budget.commit(carried, carried=carried)
                raise
        self._hailuo_task_id = task_id
        record_task_id(context, task_id)
        record_request(context, request)
        if not self.wait_for_completion:
            self.log.info("Not waiting for Hailuo task %s (wait_for_completion=False)", task_id)
            return task_id
        if task is None or not task.is_final:
            if self.deferrable:
                self._defer_to_trigger(task_id)
            task = self.hook.wait_for_task(task_id, poll_interval=self.poll_interval, timeout=self.timeout)
        if not task.is_success:
            self._hailuo_failure = failure_error(task)
            record_failure(context, self._hailuo_failure)
            raise self._hailuo_failure
        return self._deliver(task, context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the result on success; an exception on anything else."""
        from airflow_provider_hailuo.triggers.hailuo import task_from_event

        if self._resumed_by_an_earlier_try(context, event):
            return self.execute(context)  # type: ignore[no-any-return]
        try:
            task = task_from_event(event)
        except HailuoTaskFailedError as failure:
            self._hailuo_failure = failure
            record_failure(context, failure)
            raise
        self._hailuo_task_id = task.id
        return self._deliver(task, context)

    def on_kill(self) -> None:
        """Killed while its video renders: the gateway task renders on, and is charged for."""
        task_id = self._hailuo_task_id
        if task_id is not None and not self.hook.cancel_task(task_id):
            self.log.warning("%s", still_rendering_warning(task_id))

    # -- spend ----------------------------------------------------------------------------------

    def _run_cap(self, context: Context) -> Decimal | None:
        """The operator's ``max_run_cost_usd``, else the DAG run's ``hailuo_max_run_cost_usd`` param."""
        if self.max_run_cost_usd is not None:
            return self.max_run_cost_usd
        value = (context.get("params") or {}).get(RUN_CAP_PARAM)
        return None if value is None else parse_usd(value, RUN_CAP_PARAM)

    def _run_budget(self, context: Context) -> RunBudget:
        # Every task of the DAG that creates videos spends from the run's budget, mapped or not.
        tasks = self.dag.tasks if self.has_dag() else [self]  # type: ignore[no-untyped-call]
        spenders = [task.task_id for task in tasks if _creates_videos(task)]
        return RunBudget(context["ti"], spenders, self._run_cap(context))

    def _settle(self, task: HailuoTask, context: Context) -> None:
        """The gateway's actual cost replaces the video's estimate in the run's spend.

        Best effort: the video is paid for and delivered, and failing its task here would make a
        retry of ``durable=False`` pay again; the estimate then stays counted instead.
        """
        if task.cost is None:
            return
        try:
            cost = parse_usd(task.cost, "usage.cost")
            budget = self._run_budget(context)
            own = budget.own()
            carried = own.carried if own is not None else Decimal(0)
            at = own.at if own is not None else None
            budget.commit(carried + cost, carried=carried, settled=True, at=at)
        except Exception as error:
            self.log.warning(
                "Could not replace the estimate of Hailuo task %s with its cost in the run's spend (%s); "
                "the estimate stays counted",
                task.id,
                error,
            )

    def _dry_run(
        self, request: GenerationRequest, estimate: Decimal | None, context: Context
    ) -> dict[str, Any]:
        """Everything but the create: the connection, the frames, the caps; nothing is sent."""
        body = self.hook.prepare_create_body(request)  # logs the request, frames shortened
        self._run_budget(context).check(estimate, carried=Decimal(0), what=describe_request(request))
        shown = {name: shown_value(value) for name, value in body["input"][0]["params"].items()}
        estimated = None if estimate is None else format_usd(estimate)
        self.log.info(
            "Dry run: nothing was sent to the gateway. Estimated cost: %s",
            f"${estimated}"
            if estimated is not None
            else "unknown (no price in the connection's price_table)",
        )
        result: dict[str, Any] = {
            "dry_run": True,
            "hailuo_task_id": None,
            "status": "dry_run",
            "model": request.model,
            "params": shown,
            "estimated_cost": estimated,
            "video_url": None,
            "video_urls": [],
            "content": [],
            "cost": None,
            "discount": None,
            "metadata": {},
        }
        annotate_outlet_events(context, result)  # Airflow emits the outlets' events even so
        return result

    def _destination(self) -> Any:
        """``download_to`` as rendered: a template that rendered ``""`` or ``"None"`` is unset."""
        return normalise_destination(self.download_to)

    def _resume(self, record: JobRecord | None, records: RecordStore, fingerprint: str) -> HailuoTask | None:
        """The gateway task an earlier try of this task instance made for this request, if usable.

        ``None`` means "submit": there is no record, it was made for other parameters, or its task
        failed or is gone. Anything uncertain raises instead, and nothing is submitted.
        """
        if record is None:
            return None
        if record.request != fingerprint:
            self.log.warning(
                "An earlier try created Hailuo task %s for other parameters; not resuming it (if it is still "
                "rendering, it is charged for)",
                record.hailuo_task_id or "(its id was never recorded)",
            )
            return None
        if record.hailuo_task_id is None:
            raise HailuoAmbiguousSubmitError(
                f"An earlier try sent a create request for these parameters {record.age():.0f} s ago and "
                "stopped before recording the answer: the gateway may have created (and may charge for) a "
                "video. Nothing is sent again, and the task is not retried; check the gateway's task list. "
                f"To submit anyway, remove the record ({records.removal}) and clear the task."
            )
        task_id = record.hailuo_task_id
        try:
            task = self.hook.get_task(task_id)
        except HailuoNotFoundError as err:
            if not err.gateway_error:
                raise HailuoError(
                    f"Polling Hailuo task {task_id}, which an earlier try created, answered {err}, not the "
                    "gateway's own 'not found': no proof the task is gone (a proxy's page or a wrong "
                    "task_path looks the same), so nothing is submitted. Check the connection's host and "
                    "task_path."
                ) from None
            if record.age() < NOT_FOUND_GRACE_SECONDS:
                raise HailuoError(
                    f"The gateway does not know Hailuo task {task_id} yet, which an earlier try created "
                    f"{record.age():.0f} s ago (a gateway can take a moment to list a new task). Nothing is "
                    "submitted; a retry looks again."
                ) from None
            self.log.warning(
                "An earlier try created Hailuo task %s, which the gateway no longer knows; submitting anew",
                task_id,
            )
            return None
        if task.is_final and not task.is_success:
            self.log.warning(
                "An earlier try created Hailuo task %s, which ended %s; submitting anew", task_id, task.status
            )
            return None
        self.log.info("Resuming Hailuo task %s, created by an earlier try; it is %s", task_id, task.status)
        return task

    def _waits_for_quota(self, error: HailuoTransientError) -> bool:
        return self.max_quota_wait > 0 and is_quota_refusal(error)

    def _wait_for_quota(
        self, refusal: HailuoTransientError, refusals: int, quota_deadline: float | None
    ) -> float:
        """Wait until the refused create may be sent again (in the triggerer when deferrable).

        Returns the deadline of this try's quota waits (set at the first refusal); past it, fails.
        """
        now = time.time()
        deadline = quota_deadline or now + min(self.max_quota_wait, self.timeout)
        wait = plan_wait(refusal, refusals=refusals, now=now, deadline=deadline)
        if self.deferrable:  # see MIN_QUOTA_DEFERRAL_SECONDS; at the deadline, one last attempt
            floor = min(now + MIN_QUOTA_DEFERRAL_SECONDS, deadline)
            wait = replace(wait, not_before=max(wait.not_before, floor))
        if not wait.within_deadline:
            raise HailuoQuotaWaitExpiredError(
                f"The gateway still refuses the create for its quota after {refusals} refusals ({refusal}); "
                f"nothing was accepted or charged. The wait for quota ended (max_quota_wait="
                f"{self.max_quota_wait:g} s, timeout={self.timeout:g} s): raise them, or size a pool to the "
                "account's quota (see the README, 'Batches and the gateway's quota')."
            ) from refusal
        where = "in the triggerer" if self.deferrable else "in this worker (deferrable=False)"
        turns = " and in turn with this connection's other waiting tasks" if self.deferrable else ""
        self.log.warning(
            "The gateway refused the create (%s); nothing was accepted or charged. Waiting %s for its "
            "quota, at least %.0f s%s, then sending it again (refusal %d; gives up %.0f s from now, "
            "max_quota_wait=%g s)",
            refusal,
            where,
            wait.not_before - now,
            turns,
            refusals,
            deadline - now,
            self.max_quota_wait,
        )
        if self.deferrable:
            from airflow_provider_hailuo.triggers.quota import HailuoQuotaWaitTrigger

            self.defer(
                trigger=HailuoQuotaWaitTrigger(
                    hailuo_conn_id=self.hailuo_conn_id,
                    not_before=wait.not_before,
                    spacing=wait.spacing,
                    end_time=deadline,
                    try_number=self._try_number,
                ),
                method_name=self.execute_after_quota_wait.__name__,
                kwargs={"refusals": refusals, "quota_deadline": deadline},
                timeout=timedelta(seconds=deadline - now + DEFERRAL_GRACE_SECONDS),
            )
        time.sleep(max(0.0, wait.not_before - time.time()))
        return deadline

    def _create_until_accepted(
        self,
        body: dict[str, Any],
        records: RecordStore | None,
        intent: JobRecord,
        previous: JobRecord | None,
        *,
        refusals: int,
        quota_deadline: float | None,
    ) -> str:
        """Send the create, waiting for the gateway's quota after each refusal (see max_quota_wait)."""
        while True:
            try:
                return self._create(body, records, intent, previous)
            except HailuoTransientError as refusal:
                if not self._waits_for_quota(refusal):
                    raise
                refusals += 1
                quota_deadline = self._wait_for_quota(refusal, refusals, quota_deadline)

    def _create(
        self, body: dict[str, Any], records: RecordStore | None, intent: JobRecord, previous: JobRecord | None
    ) -> str:
        """Send the create (a quota refusal raised at once when this task waits for quota itself);
        ``intent`` is recorded first when the task is ``durable``."""
        retry_refusals = self.max_quota_wait == 0
        if records is None:
            return self.hook.create_task(body, retry_refusals=retry_refusals)
        intent = replace(intent, recorded_at=time.time())
        return self._submit(body, records, intent, previous, retry_refusals=retry_refusals)

    def _submit(
        self,
        body: dict[str, Any],
        records: RecordStore,
        intent: JobRecord,
        previous: JobRecord | None,
        *,
        retry_refusals: bool,
    ) -> str:
        """Create the gateway task, its id recorded durably before anything else happens.

        ``previous`` is the record the intent replaces (an earlier try's), put back if the gateway
        accepts nothing: its video still counts against the run's cost cap.
        """
        records.put(intent)
        try:
            task_id = self.hook.create_task(body, retry_refusals=retry_refusals)
        except HailuoAmbiguousSubmitError:
            raise  # the intent stays: a later try must not send this again
        except Exception as failure:
            # The gateway refused it, or never got it: nothing to resume. A failure to delete the
            # intent must not hide why the create failed (the next try then refuses to resend).
            if not self._forget_intent(records, previous) and is_quota_refusal(failure):
                # Waiting for quota would end in a try that finds the intent and refuses to send.
                raise HailuoError(
                    f"The gateway refused the create for its quota ({failure}) and the record of the "
                    f"attempt could not be removed ({records.where}): nothing was created. To send it "
                    f"again, remove the record ({records.removal}) and clear the task."
                ) from failure
            raise
        self._record(records, replace(intent, hailuo_task_id=task_id, recorded_at=time.time()))
        return task_id

    def _forget_intent(self, records: RecordStore, previous: JobRecord | None) -> bool:
        """Replace the intent of a create nobody accepted with the record it replaced, or remove it
        (a store hiccup retried); False if the intent stays."""
        try:
            for attempt in _store_retrying():
                with attempt:
                    if previous is None:
                        records.delete()
                    else:
                        records.put(previous)
        except Exception as error:
            self.log.error(
                "Could not remove the record of a create that failed (%s): %s", records.where, error
            )
            return False
        return True

    def _record(self, records: RecordStore, record: JobRecord) -> None:
        """Write the id of a video just paid for; a store hiccup is retried, not fatal.

        Failing the try here would throw the video away (the retry finds the intent and refuses to
        resend): the id is kept in this try and logged where a person can find it.
        """
        try:
            for attempt in _store_retrying():
                with attempt:
                    records.put(record)
        except Exception as error:
            self.log.error(
                "Hailuo task %s was created but its id could not be recorded in %s (%s); this try goes on "
                "with it. If this try fails, its retry will refuse to resend: resume by hand with "
                "HailuoTaskSensor(hailuo_task_id=%r).",
                record.hailuo_task_id,
                records.where,
                error,
                record.hailuo_task_id,
            )

    def _defer_to_trigger(self, task_id: str) -> None:
        from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger

        self.defer(
            trigger=HailuoTaskTrigger(
                hailuo_task_id=task_id,
                hailuo_conn_id=self.hailuo_conn_id,
                poll_interval=self.poll_interval,
                end_time=time.time() + self.timeout,
                try_number=self._try_number,
            ),
            method_name="execute_complete",
            # Airflow's own deadline is a backstop behind the trigger's end time, which fails
            # the task with a clearer message.
            timeout=timedelta(seconds=self.timeout + self.poll_interval + DEFERRAL_GRACE_SECONDS),
        )

    def _deliver(self, task: HailuoTask, context: Context) -> dict[str, Any]:
        # The record stays: deleting it before Airflow has stored the success (the return value's
        # XCom, the state) would let a retry of that window pay again.
        self._settle(task, context)
        self._completed_result = complete(
            task,
            context,
            hook=self.hook,
            logger=self.log,
            download_to=self._destination(),
            request=self.generation_request(),
        )
        return self._completed_result

    # -- OpenLineage (called by its listener, when apache-airflow-providers-openlineage is installed) --

    # What this process learned for the OpenLineage events, set where it happens: after a deferral
    # the listener asks the fresh operator that ran execute_complete, so nothing is carried over.
    _completed_result: dict[str, Any] | None = None
    _hailuo_failure: HailuoTaskFailedError | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:  # type: ignore[type-arg]
        """The frames as inputs, the video as the output, the gateway's facts as a run facet."""
        from airflow_provider_hailuo.lineage import generation_lineage

        return generation_lineage(
            request=self.generation_request(),
            result=self._completed_result,
            failure=self._hailuo_failure,
            hailuo_task_id=self._hailuo_task_id,
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:  # type: ignore[type-arg]
        """The same, with what is known: the frames, the gateway task and its error if it failed."""
        return self.get_openlineage_facets_on_complete(task_instance)
