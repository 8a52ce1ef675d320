"""HailuoImageToVideoOperator: validate, submit, wait in the triggerer (or the worker), finish.

Kept cheap to import, since every DAG file that uses it imports it at parse time: Pillow, aiohttp
and the emulator are never imported here, and the hook only when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_hailuo.completion import complete
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
    HailuoTransientError,
    HailuoValidationError,
)
from airflow_provider_hailuo.images import check_source
from airflow_provider_hailuo.links import HailuoVideoLink, record_task_id
from airflow_provider_hailuo.params import (
    BOOL_PARAMETERS,
    DEFAULT_MODEL,
    IMAGE_PARAMETERS,
    GenerationRequest,
)
from airflow_provider_hailuo.protocol import failure_error, still_rendering_warning
from airflow_provider_hailuo.quota import is_quota_refusal, plan_wait
from airflow_provider_hailuo.storage import check_destination, normalise_destination

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
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

    return Retrying(stop=stop_after_attempt(_RECORD_ATTEMPTS), wait=wait_incrementing(start=1), reraise=True)


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
        return self._run(context, refusals=refusals, quota_deadline=quota_deadline)

    def _run(self, context: Context, *, refusals: int, quota_deadline: float | None) -> Any:
        """Everything from the rendered parameters to the result; ``refusals`` and
        ``quota_deadline`` carry an earlier quota wait of this try over a deferral."""
        # Checked again after rendering, before anything is sent (also covers mapped values);
        # the hook logs the warnings when it submits.
        request = self.generation_request()
        request.validate()
        for name in IMAGE_PARAMETERS:
            if getattr(request, name) is not None:
                check_source(getattr(request, name), name)
        check_destination(self._destination())
        task: HailuoTask | None = None
        records: RecordStore | None = None
        fingerprint = ""
        if self.durable:
            records = record_store(context)
            fingerprint = request_fingerprint(request)
            task = self._resume(records, fingerprint)
        if task is not None:
            task_id = task.id
        else:
            # Built once: a refused create goes again with the same body (a file object frame
            # cannot be read twice, and a 20 MB frame need not be read and encoded again).
            body = self.hook.prepare_create_body(request)
            while True:
                try:
                    task_id = self._create(body, records, fingerprint)
                    break
                except HailuoTransientError as refusal:
                    if not self._waits_for_quota(refusal):
                        raise
                    refusals += 1
                    quota_deadline = self._wait_for_quota(refusal, refusals, quota_deadline)
        self._hailuo_task_id = task_id
        record_task_id(context, task_id)
        if not self.wait_for_completion:
            self.log.info("Not waiting for Hailuo task %s (wait_for_completion=False)", task_id)
            return task_id
        if task is None or not task.is_final:
            if self.deferrable:
                self._defer_to_trigger(task_id)
            task = self.hook.wait_for_task(task_id, poll_interval=self.poll_interval, timeout=self.timeout)
        if not task.is_success:
            raise failure_error(task)
        return self._deliver(task, context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the result on success; an exception on anything else."""
        from airflow_provider_hailuo.triggers.hailuo import task_from_event

        task = task_from_event(event)
        self._hailuo_task_id = task.id
        return self._deliver(task, context)

    def on_kill(self) -> None:
        """Killed while its video renders: the gateway task renders on, and is charged for."""
        task_id = self._hailuo_task_id
        if task_id is not None and not self.hook.cancel_task(task_id):
            self.log.warning("%s", still_rendering_warning(task_id))

    def _destination(self) -> Any:
        """``download_to`` as rendered: a template that rendered ``""`` or ``"None"`` is unset."""
        return normalise_destination(self.download_to)

    def _resume(self, records: RecordStore, fingerprint: str) -> HailuoTask | None:
        """The gateway task an earlier try of this task instance made for this request, if usable.

        ``None`` means "submit": there is no record, it was made for other parameters, or its task
        failed or is gone. Anything uncertain raises instead, and nothing is submitted.
        """
        record = records.get()
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
                ),
                method_name=self.execute_after_quota_wait.__name__,
                kwargs={"refusals": refusals, "quota_deadline": deadline},
                timeout=timedelta(seconds=deadline - now + DEFERRAL_GRACE_SECONDS),
            )
        time.sleep(max(0.0, wait.not_before - time.time()))
        return deadline

    def _create(self, body: dict[str, Any], records: RecordStore | None, fingerprint: str) -> str:
        """Send the create (a quota refusal raised at once when this task waits for quota itself)."""
        retry_refusals = self.max_quota_wait == 0
        if records is None:
            return self.hook.create_task(body, retry_refusals=retry_refusals)
        return self._submit(body, records, fingerprint, retry_refusals=retry_refusals)

    def _submit(
        self, body: dict[str, Any], records: RecordStore, fingerprint: str, *, retry_refusals: bool
    ) -> str:
        """Create the gateway task, its id recorded durably before anything else happens."""
        records.put(JobRecord(request=fingerprint, hailuo_task_id=None, recorded_at=time.time()))
        try:
            task_id = self.hook.create_task(body, retry_refusals=retry_refusals)
        except HailuoAmbiguousSubmitError:
            raise  # the intent stays: a later try must not send this again
        except Exception as failure:
            # The gateway refused it, or never got it: nothing to resume. A failure to delete the
            # intent must not hide why the create failed (the next try then refuses to resend).
            if not self._forget_intent(records) and is_quota_refusal(failure):
                # Waiting for quota would end in a try that finds the intent and refuses to send.
                raise HailuoError(
                    f"The gateway refused the create for its quota ({failure}) and the record of the "
                    f"attempt could not be removed ({records.where}): nothing was created. To send it "
                    f"again, remove the record ({records.removal}) and clear the task."
                ) from failure
            raise
        self._record(records, JobRecord(request=fingerprint, hailuo_task_id=task_id, recorded_at=time.time()))
        return task_id

    def _forget_intent(self, records: RecordStore) -> bool:
        """Remove the intent of a create nobody accepted (a store hiccup retried); False if it stays."""
        try:
            for attempt in _store_retrying():
                with attempt:
                    records.delete()
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
            ),
            method_name="execute_complete",
            # Airflow's own deadline is a backstop behind the trigger's end time, which fails
            # the task with a clearer message.
            timeout=timedelta(seconds=self.timeout + self.poll_interval + DEFERRAL_GRACE_SECONDS),
        )

    def _deliver(self, task: HailuoTask, context: Context) -> dict[str, Any]:
        # The record stays: deleting it before Airflow has stored the success (the return value's
        # XCom, the state) would let a retry of that window pay again.
        return complete(task, context, hook=self.hook, logger=self.log, download_to=self._destination())
