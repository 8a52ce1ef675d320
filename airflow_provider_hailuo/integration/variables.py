"""An Airflow Variable read, written and deleted where it lives, failures raised, never read as
"missing": the metadata database on Airflow 2.11, the API server through the running task's
supervisor on 3.x. The durable record keeps a task instance's gateway task in one on Airflows
without the task state store (see ``durable.py``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_hailuo.exceptions import HailuoError

_VARIABLE_DESCRIPTION = (
    "The Hailuo gateway task of one task instance, kept across its tries (airflow-provider-hailuo)"
)


_METASTORE = "metastore"  # Airflow 2: the worker reads the metadata database itself
_PUBLIC_API = "public"  # a supervisor channel without send() (Airflow 3.0): the public Variable API


def supervisor() -> tuple[Any, Any] | str:
    """``(send, the task SDK's messages)`` for asking the API server through the running task's
    supervisor, or which other way the Variable is read on this Airflow."""
    from airflow_provider_hailuo.version_compat import task_sdk_supervisor

    sdk = task_sdk_supervisor()
    if sdk is None:
        return _METASTORE
    comms, task_runner = sdk
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


def read_variable(key: str) -> str | None:
    channel = supervisor()
    if channel == _METASTORE:
        from airflow.utils.session import create_session

        variable = _model_variable()
        with create_session() as session:
            row = session.query(variable).filter(variable.key == key).one_or_none()
            return None if row is None else str(row.val)
    if isinstance(channel, str):  # pragma: no cover - Airflow 3.0
        stored = _public_variable().get(key, None)
        return None if stored is None else str(stored)
    send, comms = channel
    answer = send(comms.GetVariable(key=key))
    if isinstance(answer, comms.ErrorResponse) and (
        getattr(answer.error, "value", answer.error) == "VARIABLE_NOT_FOUND"
    ):
        return None
    failure = _failed(answer, comms, f"reading the Airflow Variable {key!r}")
    if failure is not None:
        raise failure
    return None if answer.value is None else str(answer.value)


def write_variable(key: str, text: str) -> None:
    channel = supervisor()
    if isinstance(channel, str):  # the model on Airflow 2 raises on failure; read back anyway
        variable = _public_variable() if channel == _PUBLIC_API else _model_variable()
        variable.set(key, text, description=_VARIABLE_DESCRIPTION)
        return
    send, comms = channel
    failure = _failed(
        send(comms.PutVariable(key=key, value=text, description=_VARIABLE_DESCRIPTION)),
        comms,
        f"writing the Airflow Variable {key!r}",
    )
    if failure is not None:
        raise failure


def delete_variable(key: str) -> None:
    channel = supervisor()
    if isinstance(channel, str):
        (_public_variable() if channel == _PUBLIC_API else _model_variable()).delete(key)
        return
    send, comms = channel
    failure = _failed(send(comms.DeleteVariable(key=key)), comms, f"deleting the Airflow Variable {key!r}")
    if failure is not None:
        raise failure
