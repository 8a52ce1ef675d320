"""RetryPolicy: what is retried, how often, and how long it waits (no real sleeping)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
import tenacity

from airflow_provider_hailuo.exceptions import (
    HailuoAPIError,
    HailuoAuthenticationError,
    HailuoProtocolError,
    HailuoRateLimitError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway.http_errors import error_for_status
from airflow_provider_hailuo.gateway.retry import RetryPolicy

LOG = logging.getLogger("test_retry")
FAST = RetryPolicy(max_attempts=5, initial_backoff=0.001, max_backoff=0.002, max_retry_after=60.0)


def transient(*, retry_after: float | None = None, resubmit_safe: bool = False) -> HailuoTransientError:
    """A 502, or with ``resubmit_safe`` a connection that was never made (nothing sent)."""
    if resubmit_safe:
        return HailuoTransientError(
            "could not connect to the gateway", retry_after=retry_after, never_sent=True
        )
    return HailuoTransientError("HTTP 502 (gateway error)", status_code=502, retry_after=retry_after)


# The gateway's own error body: only in this shape is a 429 or 503 proof that nothing was accepted.
GATEWAY_BODY = '{"error": {"message": "rate limit exceeded"}}'


def GATEWAY_REFUSAL(*, retry_after: float | None) -> HailuoRateLimitError:
    """The gateway's own 429 (its error body): nothing was accepted."""
    return HailuoRateLimitError("429", status_code=429, retry_after=retry_after, gateway_error=True)


class Flaky:
    """Raises the given errors in turn, then returns "ok"; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"

    async def run_async(self) -> str:
        return self()


def sync_retrying(
    policy: RetryPolicy = FAST, *, creating: bool = False
) -> tuple[tenacity.Retrying, list[float]]:
    """A policy's Retrying whose sleeps are recorded instead of slept."""
    retrying = policy.retrying(creating=creating, logger=LOG)
    sleeps: list[float] = []
    retrying.sleep = sleeps.append
    return retrying, sleeps


def async_retrying(policy: RetryPolicy = FAST) -> tuple[tenacity.AsyncRetrying, list[float]]:
    retrying = policy.async_retrying(logger=LOG)
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    retrying.sleep = record
    return retrying, sleeps


def run_async(retrying: tenacity.AsyncRetrying, fn: Callable[[], Any]) -> Any:
    return asyncio.run(retrying(fn))


# --- sync --------------------------------------------------------------------------------------


def test_two_transient_errors_then_success_takes_three_calls() -> None:
    flaky = Flaky(transient(), transient())
    retrying, sleeps = sync_retrying()
    assert retrying(flaky) == "ok"
    assert flaky.calls == 3
    assert len(sleeps) == 2


def test_real_sleep_with_tiny_backoff_succeeds() -> None:
    flaky = Flaky(transient(), transient())
    assert FAST.retrying(logger=LOG)(flaky) == "ok"
    assert flaky.calls == 3


def test_success_at_once_is_one_call_without_sleeping() -> None:
    flaky = Flaky()
    retrying, sleeps = sync_retrying()
    assert retrying(flaky) == "ok"
    assert (flaky.calls, sleeps) == (1, [])


def test_creating_does_not_retry_an_error_that_is_not_resubmit_safe() -> None:
    flaky = Flaky(transient(resubmit_safe=False))
    retrying, sleeps = sync_retrying(creating=True)
    with pytest.raises(HailuoTransientError, match="HTTP 502"):
        retrying(flaky)
    assert flaky.calls == 1
    assert sleeps == []


def test_creating_retries_a_resubmit_safe_error() -> None:
    flaky = Flaky(transient(resubmit_safe=True), transient(resubmit_safe=True))
    retrying, _ = sync_retrying(creating=True)
    assert retrying(flaky) == "ok"
    assert flaky.calls == 3


@pytest.mark.parametrize(
    ("status", "retried_when_creating"), [(429, True), (503, True), (500, False), (502, False)]
)
def test_creating_retries_only_statuses_where_the_gateway_cannot_have_accepted(
    status: int, retried_when_creating: bool
) -> None:
    error = error_for_status(status, GATEWAY_BODY, retry_after="0")
    assert error is not None
    flaky = Flaky(error)
    retrying, _ = sync_retrying(creating=True)
    if retried_when_creating:
        assert retrying(flaky) == "ok"
        assert flaky.calls == 2
    else:
        with pytest.raises(HailuoTransientError):
            retrying(flaky)
        assert flaky.calls == 1


