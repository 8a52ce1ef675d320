"""An Airflow connection of type ``hailuo`` -> where and how to reach the gateway.

Kept apart from the hook so that the sync path (``get_connection``) and the async path (the
triggerer's non-blocking lookup) read a connection the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_hailuo.exceptions import HailuoAuthenticationError, HailuoValidationError
from airflow_provider_hailuo.gateway.cost import EXTRA_PRICE_TABLE
from airflow_provider_hailuo.gateway.defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CREATE_PATH,
    DEFAULT_HOST,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
    DEFAULT_TASK_PATH,
    DEFAULT_TIMEOUT,
)
from airflow_provider_hailuo.gateway.protocol import task_path
from airflow_provider_hailuo.gateway.urls import is_http_url
from airflow_provider_hailuo.media.storage import EXTRA_ALLOWED_FRAME_ROOTS, FrameRoots

# Connection extras (the UI's fields and the JSON form share these names).
EXTRA_TIMEOUT = "timeout"
EXTRA_CONNECT_TIMEOUT = "connect_timeout"
EXTRA_CREATE_PATH = "create_path"
EXTRA_TASK_PATH = "task_path"
EXTRA_RETRY_LIMIT = "retry_limit"
EXTRA_RETRY_DELAY = "retry_delay"
# The deployment's polls of this connection a second, at most (divided among its triggerers).
EXTRA_MAX_POLLS_PER_SECOND = "max_polls_per_second"


def normalise_base_url(host: str | None, *, schema: str | None = None, port: int | None = None) -> str:
    """``cloud.vtrix.ai``, ``https://cloud.vtrix.ai/`` and an empty host all give the same base URL."""
    host = (host or "").strip()
    if not host.rstrip("/"):
        return DEFAULT_HOST
    if "://" not in host:
        scheme = schema.lower() if schema and schema.lower() in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    if not is_http_url(host):
        raise HailuoValidationError("host", f"connection host {host!r} is not an http(s) URL or host name")
    parts = urlsplit(host)
    if port and parts.port is None:
        host = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return host.rstrip("/")


def _positive_float(extras: Mapping[str, Any], key: str, default: float) -> float:
    number = _optional_positive(extras, key, "seconds")
    return default if number is None else number


def _optional_positive(extras: Mapping[str, Any], key: str, unit: str) -> float | None:
    value = extras.get(key)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise HailuoValidationError(
            key, f"connection extra {key}={value!r} must be a positive number of {unit}"
        )
    return number


def _attempts(extras: Mapping[str, Any]) -> int:
    value = extras.get(EXTRA_RETRY_LIMIT)
    if value in (None, ""):
        return DEFAULT_RETRY_LIMIT
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(str(value)) < 1:
        raise HailuoValidationError(
            EXTRA_RETRY_LIMIT,
            f"connection extra retry_limit={value!r} must be a whole number of attempts, 1 or more",
        )
    return int(str(value))


