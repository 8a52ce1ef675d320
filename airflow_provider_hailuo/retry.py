"""One retry policy for every gateway call, sync and async: which faults are retried, and how long to wait.

Reads (polls, downloads) retry any transient fault. A create is retried only when the gateway cannot
have accepted it; anything ambiguous is left to the caller, because a second create may pay for the
same video twice. Waits grow exponentially with jitter, and a ``Retry-After`` from the gateway wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import tenacity
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from airflow_provider_hailuo.defaults import DEFAULT_RETRY_DELAY, DEFAULT_RETRY_LIMIT
from airflow_provider_hailuo.exceptions import HailuoTransientError

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
    """The gateway's Retry-After when it sent one, the exponential backoff otherwise."""

    def __init__(self, backoff: wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        error = _transient_error(retry_state)
        if error is not None and error.retry_after is not None:
            return max(0.0, error.retry_after)
        return float(self.backoff(retry_state))


class _stop_when_retry_after_exceeds(stop_base):
    """Give up rather than come back earlier than the gateway asked, when it asks for too long."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = _transient_error(retry_state)
        return error is not None and error.retry_after is not None and error.retry_after > self.limit


def next_poll_delay(poll_interval: float, error: BaseException | None = None) -> float:
    """How long a waiter (the trigger, a waiting worker) sleeps before polling again after ``error``.

    A Retry-After longer than a single call waits out (``max_retry_after``, a rate limit's long
    pause) is honoured between polls: polling sooner would only meet the same 429.
    """
    retry_after = error.retry_after if isinstance(error, HailuoTransientError) else None
    return max(poll_interval, retry_after or 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How persistent each gateway call is; a connection sets the first two (extras
    ``retry_limit`` and ``retry_delay``)."""

    max_attempts: int = DEFAULT_RETRY_LIMIT
    initial_backoff: float = DEFAULT_RETRY_DELAY
    max_backoff: float = 30.0
    # A Retry-After longer than this is not waited out inside one call; the error goes up instead.
    max_retry_after: float = 120.0

    def _kwargs(self, *, creating: bool, logger: Logger, within: float | None = None) -> dict[str, Any]:
        def should_retry(error: BaseException) -> bool:
            return isinstance(error, HailuoTransientError) and (error.resubmit_safe or not creating)

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
                tenacity.wait_exponential_jitter(
                    initial=self.initial_backoff, max=self.max_backoff, jitter=self.initial_backoff
                )
            ),
            "stop": stop,
            "before_sleep": log_retry,
            "reraise": True,
        }

    def retrying(
        self, *, creating: bool = False, logger: Logger, within: float | None = None
    ) -> tenacity.Retrying:
        """Retrying for a sync call; ``within`` seconds from now, no further attempt starts."""
        return tenacity.Retrying(**self._kwargs(creating=creating, logger=logger, within=within))

    def async_retrying(self, *, logger: Logger) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._kwargs(creating=False, logger=logger))

    async def acall(self, attempt: Callable[[], Awaitable[_T]], *, logger: Logger) -> _T:
        """``await attempt()`` under this policy (reads only).

        Almost every poll succeeds at once, and a triggerer polls thousands of times a minute, so
        the retry machinery is built only after a first transient failure, which it then counts
        as its first attempt: the waits, the bound and the log lines are the same as for
        :meth:`async_retrying`.
        """
        try:
            return await attempt()
        except HailuoTransientError as error:
            first_failure: HailuoTransientError | None = error

        async def replay_first_failure_then_attempt() -> _T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await attempt()

        return await self.async_retrying(logger=logger)(replay_first_failure_then_attempt)
