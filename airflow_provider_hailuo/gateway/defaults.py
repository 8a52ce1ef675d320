"""Where the gateway is and how long to wait for it, by default.

A leaf module with no imports: Airflow's provider discovery loads ``get_provider_info`` while
Airflow itself is still initialising, so what that reads must not import Airflow in turn.
"""

from __future__ import annotations

# The provider's section of Airflow's configuration (get_provider_info lists its options).
CONFIG_SECTION = "hailuo"

# The connection the hook, the operator, the sensor and the triggers use unless told otherwise.
DEFAULT_CONN_ID = "hailuo_default"

DEFAULT_HOST = "https://cloud.vtrix.ai"
DEFAULT_CREATE_PATH = "/model/v1/generation"
DEFAULT_TASK_PATH = "/model/v1/generation/task/{task_id}"
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
# Transient faults: attempts per call, and the first backoff (it doubles, with jitter, up to 30 s),
# so the defaults ride out about a minute of trouble.
DEFAULT_RETRY_LIMIT = 6
DEFAULT_RETRY_DELAY = 1.0

# Waiting for a video: renders take minutes, so a poll every 15 s costs little and loses little.
DEFAULT_POLL_INTERVAL = 15.0
DEFAULT_WAIT_TIMEOUT = 60 * 60.0
# How long a create refused for the gateway's quota may wait and be sent again (also never longer
# than the operator's timeout): a batch of N at R creates a minute needs about N/R minutes.
DEFAULT_MAX_QUOTA_WAIT = 60 * 60.0
# A deferred task comes back no sooner than this after deferring, by default (see deferral.py:
# Airflow 3.x can fail a task whose trigger fires within seconds, apache/airflow#72716).
MIN_DEFERRAL_SECONDS = 15.0
CONFIG_MIN_DEFERRAL = "min_deferral_seconds"
# The option as an environment variable, as Airflow reads it (the dag.test() sandbox sets it).
MIN_DEFERRAL_ENV = f"AIRFLOW__{CONFIG_SECTION.upper()}__{CONFIG_MIN_DEFERRAL.upper()}"
# How many triggerers share each connection's max_polls_per_second (integration/triggerers.py).
CONFIG_TRIGGERERS = "triggerers"
# Airflow's own deferral deadline trails the trigger's end time by this much, so the trigger's
# clearer timeout message normally wins the race.
DEFERRAL_GRACE_SECONDS = 60.0
