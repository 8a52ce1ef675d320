"""The one rule for money (resend.py): what proves that a create accepted nothing."""

from __future__ import annotations

import pytest

from airflow_provider_hailuo.exceptions import (
    HailuoAPIError,
    HailuoError,
    HailuoRequestNotSentError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway.resend import may_send_again, nothing_accepted


def answered(status: int, *, gateway_error: bool) -> HailuoAPIError:
    if status >= 500 or status in (408, 429):
        return HailuoTransientError(f"HTTP {status}", status_code=status, gateway_error=gateway_error)
    return HailuoAPIError(f"HTTP {status}", status_code=status, gateway_error=gateway_error)


@pytest.mark.parametrize(
    ("error", "accepted_nothing", "again"),
    [
        (HailuoRequestNotSentError("malformed URL"), True, True),
        (HailuoTransientError("connection refused", never_sent=True), True, True),
        (HailuoTransientError("read timeout"), False, False),
        (answered(429, gateway_error=True), True, True),
        (answered(503, gateway_error=True), True, True),
        (answered(400, gateway_error=True), True, False),
        (answered(401, gateway_error=True), True, False),
        (answered(403, gateway_error=True), True, False),
        (answered(422, gateway_error=True), True, False),
        (answered(408, gateway_error=True), False, False),
        (answered(500, gateway_error=True), False, False),
        (answered(502, gateway_error=True), False, False),
        (answered(504, gateway_error=True), False, False),
        # Anything in front of the gateway can answer these after the gateway accepted the create.
        (answered(429, gateway_error=False), False, False),
        (answered(503, gateway_error=False), False, False),
        (answered(400, gateway_error=False), False, False),
        (answered(403, gateway_error=False), False, False),
        (answered(404, gateway_error=False), False, False),
        (HailuoError("something else"), False, False),
        (RuntimeError("a bug"), False, False),
    ],
    ids=repr,
)
def test_only_proof_counts(error: BaseException, accepted_nothing: bool, again: bool) -> None:
    assert nothing_accepted(error) is accepted_nothing
    assert may_send_again(error) is again
    if again:
        assert accepted_nothing  # sending again is only ever allowed when nothing was accepted
