"""What the end-to-end suite needs, said plainly when it is missing.

It runs real Airflow processes against PostgreSQL (and Redis for Celery), which the project's
machines run on 127.0.0.1. Point it elsewhere with HAILUO_E2E_POSTGRES_URL / HAILUO_E2E_REDIS_URL;
HAILUO_E2E=skip skips it explicitly (it never passes silently without its servers).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.airflow_versions import AIRFLOW_V_3_3_PLUS

# The suite drives the newest Airflow's processes (API server, DAG processor) and its dependencies
# (the e2e extra) live in that venv only: under Airflow 2.11 and 3.1 (the unit and integration
# suites' other venvs) the modules are not even collected.
collect_ignore_glob = [] if AIRFLOW_V_3_3_PLUS else ["test_*.py", "cluster.py"]

POSTGRES_URL = os.environ.get("HAILUO_E2E_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
REDIS_URL = os.environ.get("HAILUO_E2E_REDIS_URL", "redis://127.0.0.1:6379/7")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HAILUO_E2E") != "skip":
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason="HAILUO_E2E=skip"))


def require_postgres() -> str:
    import psycopg2

    try:
        psycopg2.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as err:
        pytest.fail(
            f"The e2e suite needs a PostgreSQL server on which it may create databases; {POSTGRES_URL} "
            f"answered: {str(err).strip()}. Start one, or set HAILUO_E2E_POSTGRES_URL (e.g. "
            "postgresql://user:password@host:5432); HAILUO_E2E=skip skips the suite.",
            pytrace=False,
        )
    return POSTGRES_URL


def require_redis() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as err:
        pytest.fail(
            f"The Celery e2e scenarios need Redis as the broker; {REDIS_URL} answered: {err}. Start one, or "
            "set HAILUO_E2E_REDIS_URL (e.g. redis://host:6379/7); HAILUO_E2E=skip skips the suite.",
            pytrace=False,
        )
    return REDIS_URL


def make_stills(folder: Path, count: int) -> Path:
    """``count`` small, valid JPEG frames (each a little different) in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", (480, 360), (index * 5 % 256, 80, 160)).save(
            folder / f"still_{index:03d}.jpg", quality=70
        )
    return folder
