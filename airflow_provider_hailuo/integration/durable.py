"""The durable record of a gateway task: what lets a retry find the video an earlier try paid for.

Purpose
    A video is paid for when the gateway accepts its create request. If the Airflow task then
    dies (a worker killed, a timeout, a lost API server) its retry must find that gateway task
    instead of paying for a second one, on every supported Airflow.

How it works
    One record per task instance, in a store that survives a retry:

    - Airflow 3.3+: the task state store (``context["task_state_store"]``), made for this.
    - Airflow 2.11 and 3.0-3.2: an Airflow Variable named after the task instance
      (:func:`variable_key`). Variables live in the metadata database, are readable and writable
      from a task on every version, and survive retries; XCom does not (a new try clears its
      task's XComs), and a task instance has no other writable field.

    The record outlives the task instance's success on both: deleting it before Airflow has
    stored the success (the return value's XCom, the state) would let a retry in that window pay
    again. Airflow expires task state store rows itself; Variables stay until removed.

    The operator writes the record in two steps around the create request (:class:`JobRecord`):
    an *intent* (the request's fingerprint, no task id) just before the request is sent, then the
    gateway task id as soon as the answer is read, before anything else (XCom, logging). A retry
    reads the record first:

    - the gateway task id, for the same request: resume it (wait, or take its result);
    - an intent without an id: a create was sent and its answer never recorded. The gateway may
      have made (and may charge for) a video, so nothing is sent again (an ambiguous failure is
      never resent, as for a timeout after sending);
    - a record for another request (the DAG changed, a mapped index holds another image): ignored.

What it does not do
    It does not cancel a gateway task (the gateway documents no cancel endpoint), and it does not
    share records between task instances: two tasks asking for the same video pay twice.

Known limitation
    The answer to a create cannot be recorded in the same step as the request is sent. A worker
    killed between reading the answer and writing the id leaves the intent: the retry then
    refuses to send anything, and the video the gateway made is found in its console, not here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any, Protocol

from airflow_provider_hailuo.exceptions import HailuoError
from airflow_provider_hailuo.gateway.params import IMAGE_PARAMETERS
from airflow_provider_hailuo.integration import variables
from airflow_provider_hailuo.media.kinds import Kind, kind_of

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.gateway.params import GenerationRequest

# The task state store key; renaming it strands the retries of tasks in flight during an upgrade.
RECORD_KEY = "hailuo_task_id"
VARIABLE_PREFIX = "hailuo_task_record"
_MAX_VARIABLE_KEY = 250  # the Variable key column's length on every supported Airflow
_READ_CHUNK = 1024 * 1024


def _dollar_text(value: object) -> str | None:
    """An amount as a record keeps it; anything unreadable (a record from another writer) is none."""
    if not isinstance(value, str):
        return None
    try:
        return value if Decimal(value).is_finite() else None
    except InvalidOperation:
        return None


def _dollars(value: str | None) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


@dataclass(frozen=True)
class JobRecord:
    """What a store keeps for one task instance.

    ``hailuo_task_id`` is ``None`` while a create is in flight (the intent). ``recorded_at`` is Unix
    time. ``estimate`` is what the task's video was estimated to cost, ``carried`` what the videos of
    earlier tries that were not resumed count (US dollar strings): the run's cost cap counts both.
    ``committed_at`` is when that commitment was first made (Unix time): a later try, or the try
    of a cleared run, commits it again at that time, so that it keeps its place among the run's.
    ``run_clears`` and ``run_started`` are the DAG run's clear number and start as the record was
    written (:func:`run_epoch`): a record belongs to its DAG run, not to a run id that a run
    deleted and created again reuses (:meth:`belongs_to`).
    """

    request: str
    hailuo_task_id: str | None
    recorded_at: float
    estimate: str | None = None
    carried: str = "0"
    committed_at: float | None = None
    run_clears: int | None = None
    run_started: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def committed(self) -> Decimal:
        """What this record's videos count against the run's cost cap (the estimate, carried included)."""
        return _dollars(self.carried) + _dollars(self.estimate)

    @classmethod
    def from_stored(cls, stored: object) -> JobRecord | None:
        """Read what a store holds; anything else there (another writer's value) is no record, and
        a record without a time reads as long recorded."""
        if not isinstance(stored, dict) or not isinstance(stored.get("request"), str):
            return None
        task_id = stored.get("hailuo_task_id")
        return cls(
            request=stored["request"],
            hailuo_task_id=task_id if isinstance(task_id, str) and task_id else None,
            recorded_at=float(stored.get("recorded_at") or 0.0),
            estimate=_dollar_text(stored.get("estimate")),
            carried=_dollar_text(stored.get("carried")) or "0",
            committed_at=_unix_time(stored.get("committed_at")),
            run_clears=clears if isinstance(clears := stored.get("run_clears"), int) else None,
            run_started=started if isinstance(started := stored.get("run_started"), str) else None,
        )

    def belongs_to(self, epoch: tuple[int, str | None]) -> bool | None:
        """Whether this record was written in the DAG run whose :func:`run_epoch` is ``epoch``:
        ``True``, ``False``, or ``None`` when that cannot be told.

        A run's clear number only grows. So a record from a lower clear number is this run's,
        cleared since, and one from a higher number another run's (deleted, and created again with
        this run id). From the same clear number, it is this run's if the run started at the same
        time; a different start is either another run, or this run set back to queued (which
        starts it again without a new clear number): it cannot be told which. A record written
        before runs were kept belongs (as it always did).
        """
        if self.run_clears is None:
            return True
        clears, started = epoch
        if self.run_clears != clears:
            return self.run_clears < clears
        return True if self.run_started == started else None

    def age(self) -> float:
        return time.time() - self.recorded_at


def run_epoch(context: Context) -> tuple[int, str | None]:
    """The DAG run's clear number and start (ISO 8601), which tell one run from another run
    created with the same run id after it was deleted (a stand-in context without a run: 0, None)."""
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None)
    return int(getattr(dag_run, "clear_number", 0) or 0), None if started is None else started.isoformat()


def _unix_time(value: object) -> float | None:
    """A stored time; anything else (a record written before times were kept) is none."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class RecordStore(Protocol):
    """Where one task instance's record lives; ``where`` tells a user how to find it, ``removal``
    how to remove it."""

    @property
    def where(self) -> str: ...

    @property
    def removal(self) -> str: ...

    def get(self) -> JobRecord | None: ...

    def put(self, record: JobRecord) -> None: ...

    def delete(self) -> None: ...


