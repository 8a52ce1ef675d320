"""What an HTTP error answer says: its message in any shape the gateway (or anything in front of
it) uses, whether it is the gateway's own, and the exception its status stands for. Pure."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_hailuo.exceptions import (
    HailuoAPIError,
    HailuoAuthenticationError,
    HailuoNotFoundError,
    HailuoPermissionError,
    HailuoRateLimitError,
    HailuoTransientError,
)

# What each HTTP status means on this gateway, and what to do about it.
HTTP_STATUS_HINTS: Mapping[int, str] = {
    401: "API key missing or invalid: check the API key (the connection's password)",
    403: "insufficient balance or permission denied: check the account's balance and the key's permissions",
    404: "not found: check the task id, and the connection's host and paths",
    429: "rate limit exceeded",
    500: "gateway internal error",
}


def snippet(text: str | bytes, limit: int = 200) -> str:
    """A body shortened for a message: whitespace folded, at most ``limit`` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def parse_error_body(text: str | bytes) -> str | None:
    """The message of an HTTP error body in any shape the gateway uses; ``None`` if it has none.

    ``{"error": {"message": ...}}``, ``{"error": {"error_message": ...}}``, ``{"message": ...}``,
    ``{"error": "..."}``, or plain text.
    """
    try:
        body = json.loads(text) if text else None
    except ValueError:
        shown = snippet(text)
        return shown or None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = error.get("message") or error.get("error_message")
            code = error.get("code")
            if message:
                return f"{message} (code {code})" if code not in (None, "") else str(message)
        elif isinstance(error, str) and error:
            return error
        for key in ("message", "error_message", "detail", "msg"):
            if body.get(key):
                return str(body[key])
    if isinstance(body, str) and body:
        return body
    return None


def describe_http_error(status_code: int, body: str | bytes) -> str:
    """One line for an HTTP error: the status, what it means here, and the gateway's own words."""
    hint = HTTP_STATUS_HINTS.get(status_code) or (
        "gateway error" if status_code >= 500 else "request refused by the gateway"
    )
    message = parse_error_body(body)
    return f"HTTP {status_code} ({hint})" + (f": {message}" if message else "")


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def is_gateway_error_body(body: str | bytes) -> bool:
    """Whether an error body has the gateway's own shape, ``{"error": {"message": "..."}}`` (or
    ``"error_message"``), as its pages document it.

    The flat shapes (``{"message": ...}``, ``{"error": "..."}``) are read for their words but
    prove nothing: Kong, AWS API Gateway and Spring answer them too, in the gateway's place.
    """
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return False
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(error, Mapping):
        return False
    return any(isinstance(error.get(key), str) and error[key] for key in ("message", "error_message"))


def error_for_status(
    status_code: int, body: str | bytes, retry_after: str | None = None, *, fetching: str | None = None
) -> HailuoAPIError | None:
    """The exception an HTTP status stands for (``None`` for success), carrying the gateway's message.

    ``fetching`` names a URL being downloaded rather than a gateway call: a CDN's 403 says nothing
    about the API key or the balance, so the gateway's hints are left out.
    """
    if status_code < 400:
        return None
    if fetching is not None:
        message = f"HTTP {status_code} fetching {fetching}" + (f": {parse_error_body(body)}" if body else "")
    else:
        message = describe_http_error(status_code, body)
    common: dict[str, Any] = {"status_code": status_code, "gateway_error": is_gateway_error_body(body)}
    if status_code == 429:
        return HailuoRateLimitError(message, retry_after=parse_retry_after(retry_after), **common)
    if status_code >= 500 or status_code == 408:
        return HailuoTransientError(message, retry_after=parse_retry_after(retry_after), **common)
    if fetching is None and status_code == 401:
        return HailuoAuthenticationError(message, **common)
    if fetching is None and status_code == 403:
        return HailuoPermissionError(message, **common)
    if status_code == 404:
        return HailuoNotFoundError(message, **common)
    return HailuoAPIError(message, **common)
