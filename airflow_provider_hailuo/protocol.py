"""The import path of earlier releases, kept working: the code lives in ``gateway/protocol.py``."""

from __future__ import annotations

from airflow_provider_hailuo.gateway.protocol import *  # noqa: F403