def test_reads_retry_errors_that_are_not_resubmit_safe() -> None:
    flaky = Flaky(transient(resubmit_safe=False))
    retrying, _ = sync_retrying(creating=False)
    assert retrying(flaky) == "ok"
    assert flaky.calls == 2


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
def test_max_attempts_bounds_the_calls(max_attempts: int) -> None:
    flaky = Flaky(*(transient() for _ in range(10)))
    policy = RetryPolicy(max_attempts=max_attempts, initial_backoff=0.001, max_backoff=0.002)
    retrying, sleeps = sync_retrying(policy)
    with pytest.raises(HailuoTransientError):
        retrying(flaky)
    assert flaky.calls == max_attempts
    assert len(sleeps) == max_attempts - 1


def test_the_last_error_is_reraised_unwrapped() -> None:
    last = transient()
    flaky = Flaky(transient(), last)
    retrying, _ = sync_retrying(RetryPolicy(max_attempts=2, initial_backoff=0.001))
    with pytest.raises(HailuoTransientError) as info:
        retrying(flaky)
    assert info.value is last
    assert not isinstance(info.value, tenacity.RetryError)


@pytest.mark.parametrize("retry_after", [2.5, 7.0, 60.0])
def test_a_retry_after_longer_than_the_backoff_is_the_wait_used(retry_after: float) -> None:
    flaky = Flaky(transient(retry_after=retry_after), transient(retry_after=retry_after))
    retrying, sleeps = sync_retrying()
    assert retrying(flaky) == "ok"
    assert sleeps == [retry_after, retry_after]


@pytest.mark.parametrize("retry_after", [0.0, 1.0])
def test_a_reads_backoff_longer_than_the_retry_after_is_the_wait_used(retry_after: float) -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=5.0, max_backoff=30.0)
    flaky = Flaky(transient(retry_after=retry_after), transient(retry_after=retry_after))
    retrying, sleeps = sync_retrying(policy)
    assert retrying(flaky) == "ok"
    assert len(sleeps) == 2
    assert all(s >= 5.0 for s in sleeps)  # not the gateway's shorter Retry-After


def test_a_reads_waits_grow_under_a_constant_retry_after() -> None:
    """A herd told "Retry-After: 1" must not all come back after exactly 1 s, attempt after attempt."""
    policy = RetryPolicy(max_attempts=5, initial_backoff=1.0, max_backoff=30.0)
    flaky = Flaky(*(transient(retry_after=1.0) for _ in range(4)))
    retrying, sleeps = sync_retrying(policy)
    assert retrying(flaky) == "ok"
    assert all(s >= 1.0 for s in sleeps)  # the Retry-After is never undercut
    assert sleeps[-1] >= 8.0  # the fourth wait: the backoff's 1 s doubled three times


def test_a_creates_wait_is_the_retry_after_itself() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=5.0, max_backoff=30.0)
    error = error_for_status(429, GATEWAY_BODY, retry_after="1")
    retrying, sleeps = sync_retrying(policy, creating=True)
    assert retrying(Flaky(error)) == "ok"
    assert sleeps == [1.0]


def test_rate_limit_retry_after_header_is_the_wait_used() -> None:
    error = error_for_status(429, GATEWAY_BODY, retry_after="3")
    flaky = Flaky(error)
    retrying, sleeps = sync_retrying(creating=True)
    assert retrying(flaky) == "ok"
    assert sleeps == [3.0]


def test_without_retry_after_the_backoff_is_used_and_bounded() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=0.05)
    flaky = Flaky(*(transient() for _ in range(4)))
    retrying, sleeps = sync_retrying(policy)
    assert retrying(flaky) == "ok"
    assert len(sleeps) == 4
    # Exponential with jitter of up to initial_backoff, capped at max_backoff.
    assert all(0 < s <= 0.05 for s in sleeps)
    assert sleeps[0] >= 0.01


def test_retry_after_above_max_retry_after_stops_at_once() -> None:
    flaky = Flaky(transient(retry_after=61.0), transient())
    retrying, sleeps = sync_retrying()
    with pytest.raises(HailuoTransientError) as info:
        retrying(flaky)
    assert info.value.retry_after == 61.0
    assert flaky.calls == 1
    assert sleeps == []


def test_retry_after_equal_to_max_retry_after_is_waited_out() -> None:
    flaky = Flaky(transient(retry_after=60.0))
    retrying, sleeps = sync_retrying()
    assert retrying(flaky) == "ok"
    assert sleeps == [60.0]


@pytest.mark.parametrize(
    "error",
    [
        HailuoAPIError("HTTP 400 (request refused by the gateway)", status_code=400),
        HailuoAuthenticationError("HTTP 401", status_code=401),
        HailuoProtocolError("not JSON"),
        ValueError("a bug"),
    ],
)
def test_non_transient_errors_are_not_retried(error: BaseException) -> None:
    flaky = Flaky(error)
    retrying, sleeps = sync_retrying()
    with pytest.raises(type(error)):
        retrying(flaky)
    assert flaky.calls == 1
    assert sleeps == []


