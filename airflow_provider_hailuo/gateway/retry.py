"""One retry policy for every gateway call, sync and async: which faults are retried, and how long to wait.

Reads (polls, downloads) retry any transient fault. A create is retried only when the gateway cannot
have accepted it; anything ambiguous is left to the caller, because a second create may pay for the
same video twice. Waits grow exponentially with jitter; a read's never undercuts the gateway's
``Retry-After``, and a create waits the ``Retry-After`` itself when there is one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import tenacity
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from airflow_provider_hailuo.exceptions import HailuoTransientError
from airflow_provider_hailuo.gateway.defaults import DEFAULT_RETRY_DELAY, DEFAULT_RETRY_LIMIT
from airflow_provider_hailuo.gateway.quota import is_quota_refusal

if TYPE_CHECKING:
    from tenacity import RetryCallState

_T = TypeVar("_T")


class Logger(Protocol):
    """What the policy needs of a logger (stdlib and Airflow's structlog loggers both fit)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def info(self, msg: Any, /, *args: Any) -> Any: ...


def _transient_error(retry_state: RetryCallState) -> HailuoTransientError | None:
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    error = outcome.exception()
    return error if isinstance(error, HailuoTransientError) else None


class _wait_retry_after_or(wait_base):
    """The exponential backoff, never shorter than the gateway's Retry-After (``at_least_backoff``,
    reads); or the Retry-After alone when the gateway sent one, the backoff otherwise (creates).

    Reads take the longer of the two: a herd of polls told "Retry-After: 1" would otherwise all come
    back after exactly 1 s, attempt after attempt, and meet the same quota each time.
    """

    def __init__(self, backoff: wait_base, *, cap: float, at_least_backoff: bool) -> None:
        self.backoff = backoff
        self.cap = cap  # of the backoff, jitter included; a Retry-After may ask for longer
        self.at_least_backoff = at_least_backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        error = _transient_error(retry_state)
        retry_after = None if error is None or error.retry_after is None else max(0.0, error.retry_after)
        backoff = min(self.cap, float(self.backoff(retry_state)))
        if retry_after is None:
            return backoff
        if self.at_least_backoff:
            return max(retry_after, backoff)
        return retry_after


class _stop_when_retry_after_exceeds(stop_base):
    """Give up rather than come back earlier than the gateway asked, when it asks for too long."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = _transient_error(retry_state)
        return error is not None and error.retry_after is not None and error.retry_after > self.limit


@dataclass(frozen=True)
class RetryPolicy:
    """How persistent each gateway call is; a connection sets the first two (extras
    ``retry_limit`` and ``retry_delay``)."""

    max_attempts: int = DEFAULT_RETRY_LIMIT
    initial_backoff: float = DEFAULT_RETRY_DELAY
    max_backoff: float = 30.0
    # A Retry-After longer than this is not waited out inside one call; the error goes up instead.
    max_retry_after: float = 120.0

    def _kwargs(
        self, *, creating: bool, logger: Logger, within: float | None = None, retry_refusals: bool = True
    ) -> dict[str, Any]:
        def should_retry(error: BaseException) -> bool:
            if not isinstance(error, HailuoTransientError):
                return False
            if not retry_refusals and is_quota_refusal(error):
                return False  # the caller waits out the quota elsewhere (a worker slot is too dear)
            return error.resubmit_safe or not creating

        def log_retry(retry_state: RetryCallState) -> None:
            error = _transient_error(retry_state)
            wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
            logger.warning(
                "Hailuo gateway: %s; retrying in %.1f s (attempt %d of %d)",
                error,
                wait,
                retry_state.attempt_number + 1,
                self.max_attempts,
            )

        stop = tenacity.stop_after_attempt(self.max_attempts) | _stop_when_retry_after_exceeds(
            self.max_retry_after
        )
        if within is not None:  # the caller's own deadline: no retry that would start after it
            stop = stop | tenacity.stop_before_delay(within)
        return {
            "retry": tenacity.retry_if_exception(should_retry),
            "wait": _wait_retry_after_or(
                # wait_exponential plus wait_random, not wait_exponential_jitter: its ``initial``
                # is deprecated from tenacity 9.2 and its replacement absent before.
                tenacity.wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
                + tenacity.wait_random(0, self.initial_backoff),
                cap=self.max_backoff,
                at_least_backoff=not creating,
            ),
            "stop": stop,
            "before_sleep": log_retry,
            "reraise": True,
        }

    def retrying(
        self,
        *,
        creating: bool = False,
        logger: Logger,
        within: float | None = None,
        retry_refusals: bool = True,
    ) -> tenacity.Retrying:
        """Retrying for a sync call; ``within`` seconds from now, no further attempt starts.

        ``retry_refusals=False`` leaves a quota refusal (429, 503) to the caller at once.
        """
        return tenacity.Retrying(
            **self._kwargs(creating=creating, logger=logger, within=within, retry_refusals=retry_refusals)
        )

    def async_retrying(self, *, logger: Logger, retry_refusals: bool = True) -> tenacity.AsyncRetrying:
        """AsyncRetrying for a read; ``retry_refusals`` as for :meth:`retrying`."""
        return tenacity.AsyncRetrying(
            **self._kwargs(creating=False, logger=logger, retry_refusals=retry_refusals)
        )

    async def acall(
        self, attempt: Callable[[], Awaitable[_T]], *, logger: Logger, retry_refusals: bool = True
    ) -> _T:
        """``await attempt()`` under this policy (reads only).

        Almost every poll succeeds at once, and a triggerer polls thousands of times a minute, so
        the retry machinery is built only after a first transient failure, which it then counts
        as its first attempt: the waits, the bound and the log lines are the same as for
        :meth:`async_retrying`. ``retry_refusals=False``: a 429 or 503 is raised at once, for a
        waiter that paces its own polls (:mod:`~airflow_provider_hailuo.gateway.polling`).
        """
        try:
            return await attempt()
        except HailuoTransientError as error:
            if not retry_refusals and is_quota_refusal(error):
                raise
            first_failure: HailuoTransientError | None = error

        async def replay_first_failure_then_attempt() -> _T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await attempt()

        return await self.async_retrying(logger=logger, retry_refusals=retry_refusals)(
            replay_first_failure_then_attempt
        )
