"""Misbehaviour on demand: a queue of faults, each aimed at an endpoint and used up after N uses.

Request faults (``status``, ``drop``, ``drop_after_accept``, ``slow``, ``malformed``, ``truncate``)
replace or disturb the answer to one request each (with ``after_accept``, a ``status`` fault is
answered after the gateway acted on the request, as a proxy's page is; a 3xx ``status`` redirects
to the same URL, a redirect loop); ``task_failure`` decides how the next created
tasks end. ``truncate`` (downloads only) sends the full ``Content-Length`` but closes the
connection about halfway through the body, as a download cut short does: a client that trusts
whatever bytes it received saves half a video.
Specs are checked strictly (unknown keys are refused) so a misspelt option cannot silently turn a
test of an error path into a test of the happy path.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from http import HTTPStatus
from typing import Any

from airflow_provider_hailuo.emulator.config import ControlError
from airflow_provider_hailuo.emulator.tasks import (
    DEFAULT_ERROR_CODE,
    ERROR_SHAPE_SEED,
    TaskOutcome,
    check_error_spec,
    task_error_payload,
)
from airflow_provider_hailuo.gateway.http_errors import HTTP_STATUS_HINTS
from airflow_provider_hailuo.gateway.protocol import STATUS_CANCELLED, STATUS_FAILED

ENDPOINT_CREATE = "create"
ENDPOINT_POLL = "poll"
ENDPOINT_DOWNLOAD = "download"
ENDPOINTS: tuple[str, ...] = (ENDPOINT_CREATE, ENDPOINT_POLL, ENDPOINT_DOWNLOAD)
TARGET_ANY = "any"
TARGETS: tuple[str, ...] = (*ENDPOINTS, TARGET_ANY)

KIND_STATUS = "status"
KIND_DROP = "drop"
KIND_DROP_AFTER_ACCEPT = "drop_after_accept"
KIND_SLOW = "slow"
KIND_MALFORMED = "malformed"
KIND_TASK_FAILURE = "task_failure"
KIND_TRUNCATE = "truncate"

# The four error body shapes of docs/gateway-protocol.md, plus plain text and an nginx HTML page, as a proxy in
# front would send (a 404 page from a proxy is not the gateway's "task not found").
BODY_SHAPE_TEXT = "text"
BODY_SHAPE_HTML = "html"
BODY_SHAPES: tuple[str, ...] = (
    "error.message",
    "error.error_message",
    "message",
    "error",
    BODY_SHAPE_TEXT,
    BODY_SHAPE_HTML,
)
# ``undecodable``: the real answer labelled ``Content-Encoding: gzip`` but sent plain, as a proxy that
# mislabels a body does; the client cannot decode what the gateway answered.
MALFORMED_VARIANTS: tuple[str, ...] = ("not_json", "empty", "missing_id", "missing_status", "undecodable")

# The options each kind accepts besides kind, target and times; the fixed target, if any.
_KIND_OPTIONS: Mapping[str, frozenset[str]] = {
    KIND_STATUS: frozenset({"http_status", "body_shape", "message", "retry_after", "after_accept"}),
    KIND_DROP: frozenset(),
    KIND_DROP_AFTER_ACCEPT: frozenset(),
    KIND_SLOW: frozenset({"delay_seconds"}),
    KIND_MALFORMED: frozenset({"malformed"}),
    KIND_TASK_FAILURE: frozenset({"task_status", "error_code", "error_shape", "error_message"}),
    KIND_TRUNCATE: frozenset(),
}
KINDS: tuple[str, ...] = tuple(_KIND_OPTIONS)
# Kinds that only make sense on one endpoint: that endpoint, and what the kind acts on there.
_FIXED_TARGETS: Mapping[str, tuple[str, str]] = {
    KIND_DROP_AFTER_ACCEPT: (ENDPOINT_CREATE, "task creation"),
    KIND_TASK_FAILURE: (ENDPOINT_CREATE, "task creation"),
    KIND_TRUNCATE: (ENDPOINT_DOWNLOAD, "video downloads"),
}


@dataclass
class Fault:
    """One queued fault; ``times`` counts the uses left. Options not used by ``kind`` keep defaults."""

    id: int
    kind: str
    target: str
    times: int
    http_status: int = 500
    body_shape: str = "error.message"
    message: str | None = None
    retry_after: float | str | None = None
    after_accept: bool = False
    delay_seconds: float = 1.0
    malformed: str = "not_json"
    task_status: str = STATUS_FAILED
    error_code: str | None = None
    error_shape: str = ERROR_SHAPE_SEED
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        shown = {"id", "kind", "target", "times", *_KIND_OPTIONS[self.kind]}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in shown}

    def error_body(self) -> tuple[bytes, str]:
        """The body of a ``status`` fault, in the chosen shape, and its content type."""
        if self.body_shape == BODY_SHAPE_HTML:
            # nginx's own error page, which names the status only: ``message`` has no place in it.
            line = f"{self.http_status} {_reason(self.http_status)}".strip()
            page = (
                f"<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1>"
                "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            )
            return page.encode(), "text/html"
        message = self.message or HTTP_STATUS_HINTS.get(self.http_status) or "injected fault"
        if self.body_shape == BODY_SHAPE_TEXT:
            return message.encode(), "text/plain"
        payload: dict[str, Any]
        if self.body_shape == "error.message":
            payload = {"error": {"message": message}}
        elif self.body_shape == "error.error_message":
            payload = {"error": {"error_message": message}}
        elif self.body_shape == "message":
            payload = {"message": message}
        else:
            payload = {"error": message}
        return json.dumps(payload).encode(), "application/json"

    def retry_after_header(self) -> str | None:
        """Whole seconds as an integer (the RFC's form); fractions and HTTP dates pass as given."""
        value = self.retry_after
        if value is None or isinstance(value, str):
            return value
        return str(int(value)) if float(value).is_integer() else str(value)

    def task_outcome(self) -> TaskOutcome:
        code = self.error_code
        if code is None and self.task_status == STATUS_FAILED:
            code = DEFAULT_ERROR_CODE
        return TaskOutcome(self.task_status, task_error_payload(code, self.error_shape, self.error_message))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a code HTTP does not name, such as 599: nginx shows the number alone
        return ""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ControlError(message)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_options(fault: Fault) -> None:
    """Each option's type and range; messages name the option and what it accepts."""
    _require(
        isinstance(fault.http_status, int) and 100 <= fault.http_status <= 599,
        f"http_status must be an HTTP status code, got {fault.http_status!r}",
    )
    _require(fault.body_shape in BODY_SHAPES, f"body_shape must be one of {', '.join(BODY_SHAPES)}")
    _require(fault.message is None or isinstance(fault.message, str), "message must be a string")
    _require(
        fault.retry_after is None
        or isinstance(fault.retry_after, str)
        or (_is_number(fault.retry_after) and float(fault.retry_after) >= 0),
        f"retry_after must be seconds >= 0 or an HTTP date string, got {fault.retry_after!r}",
    )
    _require(isinstance(fault.after_accept, bool), "after_accept must be true or false")
    _require(
        _is_number(fault.delay_seconds) and fault.delay_seconds >= 0,
        f"delay_seconds must be a number >= 0, got {fault.delay_seconds!r}",
    )
    _require(
        fault.malformed in MALFORMED_VARIANTS, f"malformed must be one of {', '.join(MALFORMED_VARIANTS)}"
    )
    _require(
        fault.task_status in (STATUS_FAILED, STATUS_CANCELLED),
        f"task_status must be {STATUS_FAILED!r} or {STATUS_CANCELLED!r}, got {fault.task_status!r}",
    )
    _require(
        fault.error_message is None or isinstance(fault.error_message, str), "error_message must be a string"
    )
    check_error_spec(fault.task_status, fault.error_code, fault.error_shape)


def parse_fault(spec: object, fault_id: int) -> Fault:
    """A :class:`Fault` from its JSON spec, or :class:`ControlError` saying what is wrong with it."""
    if not isinstance(spec, Mapping):
        raise ControlError("a fault must be a JSON object")
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in _KIND_OPTIONS:
        raise ControlError(f"kind={kind!r}: must be one of {', '.join(KINDS)}")
    allowed = {"kind", "target", "times", *_KIND_OPTIONS[kind]}
    unknown = sorted(set(spec) - allowed)
    _require(
        not unknown,
        f"{kind} fault: unknown option(s) {', '.join(map(str, unknown))}; allowed: {sorted(allowed)}",
    )
    fixed_target, acts_on = _FIXED_TARGETS.get(kind, (None, ""))
    target = spec.get("target", fixed_target or TARGET_ANY)
    _require(target in TARGETS, f"target={target!r}: must be one of {', '.join(TARGETS)}")
    _require(
        fixed_target is None or target == fixed_target,
        f"a {kind} fault acts on {acts_on}: its target must be {fixed_target!r}",
    )
    times = spec.get("times", 1)
    _require(
        isinstance(times, int) and not isinstance(times, bool) and times >= 1,
        f"times must be an integer >= 1, got {times!r}",
    )
    options = {key: spec[key] for key in _KIND_OPTIONS[kind] if key in spec}
    fault = Fault(id=fault_id, kind=kind, target=target, times=times, **options)
    _check_options(fault)
    return fault


class FaultQueue:
    """Faults in the order they were added; the first one that fits a request is used."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1
        self.applied: Counter[str] = Counter()

    def add_all(self, specs: list[object]) -> list[Fault]:
        """Queue several faults in order; if one spec is wrong, none is queued."""
        if not specs:
            raise ControlError("no fault given")
        added = [parse_fault(spec, self._next_id + offset) for offset, spec in enumerate(specs)]
        self._next_id += len(added)
        self._faults.extend(added)
        return added

    def take(self, endpoint: str) -> Fault | None:
        """The request fault for this endpoint, if one is queued, with one use consumed."""
        if not self._faults:
            return None
        for fault in self._faults:
            if fault.kind != KIND_TASK_FAILURE and fault.target in (endpoint, TARGET_ANY):
                return self._use(fault)
        return None

    def take_task_failure(self) -> Fault | None:
        for fault in self._faults:
            if fault.kind == KIND_TASK_FAILURE:
                return self._use(fault)
        return None

    def _use(self, fault: Fault) -> Fault:
        fault.times -= 1
        if fault.times == 0:
            self._faults.remove(fault)
        self.applied[fault.kind] += 1
        return fault

    def pending(self) -> list[dict[str, Any]]:
        return [fault.to_dict() for fault in self._faults]

    def clear(self) -> None:
        self._faults.clear()
