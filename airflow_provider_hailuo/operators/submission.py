"""One task instance's create, made at most once across its tries: the durable submission.

The operator conducts; this class keeps the promise of :mod:`airflow_provider_hailuo.integration.durable`
around the create request, in the vocabulary of Airflow 3.3's ``ResumableJobMixin``:

- :meth:`DurableSubmission.open` reads the record an earlier try of this task instance left, if
  it belongs to this DAG run;
- :meth:`DurableSubmission.resume` is the job's status check: the earlier try's gateway task
  while it is active or succeeded, ``None`` ("submit") when there is none to resume, an error
  when what happened cannot be known;
- :meth:`DurableSubmission.submit` records the intent, sends the create, and records the gateway
  task id before anything else; it forgets the intent only on proof that nothing was accepted
  (:mod:`airflow_provider_hailuo.gateway.resend`).

With ``durable=False`` there is no store: ``resume`` finds nothing and ``submit`` only creates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_hailuo.exceptions import HailuoAmbiguousSubmitError, HailuoError, HailuoNotFoundError
from airflow_provider_hailuo.gateway.quota import is_quota_refusal
from airflow_provider_hailuo.gateway.resend import nothing_accepted
from airflow_provider_hailuo.integration.durable import JobRecord, RecordStore, record_store, run_epoch

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from tenacity import Retrying

    from airflow_provider_hailuo.gateway.protocol import HailuoTask
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook

# Writes to the durable record store: a hiccup is retried (1 s, 2 s) before giving up on it.
_RECORD_ATTEMPTS = 3


def _store_retrying() -> Retrying:
    """Retries of a write to the durable record store (1 s, then 2 s)."""
    from tenacity import Retrying, stop_after_attempt, wait_incrementing

    return Retrying(
        stop=stop_after_attempt(_RECORD_ATTEMPTS), wait=wait_incrementing(start=1, increment=1), reraise=True
    )


@dataclass
class DurableSubmission:
    """The create of one try, and what earlier tries of its task instance left.

    ``records`` is the task instance's store (``None`` without ``durable``), ``record`` the
    earlier try's record in this DAG run, ``epoch`` the run's :func:`~airflow_provider_hailuo.integration.durable.run_epoch`.
    """

    hook: HailuoHook
    log: logging.Logger | Any
    records: RecordStore | None
    record: JobRecord | None
    epoch: tuple[int, str | None]
    # Unix time just before this try's create was sent (a create retried after refusals was
    # accepted later, never sooner): its render started no sooner, which is what the trigger's
    # schedule needs (gateway/render_times.py). None until this try sends one.
    sent_at: float | None = None

    @classmethod
    def open(
        cls, context: Context, hook: HailuoHook, log: logging.Logger | Any, *, durable: bool
    ) -> DurableSubmission:
        """Read the earlier try's record, if any; one another DAG run left under this run id (the
        run deleted and created again) is not this run's, and is set aside with a warning."""
        epoch = run_epoch(context)
        if not durable:
            return cls(hook, log, None, None, epoch)
        records = record_store(context)
        record = records.get()
        if record is None:
            return cls(hook, log, records, None, epoch)
        belongs = record.belongs_to(epoch)
        if belongs is None:
            # Another run created with this run id, or this run set back to queued: resuming could
            # deliver another run's video, submitting could pay twice. Neither without a person.
            task = record.hailuo_task_id or "(its id was never recorded)"
            raise HailuoAmbiguousSubmitError(
                f"The durable record holds Hailuo task {task}, written when this DAG run (clear number "
                f"{record.run_clears}) started at {record.run_started}; the run now started at {epoch[1]}. "
                "Either the run was deleted and created again with this run id, or it was set back to "
                "queued. Nothing is sent. To keep the earlier video, wait for it with "
                f"HailuoTaskSensor(hailuo_task_id={record.hailuo_task_id!r}); to make a new one (and pay "
                f"for it), remove the record ({records.removal}) and clear the task."
            )
        if not belongs:
            log.warning(
                "The durable record holds Hailuo task %s of an earlier DAG run with this run id (deleted "
                "and created again); this run makes its own video",
                record.hailuo_task_id or "(its id was never recorded)",
            )
            record = None
        return cls(hook, log, records, record, epoch)

    def intent(
        self, fingerprint: str, *, estimate: str | None, carried: str, committed_at: float
    ) -> JobRecord:
        """The record written just before the create is sent (no gateway task id yet)."""
        clears, started = self.epoch
        return JobRecord(
            request=fingerprint,
            hailuo_task_id=None,
            recorded_at=time.time(),
            estimate=estimate,
            carried=carried,
            committed_at=committed_at,
            run_clears=clears,
            run_started=started,
        )

    def resume(self, fingerprint: str) -> HailuoTask | None:
        """The gateway task an earlier try of this task instance made for this request, if usable.

        ``None`` means "submit": there is no record, it was made for other parameters, or its task
        failed. Anything uncertain raises instead, and nothing is submitted.
        """
        record, records = self.record, self.records
        if record is None or records is None:
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
            # Never taken as "gone, pay again": a proxy's 404 (Kong's JSON, an HTML page) or a wrong
            # task_path looks like the gateway's own, and a new task may not be listed yet.
            raise HailuoError(
                f"Polling Hailuo task {task_id}, which an earlier try created {record.age():.0f} s ago, "
                f"answered {err}. Nothing is sent: this may be the gateway, a proxy in front of it or a "
                "wrong task_path, and the video may still be rendering (and be charged for). Check the "
                "connection's host and task_path, or look the task up in the gateway's task list; to make "
                f"a new video (and pay for it), remove the record ({records.removal}) and clear the task."
            ) from None
        if task.is_final and not task.is_success:
            self.log.warning(
                "An earlier try created Hailuo task %s, which ended %s; submitting anew", task_id, task.status
            )
            return None
        self.log.info("Resuming Hailuo task %s, created by an earlier try; it is %s", task_id, task.status)
        return task

    def submit(self, body: dict[str, Any], intent: JobRecord, *, retry_refusals: bool) -> str:
        """Create the gateway task, its id recorded durably before anything else happens.

        The earlier try's record (which the intent replaces) is put back if the gateway accepts
        nothing: its video still counts against the run's cost cap.
        """
        records = self.records
        if records is None:
            self.sent_at = time.time()
            return self.hook.create_task(body, retry_refusals=retry_refusals)
        intent = replace(intent, recorded_at=time.time())
        records.put(intent)
        self.sent_at = time.time()
        try:
            task_id = self.hook.create_task(body, retry_refusals=retry_refusals)
        except Exception as failure:
            if not nothing_accepted(failure):
                raise  # the intent stays: a later try must not send this again
            # The gateway refused it, or it never left: nothing to resume. A failure to delete the
            # intent must not hide why the create failed (the next try then refuses to resend).
            if not self._forget_intent(records) and is_quota_refusal(failure):
                # Waiting for quota would end in a try that finds the intent and refuses to send.
                raise HailuoError(
                    f"The gateway refused the create for its quota ({failure}) and the record of the "
                    f"attempt could not be removed ({records.where}): nothing was created. To send it "
                    f"again, remove the record ({records.removal}) and clear the task."
                ) from failure
            raise
        self._record(records, replace(intent, hailuo_task_id=task_id, recorded_at=time.time()))
        return task_id

    def _forget_intent(self, records: RecordStore) -> bool:
        """Replace the intent of a create nobody accepted with the record it replaced, or remove it
        (a store hiccup retried); False if the intent stays."""
        try:
            for attempt in _store_retrying():
                with attempt:
                    if self.record is None:
                        records.delete()
                    else:
                        records.put(self.record)
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