def test_status_400_from_error_for_status_is_not_retried() -> None:
    error = error_for_status(400, '{"message": "bad duration"}')
    flaky = Flaky(error)  # type: ignore[arg-type]
    retrying, _ = sync_retrying()
    with pytest.raises(HailuoAPIError, match="bad duration"):
        retrying(flaky)
    assert flaky.calls == 1


def test_each_retry_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(transient(retry_after=1.0))
    retrying, _ = sync_retrying()
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        retrying(flaky)
    assert len(caplog.records) == 1
    assert "retrying in 1.0 s (attempt 2 of 5)" in caplog.records[0].getMessage()


def test_within_stops_before_a_retry_that_would_start_after_it() -> None:
    slow = RetryPolicy(max_attempts=5, initial_backoff=10.0)
    flaky = Flaky(transient(), transient())
    retrying = slow.retrying(logger=LOG, within=5.0)
    retrying.sleep = lambda seconds: None
    with pytest.raises(HailuoTransientError):
        retrying(flaky)
    assert flaky.calls == 1  # the first wait (10 s or more) would end after 5 s


def test_within_allows_the_retries_that_fit() -> None:
    flaky = Flaky(transient(), transient())
    retrying = FAST.retrying(logger=LOG, within=60.0)
    retrying.sleep = lambda seconds: None
    assert retrying(flaky) == "ok"
    assert flaky.calls == 3


# --- async -------------------------------------------------------------------------------------


def test_async_two_transient_errors_then_success_takes_three_calls() -> None:
    flaky = Flaky(transient(), transient())
    retrying, sleeps = async_retrying()
    assert run_async(retrying, flaky.run_async) == "ok"
    assert flaky.calls == 3
    assert len(sleeps) == 2


def test_async_real_sleep_with_tiny_backoff_succeeds() -> None:
    flaky = Flaky(transient())
    assert run_async(FAST.async_retrying(logger=LOG), flaky.run_async) == "ok"
    assert flaky.calls == 2


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_async_max_attempts_bounds_the_calls(max_attempts: int) -> None:
    flaky = Flaky(*(transient() for _ in range(10)))
    retrying, _ = async_retrying(RetryPolicy(max_attempts=max_attempts, initial_backoff=0.001))
    with pytest.raises(HailuoTransientError):
        run_async(retrying, flaky.run_async)
    assert flaky.calls == max_attempts


def test_async_retry_after_is_the_wait_used() -> None:
    flaky = Flaky(GATEWAY_REFUSAL(retry_after=4.0))
    retrying, sleeps = async_retrying()
    assert run_async(retrying, flaky.run_async) == "ok"
    assert sleeps == [4.0]


def test_async_retry_after_above_max_retry_after_stops_at_once() -> None:
    flaky = Flaky(transient(retry_after=600.0))
    retrying, sleeps = async_retrying()
    with pytest.raises(HailuoTransientError):
        run_async(retrying, flaky.run_async)
    assert flaky.calls == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "error",
    [HailuoAPIError("HTTP 400", status_code=400), HailuoProtocolError("not JSON"), RuntimeError("bug")],
)
def test_async_non_transient_errors_are_not_retried(error: BaseException) -> None:
    flaky = Flaky(error)
    retrying, sleeps = async_retrying()
    with pytest.raises(type(error)):
        run_async(retrying, flaky.run_async)
    assert (flaky.calls, sleeps) == (1, [])


def test_async_retries_reads_that_are_not_resubmit_safe() -> None:
    flaky = Flaky(transient(resubmit_safe=False))
    retrying, _ = async_retrying()
    assert run_async(retrying, flaky.run_async) == "ok"
    assert flaky.calls == 2


def test_async_reads_waits_grow_under_a_constant_retry_after() -> None:
    retrying, sleeps = async_retrying(RetryPolicy(max_attempts=5, initial_backoff=1.0, max_backoff=30.0))
    flaky = Flaky(*(transient(retry_after=1.0) for _ in range(4)))
    assert run_async(retrying, flaky.run_async) == "ok"
    assert all(s >= 1.0 for s in sleeps)
    assert sleeps[-1] >= 8.0


# --- acall: one plain attempt first, the retry machinery only after a transient failure ----------


