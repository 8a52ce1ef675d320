"""Each pure module imports on its own in a fresh interpreter, before Airflow is imported.

The emulator, the ``hailuo-emulator`` script and standalone scripts import these modules first;
Airflow's initialisation then discovers this provider and imports it again half-way.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_hailuo.exceptions",
        "airflow_provider_hailuo.gateway.params",
        "airflow_provider_hailuo.gateway.protocol",
        "airflow_provider_hailuo.hooks.hailuo",
        "airflow_provider_hailuo.emulator",
    ],
)
def test_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