class TaskStateStoreRecords:
    """Airflow 3.3+: the task instance's own task state store (its ``get`` raises on a failure).

    ``legacy``: where an earlier Airflow kept the record (a Variable, before 3.3). Read when the
    store has none, so that a retry pending across an upgrade to 3.3 resumes its video instead of
    paying again; never written (read both, write one).
    """

    def __init__(self, store: Any, removal: str, legacy: RecordStore | None = None) -> None:
        self._store = store
        self._legacy = legacy
        self._where = f"the task state store key {RECORD_KEY!r} of this task instance"
        self._removal = removal
        self._found_in_legacy = False

    @property
    def where(self) -> str:
        return self._legacy.where if self._found_in_legacy and self._legacy else self._where

    @property
    def removal(self) -> str:
        return self._legacy.removal if self._found_in_legacy and self._legacy else self._removal

    def get(self) -> JobRecord | None:
        record = JobRecord.from_stored(self._store.get(RECORD_KEY))
        self._found_in_legacy = False
        if record is None and self._legacy is not None:
            record = self._legacy.get()
            self._found_in_legacy = record is not None
        return record

    def put(self, record: JobRecord) -> None:
        self._store.set(RECORD_KEY, record.to_json())

    def delete(self) -> None:
        self._store.delete(RECORD_KEY)


