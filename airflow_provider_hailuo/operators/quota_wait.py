"""The operator's create under the gateway's quota: send it, and after a quota refusal (which
proves nothing was accepted) wait for a turn, in the triggerer when deferrable, and send it again,
until ``max_quota_wait`` runs out."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_hailuo.exceptions import HailuoQuotaWaitExpiredError, HailuoTransientError
from airflow_provider_hailuo.gateway.defaults import DEFERRAL_GRACE_SECONDS
from airflow_provider_hailuo.gateway.quota import is_quota_refusal, plan_wait
from airflow_provider_hailuo.operators.waiting import HailuoTaskWaitMixin

if TYPE_CHECKING:
    from airflow_provider_hailuo.integration.durable import JobRecord
    from airflow_provider_hailuo.operators.submission import DurableSubmission


class QuotaWaitMixin(HailuoTaskWaitMixin):
    """Mixed into the operator: ``max_quota_wait`` and ``timeout`` bound the waits; a wait in the
    triggerer comes back to the operator's ``execute_after_quota_wait``."""

    max_quota_wait: float
    timeout: float
    # The try running now, told to the triggers it defers to (they echo it in their events).
    _try_number: int | None = None
    # This try's run-cap commitment: what earlier tries carry (US dollars) and when it was first
    # made (None: no estimate was committed); the actual cost replaces the estimate at that time.
    _commitment: tuple[Decimal, float | None] = (Decimal(0), None)

    def create_until_accepted(
        self,
        body: dict[str, Any],
        submission: DurableSubmission,
        intent: JobRecord,
        *,
        refusals: int,
        quota_deadline: float | None,
    ) -> str:
        """Send the create, waiting for the gateway's quota after each refusal (see max_quota_wait);
        a quota refusal is raised at once by the hook when this task waits for quota itself."""
        while True:
            try:
                return submission.submit(body, intent, retry_refusals=self.max_quota_wait == 0)
            except HailuoTransientError as refusal:
                if not (self.max_quota_wait > 0 and is_quota_refusal(refusal)):
                    raise
                refusals += 1
                quota_deadline = self._wait_for_quota(refusal, refusals, quota_deadline)

    def _wait_for_quota(
        self, refusal: HailuoTransientError, refusals: int, quota_deadline: float | None
    ) -> float:
        """Wait until the refused create may be sent again (in the triggerer when deferrable).

        Returns the deadline of this try's quota waits (set at the first refusal); past it, fails.
        """
        now = time.time()
        deadline = quota_deadline or now + min(self.max_quota_wait, self.timeout)
        wait = plan_wait(refusal, refusals=refusals, now=now, deadline=deadline)
        # Deferred only when the turn may come no sooner than the deferral floor; a shorter wait,
        # the last one before the deadline included, is slept in the worker.
        defer = self.waits_in_triggerer(deadline - now)
        if defer:
            wait = replace(wait, not_before=max(wait.not_before, now + self.deferral_floor))
        if not wait.within_deadline:
            raise HailuoQuotaWaitExpiredError(
                f"The gateway still refuses the create for its quota after {refusals} refusals ({refusal}); "
                f"nothing was accepted or charged. The wait for quota ended (max_quota_wait="
                f"{self.max_quota_wait:g} s, timeout={self.timeout:g} s): raise them, or size a pool to the "
                "account's quota (see the README, 'Batches and the gateway's quota')."
            ) from refusal
        where = "in the triggerer" if defer else "in this worker"
        turns = " and in turn with this connection's other waiting tasks" if defer else ""
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
        if defer:
            from airflow_provider_hailuo.triggers.quota import HailuoQuotaWaitTrigger

            self.defer(
                trigger=HailuoQuotaWaitTrigger(
                    hailuo_conn_id=self.hailuo_conn_id,
                    not_before=wait.not_before,
                    spacing=wait.spacing,
                    end_time=deadline,
                    try_number=self._try_number,
                ),
                method_name="execute_after_quota_wait",
                kwargs={
                    "refusals": refusals,
                    "quota_deadline": deadline,
                    "committed_at": self._commitment[1],
                },
                timeout=timedelta(seconds=deadline - now + DEFERRAL_GRACE_SECONDS),
            )
        time.sleep(max(0.0, wait.not_before - time.time()))
        return deadline
