"""A local, faithful stand-in for the Vtrix gateway's Hailuo 02 image-to-video API.

Where the gateway's documentation leaves room, it behaves in the least convenient way the real
service plausibly could (expiring, ever-changing video URLs that all end in ``output.mp4``, one
file per task, 404s just after a create on demand), so a wrong client assumption fails a test.
``task_id_of_video`` tells whose video a downloaded file is.

Names are loaded on first use: the pytest plugin imports this package for every test session of
every user of the provider, and must not pull in aiohttp or Airflow by doing so.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_hailuo.emulator.app import create_app
    from airflow_provider_hailuo.emulator.client import EmulatorClient
    from airflow_provider_hailuo.emulator.server import EmulatorServer
    from airflow_provider_hailuo.emulator.videos import task_id_of_video, video_bytes_for

__all__ = ["EmulatorClient", "EmulatorServer", "create_app", "task_id_of_video", "video_bytes_for"]

_HOMES = {
    "EmulatorServer": "airflow_provider_hailuo.emulator.server",
    "EmulatorClient": "airflow_provider_hailuo.emulator.client",
    "create_app": "airflow_provider_hailuo.emulator.app",
    "task_id_of_video": "airflow_provider_hailuo.emulator.videos",
    "video_bytes_for": "airflow_provider_hailuo.emulator.videos",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
