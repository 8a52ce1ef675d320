"""The one rule for money: when a create may be sent again, and when nothing was accepted.

A create costs a video. Between the worker and the gateway there may be a proxy, a load balancer
or an API gateway, each of which can answer in the gateway's place, after the gateway already
accepted the request (nginx's HTML 503 page, Kong's JSON 404, a 200 whose body cannot be read).
So an answer proves "nothing was accepted" only when it cannot have come after an acceptance:

* the request never left this machine (a malformed URL, a refused certificate, a connection that
  was never made), or
* the gateway's own error body, in the shape ``docs/gateway-protocol.md`` records for it
  (``{"error": {"message": ...}}`` or ``{"error": {"error_message": ...}}``), with a status that
  refuses the request: 429 or 503 (its quota, "not now"), or a 4xx other than 408 (the request
  itself refused: a bad parameter, the key, the balance).

Everything else that can follow a sent create is ambiguous (a timeout, a dropped connection, any
5xx other than the gateway's own 503, a 3xx, an HTML or foreign JSON body whatever its status, an
answer that cannot be decoded): the create is never sent again, by the hook, by a quota wait or
by an Airflow retry.

Pure and free of the error classes (it reads the facts an error carries by attribute), so the
error tree, the retry policy, the quota waits and the operator all ask this one module.
"""

from __future__ import annotations

# The gateway's "not now": its quota. Sending the same create again later pays nothing twice.
QUOTA_STATUSES = frozenset({429, 503})
# A 408 says the server gave up reading the request: it may have read (and acted on) enough.
_UNFINISHED_READ = 408

# What a failure that proves nothing tells the user to do (a second video costs money).
CHECK_BEFORE_PAYING_AGAIN = (
    "It is not sent again, and the Airflow task is not retried: check the gateway's task list before "
    "running it again"
)


def _facts(error: BaseException) -> tuple[bool, int | None, bool]:
    return (
        bool(getattr(error, "never_sent", False)),
        getattr(error, "http_status", None),
        bool(getattr(error, "gateway_error", False)),
    )


def nothing_accepted(error: BaseException) -> bool:
    """Whether ``error``, raised by a create, proves that the gateway accepted nothing (and so will
    charge nothing): the request never left, or the gateway's own body refused it."""
    never_sent, status, gateway_error = _facts(error)
    if never_sent:
        return True
    if not gateway_error or status is None:
        return False
    return status in QUOTA_STATUSES or (400 <= status < 500 and status != _UNFINISHED_READ)


def may_send_again(error: BaseException) -> bool:
    """Whether a create that failed with ``error`` may be sent again as it is: nothing was accepted,
    and the cause can pass (a connection that was never made, the gateway's quota)."""
    never_sent, status, gateway_error = _facts(error)
    if never_sent:
        return True
    return gateway_error and status in QUOTA_STATUSES
