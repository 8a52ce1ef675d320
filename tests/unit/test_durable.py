"""The durable record: the request fingerprint tells frames apart by place or content, records
round-trip through a store, and each Airflow gets the store that survives its retries."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hailuo.exceptions import HailuoError
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.integration import variables
from airflow_provider_hailuo.integration.durable import (
    VARIABLE_PREFIX,
    JobRecord,
    TaskStateStoreRecords,
    VariableRecords,
    record_store,
    request_fingerprint,
    variable_key,
)
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, EVERY_AIRFLOW
from tests.integration.support import StandInStateStore

pytestmark = EVERY_AIRFLOW


def fingerprint(first_frame_image: Any, **kwargs: Any) -> str:
    return request_fingerprint(GenerationRequest(first_frame_image=first_frame_image, **kwargs))


def test_paths_with_the_same_file_name_in_other_folders_are_other_frames(tmp_path: Path) -> None:
    assert fingerprint("/a/front.jpg") != fingerprint("/b/front.jpg")
    assert fingerprint(Path("/a/front.jpg")) != fingerprint(Path("/b/front.jpg"))


def test_a_path_is_the_same_frame_as_text_or_object_and_relative_or_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        fingerprint("front.jpg") == fingerprint(str(tmp_path / "front.jpg")) == fingerprint(Path("front.jpg"))
    )


def test_object_storage_paths_differ_by_folder_and_by_connection() -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    a = ObjectStoragePath("file:///a/front.jpg")
    b = ObjectStoragePath("file:///b/front.jpg")
    other_conn = ObjectStoragePath("file:///a/front.jpg", conn_id="other_store")
    assert len({fingerprint(a), fingerprint(b), fingerprint(other_conn)}) == 3


def test_bytes_file_objects_and_data_urls_are_identified_by_content() -> None:
    first = io.BytesIO(b"one image")
    same = io.BytesIO(b"one image")
    assert fingerprint(first) == fingerprint(same) == fingerprint(b"one image")
    assert fingerprint(io.BytesIO(b"another image")) != fingerprint(first)
    assert first.tell() == 0  # rewound: the frame is still read whole when it is sent
    assert fingerprint("data:image/png;base64,AAAA") != fingerprint("data:image/png;base64,AAAB")


def test_every_parameter_takes_part() -> None:
    base = fingerprint("https://example.com/a.png")
    assert fingerprint("https://example.com/a.png", prompt="[zoom in]") != base
    assert fingerprint("https://example.com/a.png", last_frame_image="https://example.com/b.png") != base
    assert fingerprint("https://example.com/a.png", duration=10) != base


def test_a_record_round_trips_and_older_shapes_are_read() -> None:
    record = JobRecord(request="abc", hailuo_task_id="task_1", recorded_at=12.5)
    assert JobRecord.from_stored(record.to_json()) == record
    intent = JobRecord(request="abc", hailuo_task_id=None, recorded_at=1.0)
    assert JobRecord.from_stored(intent.to_json()) == intent
    # A record without a time reads as recorded long ago.
    assert JobRecord.from_stored({"hailuo_task_id": "task_1", "request": "abc"}) == JobRecord(
        request="abc", hailuo_task_id="task_1", recorded_at=0.0
    )
    assert JobRecord.from_stored("task_1") is None
    assert JobRecord.from_stored(None) is None
    # The time a commitment was first made survives the store; a record older than it has none.
    committed = JobRecord(
        request="abc", hailuo_task_id="t", recorded_at=2.0, estimate="0.28", committed_at=1.5
    )
    assert JobRecord.from_stored(json.loads(json.dumps(committed.to_json()))) == committed
    for stored in (None, "1.5", True, float("nan")):
        record = JobRecord.from_stored({"request": "abc", "hailuo_task_id": "t", "committed_at": stored})
        assert record is not None
        assert record.committed_at is None


class StandInTaskInstance:
    dag_id = "catalogue"
    run_id = "scheduled__2026-12-01T00:00:00+00:00"
    task_id = "video"
    map_index = 3


def test_the_task_state_store_is_used_where_airflow_offers_it() -> None:
    store = StandInStateStore()
    records = record_store({"task_state_store": store, "ti": StandInTaskInstance()})  # type: ignore[typeddict-item]
    assert isinstance(records, TaskStateStoreRecords)
    assert records.removal == (
        "DELETE /api/v2/dags/catalogue/dagRuns/scheduled__2026-12-01T00:00:00+00:00/taskInstances/video/"
        "state-store/hailuo_task_id?map_index=3 on the API server"
    )
    records.put(JobRecord(request="abc", hailuo_task_id="task_1", recorded_at=1.0))
    assert records.get() == JobRecord(request="abc", hailuo_task_id="task_1", recorded_at=1.0)
    records.delete()
    assert records.get() is None


class EarlierAirflowsVariable:
    """Stands in for the Variable an Airflow before 3.3 kept a record in."""

    where = "the Airflow Variable 'hailuo_task_record.catalogue.video.3.x'"
    removal = "airflow variables delete 'hailuo_task_record.catalogue.video.3.x'"

    def __init__(self, record: JobRecord | None) -> None:
        self.record, self.writes = record, 0

    def get(self) -> JobRecord | None:
        return self.record

    def put(self, record: JobRecord) -> None:
        self.writes += 1

    def delete(self) -> None:
        self.writes += 1


def test_on_3_3_a_record_an_earlier_airflow_left_in_a_variable_is_still_found() -> None:
    """A retry pending across an upgrade from 3.2 resumes its video: read both, write one."""
    earlier = JobRecord(request="abc", hailuo_task_id="task_from_3_2", recorded_at=1.0, estimate="0.28")
    legacy = EarlierAirflowsVariable(earlier)
    store = StandInStateStore()
    records = TaskStateStoreRecords(store, removal="DELETE ... on the API server", legacy=legacy)
    assert records.get() == earlier
    assert records.removal == legacy.removal  # the message names where it was found
    now = JobRecord(request="abc", hailuo_task_id="task_from_3_3", recorded_at=2.0)
    records.put(now)
    assert records.get() == now  # the task state store first
    assert records.removal == "DELETE ... on the API server"
    assert legacy.writes == 0


def test_without_a_task_state_store_a_variable_per_task_instance_is_used() -> None:
    records = record_store({"ti": StandInTaskInstance()})  # type: ignore[typeddict-item]
    assert isinstance(records, VariableRecords)
    assert records.key.startswith(f"{VARIABLE_PREFIX}.catalogue.video.3.")
    assert records.key in records.where
    assert records.removal == f"airflow variables delete '{records.key}'"


def test_variable_keys_fit_the_key_column_and_stay_distinct() -> None:
    long_dag = "d" * 240
    first = variable_key(long_dag, "run", "video", 0)
    second = variable_key(long_dag, "run", "video", 1)
    assert len(first) <= 250
    assert first != second
    assert variable_key("dag", "run", "video", -1) != variable_key("dag", "run", "video", 0)
    # Dots in task group ids and run ids cannot make two task instances share one key.
    assert variable_key("dag", "a.b", "c", 0) != variable_key("dag", "a", "b.c", 0)


# -- a record read as missing would pay again: failures must raise, not read as "none" ----------


def test_a_variable_write_that_did_not_land_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task SDK's Variable.set only logs a failure: each write is read back."""
    monkeypatch.setattr(variables, "write_variable", lambda key, text: None)
    monkeypatch.setattr(variables, "read_variable", lambda key: None)
    with pytest.raises(HailuoError, match="could not be written to the Airflow Variable"):
        VariableRecords("hailuo_task_record.x").put(
            JobRecord(request="abc", hailuo_task_id="t", recorded_at=1.0)
        )


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 2 reads the metadata database itself")
def test_on_airflow_2_a_database_error_is_not_a_missing_record(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    records = VariableRecords("hailuo_task_record.db_error")
    records.put(JobRecord(request="abc", hailuo_task_id="task_1", recorded_at=1.0))
    assert records.get() == JobRecord(request="abc", hailuo_task_id="task_1", recorded_at=1.0)

    def broken_session() -> Any:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr("airflow.utils.session.create_session", broken_session)
    with pytest.raises(OperationalError):
        records.get()


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 3 asks the API server through the supervisor")
@pytest.mark.parametrize(("error", "found"), [("VARIABLE_NOT_FOUND", None), ("GENERIC_ERROR", "raises")])
def test_on_airflow_3_only_not_found_is_a_missing_record(
    monkeypatch: pytest.MonkeyPatch, error: str, found: str | None
) -> None:
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time import comms

    sent: list[Any] = []

    def send(message: Any) -> Any:
        sent.append(message)
        return comms.ErrorResponse(error=ErrorType[error])

    monkeypatch.setattr(variables, "supervisor", lambda: (send, comms))
    records = VariableRecords("hailuo_task_record.api_error")
    if found == "raises":
        with pytest.raises(
            HailuoError, match=r"reading the Airflow Variable 'hailuo_task_record\.api_error' failed"
        ):
            records.get()
    else:
        assert records.get() is None
    assert [type(message).__name__ for message in sent] == ["GetVariable"]
