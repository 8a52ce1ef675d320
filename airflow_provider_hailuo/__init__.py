"""Apache Airflow provider for MiniMax Hailuo 02 image-to-video through the Vtrix gateway."""

from __future__ import annotations

__version__ = "0.1.0"
