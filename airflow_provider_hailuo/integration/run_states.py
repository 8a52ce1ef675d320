"""The states of a DAG run's task instances, read from one of its running tasks on every
supported Airflow.

The run cap (:mod:`airflow_provider_hailuo.integration.spend`) asks which of the run's spending task
instances are running: Airflow deletes a task instance's XComs when its new try starts, so a
running try may have had its commitment deleted and not written it again yet.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

# (task id, map index), -1 for a task that is not mapped.
TaskInstanceKey = tuple[str, int]


def run_task_states(context: Context, task_ids: Collection[str]) -> dict[TaskInstanceKey, str | None]:
    """The state of every task instance of ``task_ids`` in this task's DAG run."""
    ti = context["ti"]
    get_task_states = getattr(ti, "get_task_states", None)
    if get_task_states is not None:  # Airflow 3's task SDK asks the API server
        answer = get_task_states(dag_id=ti.dag_id, task_ids=list(task_ids), run_ids=[ti.run_id])
        return parse_task_states((answer or {}).get(ti.run_id) or {}, task_ids)
    # Airflow 2: a task reads the metadata database itself (its context's DagRun is the model).
    dag_run: Any = context["dag_run"]
    return {
        (instance.task_id, int(instance.map_index)): _state_name(instance.state)
        for instance in dag_run.get_task_instances()
        if instance.task_id in task_ids
    }


def parse_task_states(
    states: Mapping[str, Any], task_ids: Collection[str]
) -> dict[TaskInstanceKey, str | None]:
    """Airflow 3's answer, keyed ``task_id`` for a task that is not mapped and
    ``f"{task_id}_{map_index}"`` for a mapped one. A key that is both (a task ``clip_1`` beside a
    mapped task ``clip``) is read as the task that is not mapped: the answer cannot tell them apart."""
    parsed: dict[TaskInstanceKey, str | None] = {}
    for key, state in states.items():
        if key in task_ids:
            parsed[(key, -1)] = _state_name(state)
            continue
        task_id, _, index = key.rpartition("_")
        if task_id in task_ids and index.isdigit():
            parsed[(task_id, int(index))] = _state_name(state)
    return parsed


def _state_name(state: object) -> str | None:
    """``"running"``, whether Airflow gives a ``TaskInstanceState`` or its value."""
    return None if state is None else str(getattr(state, "value", state))
