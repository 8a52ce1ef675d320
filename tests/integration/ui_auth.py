"""The API server's auth manager in the UI view tests: Airflow's simple auth manager, with one
user ("outsider") who may not read one DAG (the gallery) of the two whose videos the tests show.

Airflow's simple auth manager lets every role read every DAG; a per-DAG refusal needs a manager
that says no, as a deployment's FAB or Keycloak roles would.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"
HIDDEN_DAG = "hailuo_ui_gallery"


class OneUserLockedOutAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        dag_id = getattr(details, "id", None)
        # No DAG named: "may this user read every DAG?", which the outsider may not.
        if user.get_name() == OUTSIDER and (dag_id is None or str(dag_id) == HIDDEN_DAG):
            return False
        allowed: bool = super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
        return allowed