def _root_entries(value: object) -> list[object]:
    """The extra's entries: a JSON list (as the extra's JSON holds it, or as text), or text with one
    entry per comma or line (a directory whose name has a comma needs the JSON form)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return [part for part in re.split(r"[,\n]", text) if part.strip()]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise HailuoValidationError(
                EXTRA_ALLOWED_FRAME_ROOTS,
                f"connection extra {EXTRA_ALLOWED_FRAME_ROOTS} is not a valid JSON list "
                f"({err.msg} at character {err.pos})",
            ) from None
    if not isinstance(value, list):
        raise HailuoValidationError(
            EXTRA_ALLOWED_FRAME_ROOTS,
            f"connection extra {EXTRA_ALLOWED_FRAME_ROOTS} must be a JSON list of strings or text with one "
            f"entry per comma or line, got {type(value).__name__}",
        )
    return value


def _frame_roots(extras: Mapping[str, Any]) -> FrameRoots | None:
    """Each root checked and written one way (``s3://bucket/stills/``, ``/data/stills``); None if unset."""
    value = extras.get(EXTRA_ALLOWED_FRAME_ROOTS)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    entries: list[str] = []
    for entry in _root_entries(value):
        if not isinstance(entry, str):
            raise HailuoValidationError(
                EXTRA_ALLOWED_FRAME_ROOTS,
                f"connection extra {EXTRA_ALLOWED_FRAME_ROOTS}: every entry must be a string, "
                f"got {type(entry).__name__}",
            )
        entries.append(entry)
    roots = FrameRoots.parse(entries)
    if not roots.roots:
        # An empty list would refuse every local and object storage frame: more likely a slip
        # than the intent, and "unset" already means "anywhere".
        raise HailuoValidationError(
            EXTRA_ALLOWED_FRAME_ROOTS,
            f"connection extra {EXTRA_ALLOWED_FRAME_ROOTS} lists no roots: list absolute directories or "
            "object storage prefixes (s3://bucket/stills/), or remove it to allow frames from anywhere",
        )
    return roots


@dataclass(frozen=True)
class GatewaySettings:
    """Everything a client needs; the API key is excluded from ``repr`` so it never reaches a log."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    create_path: str = DEFAULT_CREATE_PATH
    task_path: str = DEFAULT_TASK_PATH
    retry_limit: int = DEFAULT_RETRY_LIMIT
    retry_delay: float = DEFAULT_RETRY_DELAY
    # None: frames may be read from anywhere the worker reaches (see images.resolve_image).
    allowed_frame_roots: FrameRoots | None = None
    # The max_polls_per_second extra as stored, read only by the triggers (poll_rate): a slip in
    # it must not fail the waits for videos already paid for (they then poll unpaced).
    max_polls_per_second_extra: object = field(default=None, repr=False, compare=False)
    # The price_table extra as stored, read only where an estimate is made (cost.PriceTable): a
    # slip in it must not fail the triggers and sensors that wait for videos already paid for.
    price_table_extra: object = field(default=None, repr=False, compare=False)

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        *,
        host: str | None,
        password: str | None,
        schema: str | None = None,
        port: int | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> GatewaySettings:
        extras = extras or {}
        # Keys pasted from files often end in a line break, which cannot travel in a header.
        api_key = (password or "").strip()
        if not api_key:
            raise HailuoAuthenticationError(
                f"connection {conn_id!r} has no API key: put the gateway's API key in its password field"
            )
        if not api_key.isascii() or not api_key.isprintable():
            # The key itself is never quoted, not even in part.
            raise HailuoAuthenticationError(
                f"the API key of connection {conn_id!r} contains characters that cannot be sent in an HTTP "
                "header (a line break, a control or non-ASCII character): check the password field"
            )
        template = str(extras.get(EXTRA_TASK_PATH) or DEFAULT_TASK_PATH)
        if "{task_id}" not in template:
            raise HailuoValidationError(
                EXTRA_TASK_PATH, f"connection extra task_path={template!r} must contain '{{task_id}}'"
            )
        return cls(
            base_url=normalise_base_url(host, schema=schema, port=port),
            api_key=api_key,
            timeout=_positive_float(extras, EXTRA_TIMEOUT, DEFAULT_TIMEOUT),
            connect_timeout=_positive_float(extras, EXTRA_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT),
            create_path=str(extras.get(EXTRA_CREATE_PATH) or DEFAULT_CREATE_PATH),
            task_path=template,
            retry_limit=_attempts(extras),
            retry_delay=_positive_float(extras, EXTRA_RETRY_DELAY, DEFAULT_RETRY_DELAY),
            allowed_frame_roots=_frame_roots(extras),
            max_polls_per_second_extra=extras.get(EXTRA_MAX_POLLS_PER_SECOND),
            price_table_extra=extras.get(EXTRA_PRICE_TABLE),
        )

    def max_polls_per_second(self) -> float | None:
        """The deployment's polls of this connection a second, at most; ``None``: unpaced.

        :raises HailuoValidationError: the extra is not a positive number.
        """
        extras = {EXTRA_MAX_POLLS_PER_SECOND: self.max_polls_per_second_extra}
        return _optional_positive(extras, EXTRA_MAX_POLLS_PER_SECOND, "polls a second")

    @property
    def create_url(self) -> str:
        return self.base_url + "/" + self.create_path.lstrip("/")

    def task_url(self, task_id: str) -> str:
        return self.base_url + "/" + task_path(self.task_path, task_id).lstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}