def acall(
    policy: RetryPolicy, flaky: Flaky, monkeypatch: pytest.MonkeyPatch, *, retry_refusals: bool = True
) -> tuple[Any, list[float]]:
    """``policy.acall(flaky)`` with the retry machinery's sleeps recorded; (result or error, sleeps)."""
    sleeps: list[float] = []
    build = RetryPolicy.async_retrying

    def recording(self: RetryPolicy, *, logger: Any, retry_refusals: bool = True) -> tenacity.AsyncRetrying:
        retrying = build(self, logger=logger, retry_refusals=retry_refusals)

        async def record(seconds: float) -> None:
            sleeps.append(seconds)

        retrying.sleep = record
        return retrying

    monkeypatch.setattr(RetryPolicy, "async_retrying", recording)
    try:
        return asyncio.run(policy.acall(flaky.run_async, logger=LOG, retry_refusals=retry_refusals)), sleeps
    except BaseException as error:
        return error, sleeps


def test_acall_success_at_once_builds_no_retry_machinery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryPolicy, "async_retrying", None)  # would fail if it were used
    flaky = Flaky()
    assert asyncio.run(FAST.acall(flaky.run_async, logger=LOG)) == "ok"
    assert flaky.calls == 1


def test_acall_two_transient_errors_then_success_takes_three_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    flaky = Flaky(transient(), transient())
    result, sleeps = acall(FAST, flaky, monkeypatch)
    assert (result, flaky.calls, len(sleeps)) == ("ok", 3, 2)


@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_acall_counts_the_first_attempt_in_max_attempts(
    max_attempts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = Flaky(*(transient() for _ in range(10)))
    error, sleeps = acall(RetryPolicy(max_attempts=max_attempts, initial_backoff=0.001), flaky, monkeypatch)
    assert isinstance(error, HailuoTransientError)
    assert flaky.calls == max_attempts
    assert len(sleeps) == max_attempts - 1


def test_acall_waits_the_first_failures_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    flaky = Flaky(GATEWAY_REFUSAL(retry_after=4.0))
    result, sleeps = acall(FAST, flaky, monkeypatch)
    assert (result, flaky.calls, sleeps) == ("ok", 2, [4.0])


def test_acall_first_retry_after_above_the_bound_stops_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = transient(retry_after=600.0)
    flaky = Flaky(first)
    error, sleeps = acall(FAST, flaky, monkeypatch)
    assert error is first
    assert (flaky.calls, sleeps) == (1, [])


@pytest.mark.parametrize(
    "error",
    [HailuoAPIError("HTTP 400", status_code=400), HailuoProtocolError("not JSON"), RuntimeError("bug")],
)
def test_acall_does_not_retry_non_transient_errors(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = Flaky(error)
    raised, sleeps = acall(FAST, flaky, monkeypatch)
    assert raised is error
    assert (flaky.calls, sleeps) == (1, [])


def test_acall_logs_the_first_retry_as_attempt_two(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = Flaky(transient(retry_after=1.0))
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        acall(FAST, flaky, monkeypatch)
    assert [record.getMessage() for record in caplog.records] == [
        "Hailuo gateway: HTTP 502 (gateway error); retrying in 1.0 s (attempt 2 of 5)"
    ]


# --- retry_refusals=False: a waiter that paces its own polls takes a 429 or 503 at once ------------


@pytest.mark.parametrize("status", [429, 503])
def test_acall_without_refusal_retries_raises_a_refusal_at_once(
    status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = error_for_status(status, GATEWAY_BODY, retry_after="1")
    flaky = Flaky(refusal)  # type: ignore[arg-type]
    raised, sleeps = acall(FAST, flaky, monkeypatch, retry_refusals=False)
    assert raised is refusal
    assert (flaky.calls, sleeps) == (1, [])


def test_acall_without_refusal_retries_still_retries_other_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    flaky = Flaky(transient(), transient())
    result, sleeps = acall(FAST, flaky, monkeypatch, retry_refusals=False)
    assert (result, flaky.calls, len(sleeps)) == ("ok", 3, 2)


def test_acall_without_refusal_retries_stops_at_a_refusal_after_a_fault(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refusal = error_for_status(429, GATEWAY_BODY)
    flaky = Flaky(transient(), refusal, transient())  # type: ignore[arg-type]
    raised, sleeps = acall(FAST, flaky, monkeypatch, retry_refusals=False)
    assert raised is refusal
    assert (flaky.calls, len(sleeps)) == (2, 1)


def test_a_sync_read_without_refusal_retries_raises_a_refusal_at_once() -> None:
    refusal = error_for_status(429, GATEWAY_BODY, retry_after="1")
    flaky = Flaky(refusal)  # type: ignore[arg-type]
    retrying = FAST.retrying(logger=LOG, retry_refusals=False)
    sleeps: list[float] = []
    retrying.sleep = sleeps.append
    with pytest.raises(HailuoRateLimitError):
        retrying(flaky)
    assert (flaky.calls, sleeps) == (1, [])
