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
import os
import time
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any, Protocol

from airflow_provider_hailuo.exceptions import HailuoError
from airflow_provider_hailuo.params import IMAGE_PARAMETERS

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.params import GenerationRequest

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
    """

    request: str
    hailuo_task_id: str | None
    recorded_at: float
    estimate: str | None = None
    carried: str = "0"

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
        )

    def age(self) -> float:
        return time.time() - self.recorded_at


class RecordStore(Protocol):
    """Where one task instance's record lives; ``where`` tells a user how to find it."""

    where: str
    removal: str

    def get(self) -> JobRecord | None: ...

    def put(self, record: JobRecord) -> None: ...

    def delete(self) -> None: ...


class TaskStateStoreRecords:
    """Airflow 3.3+: the task instance's own task state store (its ``get`` raises on a failure)."""

    def __init__(self, store: Any, removal: str) -> None:
        self._store = store
        self.where = f"the task state store key {RECORD_KEY!r} of this task instance"
        self.removal = removal

    def get(self) -> JobRecord | None:
        return JobRecord.from_stored(self._store.get(RECORD_KEY))

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
        stored = _read_variable(self.key)
        if stored is None:
            return None
        try:
            return JobRecord.from_stored(json.loads(stored))
        except ValueError:
            return None

    def put(self, record: JobRecord) -> None:
        text = json.dumps(record.to_json())
        _write_variable(self.key, text)
        if _read_variable(self.key) != text:
            raise HailuoError(f"the record of this task's gateway task could not be written to {self.where}")

    def delete(self) -> None:
        _delete_variable(self.key)


_VARIABLE_DESCRIPTION = (
    "The Hailuo gateway task of one task instance, kept across its tries (airflow-provider-hailuo)"
)


_METASTORE = "metastore"  # Airflow 2: the worker reads the metadata database itself
_PUBLIC_API = "public"  # a supervisor channel without send() (Airflow 3.0): the public Variable API


def _supervisor() -> tuple[Any, Any] | str:
    """``(send, the task SDK's messages)`` for asking the API server through the running task's
    supervisor, or which other way the Variable is read on this Airflow."""
    try:
        from airflow.sdk.execution_time import comms, task_runner
    except ImportError:
        return _METASTORE
    send = getattr(getattr(task_runner, "SUPERVISOR_COMMS", None), "send", None)
    if (
        send is None
    ):  # pragma: no cover - Airflow 3.0, not in CI: Variable.get reads an API failure as missing
        return _PUBLIC_API
    return send, comms


def _model_variable() -> Any:
    from airflow.models.variable import Variable

    return Variable


def _public_variable() -> Any:
    from airflow.providers.common.compat.sdk import Variable

    return Variable


def _failed(answer: Any, comms: Any, what: str) -> HailuoError | None:
    if not isinstance(answer, comms.ErrorResponse):
        return None
    return HailuoError(f"{what} failed: {getattr(answer.error, 'value', answer.error)}")


def _read_variable(key: str) -> str | None:
    supervisor = _supervisor()
    if supervisor == _METASTORE:
        from airflow.utils.session import create_session

        variable = _model_variable()
        with create_session() as session:
            row = session.query(variable).filter(variable.key == key).one_or_none()
            return None if row is None else str(row.val)
    if isinstance(supervisor, str):  # pragma: no cover - Airflow 3.0
        stored = _public_variable().get(key, None)
        return None if stored is None else str(stored)
    send, comms = supervisor
    answer = send(comms.GetVariable(key=key))
    if isinstance(answer, comms.ErrorResponse) and (
        getattr(answer.error, "value", answer.error) == "VARIABLE_NOT_FOUND"
    ):
        return None
    failure = _failed(answer, comms, f"reading the Airflow Variable {key!r}")
    if failure is not None:
        raise failure
    return None if answer.value is None else str(answer.value)


def _write_variable(key: str, text: str) -> None:
    supervisor = _supervisor()
    if isinstance(supervisor, str):  # the model on Airflow 2 raises on failure; read back anyway
        variable = _public_variable() if supervisor == _PUBLIC_API else _model_variable()
        variable.set(key, text, description=_VARIABLE_DESCRIPTION)
        return
    send, comms = supervisor
    failure = _failed(
        send(comms.PutVariable(key=key, value=text, description=_VARIABLE_DESCRIPTION)),
        comms,
        f"writing the Airflow Variable {key!r}",
    )
    if failure is not None:
        raise failure


def _delete_variable(key: str) -> None:
    supervisor = _supervisor()
    if isinstance(supervisor, str):
        (_public_variable() if supervisor == _PUBLIC_API else _model_variable()).delete(key)
        return
    send, comms = supervisor
    failure = _failed(send(comms.DeleteVariable(key=key)), comms, f"deleting the Airflow Variable {key!r}")
    if failure is not None:
        raise failure


def record_store(context: Context) -> RecordStore:
    """The store for the running task instance: the task state store where Airflow (3.3+) offers
    one in the context, else a Variable."""
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    store = context.get("task_state_store")
    if store is not None:
        path = f"/api/v2/dags/{ti.dag_id}/dagRuns/{ti.run_id}/taskInstances/{ti.task_id}/state-store/{RECORD_KEY}"
        query = f"?map_index={map_index}" if map_index >= 0 else ""
        return TaskStateStoreRecords(store, removal=f"DELETE {path}{query} on the API server")
    return VariableRecords(variable_key(ti.dag_id, ti.run_id, ti.task_id, map_index))


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
    if source is None:
        return None
    if isinstance(source, str):
        if source.startswith("data:"):
            return "sha256:" + hashlib.sha256(source.encode()).hexdigest()
        if "://" in source:
            return source
        return os.path.abspath(os.path.expanduser(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(source)).hexdigest()
    if type(source).__name__ == "ObjectStoragePath":
        return f"{source}#conn_id={getattr(source, 'conn_id', None) or ''}"
    if isinstance(source, os.PathLike):
        return os.path.abspath(os.fspath(source))
    if callable(getattr(source, "read", None)):
        handle: Any = source
        if not _seekable(handle):
            # A pipe or socket cannot be read twice: it is named, not digested (and a retry's new
            # stream of the same name resumes).
            return f"stream:{getattr(handle, 'name', type(handle).__name__)}"
        start = handle.tell()
        identity = _digest_stream(handle)
        handle.seek(start)
        return identity
    return repr(source)


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