def variable_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The Variable of one task instance: readable, and unambiguous through a digest of all four
    parts (dots in task group ids and run ids could otherwise make two keys one)."""
    digest = hashlib.sha256(json.dumps([dag_id, run_id, task_id, map_index]).encode()).hexdigest()
    readable = f"{VARIABLE_PREFIX}.{dag_id}.{task_id}.{map_index}.{digest[:16]}"
    return readable if len(readable) <= _MAX_VARIABLE_KEY else f"{VARIABLE_PREFIX}.{digest}"


class VariableRecords:
    """Airflow 2.11 and 3.0-3.2: an Airflow Variable per task instance.

    Read and written where the Variable lives (the metadata database on 2.11, the API server
    through the task's supervisor on 3.x), not through ``Variable.get``: that answers "not found"
    when a secrets backend, the database or the API server fails, and a record read as missing
    would pay again. A write is read back, since the task SDK's ``Variable.set`` only logs a
    failure.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.where = f"the Airflow Variable {key!r}"
        self.removal = f"airflow variables delete '{key}'"

    def get(self) -> JobRecord | None:
        stored = variables.read_variable(self.key)
        if stored is None:
            return None
        try:
            return JobRecord.from_stored(json.loads(stored))
        except ValueError:
            return None

    def put(self, record: JobRecord) -> None:
        text = json.dumps(record.to_json())
        variables.write_variable(self.key, text)
        if variables.read_variable(self.key) != text:
            raise HailuoError(f"the record of this task's gateway task could not be written to {self.where}")

    def delete(self) -> None:
        variables.delete_variable(self.key)


def record_store(context: Context) -> RecordStore:
    """The store for the running task instance: the task state store where Airflow (3.3+) offers
    one in the context, else a Variable."""
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    store = context.get("task_state_store")
    variable = VariableRecords(variable_key(ti.dag_id, ti.run_id, ti.task_id, map_index))
    if store is not None:
        path = f"/api/v2/dags/{ti.dag_id}/dagRuns/{ti.run_id}/taskInstances/{ti.task_id}/state-store/{RECORD_KEY}"
        query = f"?map_index={map_index}" if map_index >= 0 else ""
        # The Variable is read through the task's supervisor, as on 3.1-3.2 (the Airflow a record
        # can be left by); without one (a process that is not a running task) it is not read.
        legacy = variable if isinstance(variables.supervisor(), tuple) else None
        return TaskStateStoreRecords(store, removal=f"DELETE {path}{query} on the API server", legacy=legacy)
    return variable


# -- the request fingerprint ----------------------------------------------------------------------


def _digest_stream(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_READ_CHUNK):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def frame_identity(source: object) -> object:
    """What tells one frame from another, so that a stored task is resumed only for the same frame.

    - an http(s) URL or an object storage URI: the whole text;
    - a local path (text or path object): its absolute path;
    - an ObjectStoragePath: its URI with its connection id;
    - a data URL, bytes and file objects: a digest of the content (a file object is rewound).

    So a path or URI is "the same" frame when it names the same place: a file rewritten in place
    between tries still resumes the first try's video (the place is what a DAG author names).
    """
    kind = kind_of(source)
    if isinstance(source, str):
        if kind is Kind.DATA_URL:
            return "sha256:" + hashlib.sha256(source.encode()).hexdigest()
        if kind in (Kind.HTTP_URL, Kind.URI):
            return source
        return os.path.abspath(os.path.expanduser(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(source)).hexdigest()
    if kind is Kind.STORAGE_PATH:
        return f"{source}#conn_id={getattr(source, 'conn_id', None) or ''}"
    if isinstance(source, os.PathLike):
        return os.path.abspath(os.fspath(source))
    if kind is Kind.STREAM:
        handle: Any = source
        if not _seekable(handle):
            # A pipe or socket cannot be read twice: it is named, not digested (and a retry's new
            # stream of the same name resumes).
            return f"stream:{getattr(handle, 'name', type(handle).__name__)}"
        start = handle.tell()
        identity = _digest_stream(handle)
        handle.seek(start)
        return identity
    return None if source is None else repr(source)


def _seekable(handle: Any) -> bool:
    try:
        return bool(handle.seekable())
    except (AttributeError, ValueError):
        return False


def request_fingerprint(request: GenerationRequest) -> str:
    """A short digest of what was asked for: a stored task is resumed only for the same request."""
    asked: dict[str, Any] = {"model": request.model, **request.options()}
    asked.update({name: frame_identity(getattr(request, name)) for name in IMAGE_PARAMETERS})
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()[:16]
