"""Where the gateway is and how long to wait for it, by default.

A leaf module with no imports: Airflow's provider discovery loads ``get_provider_info`` while
Airflow itself is still initialising, so what that reads must not import Airflow in turn.
"""

from __future__ import annotations

DEFAULT_HOST = "https://cloud.vtrix.ai"
DEFAULT_CREATE_PATH = "/model/v1/generation"
DEFAULT_TASK_PATH = "/model/v1/generation/task/{task_id}"
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
