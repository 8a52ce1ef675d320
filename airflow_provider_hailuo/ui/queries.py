"""The views' reads from Airflow's metadata database (the API server's session): a run's task
instances and their Hailuo XComs, as :class:`~airflow_provider_hailuo.ui.records.VideoRecord`."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from airflow_provider_hailuo.ui.records import (
    HAILUO_OPERATORS,
    HAILUO_XCOM_KEYS,
    VIEW_XCOM_KEYS,
    VideoRecord,
    video_record,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

TaskKey = tuple[str, int]  # (task_id, map_index)


def _xcom_value(row: Any) -> Any:
    """An XCom value as stored: the provider's XComs are plain JSON (strings, numbers, dicts)."""
    from airflow.models.xcom import XComModel

    return XComModel.deserialize_value(row)


def run_records(
    session: Session, dag_id: str, run_id: str, task_id: str | None = None, map_index: int | None = None
) -> list[VideoRecord]:
    """The run's task instances that made (or are making) a Hailuo video, by task and map index.

    A task instance counts if it pushed one of the provider's XComs, or if it is one of the
    provider's operators (so a task still queued, or failed before its create, is listed too).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    xcom_query = select(XComModel).where(
        XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key.in_(VIEW_XCOM_KEYS)
    )
    ti_query = select(
        TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.operator
    ).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    if task_id is not None:
        xcom_query = xcom_query.where(XComModel.task_id == task_id)
        ti_query = ti_query.where(TaskInstance.task_id == task_id)
    if map_index is not None:
        xcom_query = xcom_query.where(XComModel.map_index == map_index)
        ti_query = ti_query.where(TaskInstance.map_index == map_index)

    xcoms: dict[TaskKey, dict[str, Any]] = defaultdict(dict)
    for row in session.scalars(xcom_query):
        xcoms[(row.task_id, row.map_index)][row.key] = _xcom_value(row)
    made_videos = {key for key, values in xcoms.items() if any(k in values for k in HAILUO_XCOM_KEYS)}
    task_ids_with_xcoms = {key[0] for key in made_videos}
    instances = session.execute(
        ti_query.where(
            or_(TaskInstance.operator.in_(HAILUO_OPERATORS), TaskInstance.task_id.in_(task_ids_with_xcoms))
        )
    ).all()
    records = [
        video_record(
            ti_task_id,
            ti_map_index,
            None if state is None else str(state),
            xcoms.get((ti_task_id, ti_map_index), {}),
        )
        for ti_task_id, ti_map_index, state, operator in instances
        if (ti_task_id, ti_map_index) in made_videos or operator in HAILUO_OPERATORS
    ]
    return sorted(records, key=lambda record: (record.task_id, record.map_index))
