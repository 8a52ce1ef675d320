"""The import path of earlier releases, kept working: the code lives in ``gateway/params.py``."""

from __future__ import annotations

from airflow_provider_hailuo.gateway.params import *  # noqa: F403
