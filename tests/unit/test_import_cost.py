"""DAG files import the operator and the sensor at every parse: they must stay light.

Measured in a fresh interpreter against what Airflow's own authoring API already loads, so the
check holds whatever Airflow itself imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.airflow_versions import EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW

# Heavy, and only needed when a task runs: image decoding, the async client, the emulator,
# the hook (requests) and the trigger; OpenLineage only when its listener asks for lineage.
MUST_STAY_OUT = (
    "PIL",
    "aiohttp",
    "airflow_provider_hailuo.emulator",
    "airflow_provider_hailuo.hooks.hailuo",
    "airflow_provider_hailuo.triggers.hailuo",
    "airflow_provider_hailuo.integration.lineage",
    "openlineage",
    "airflow.providers.openlineage",
)

_PROBE = """
import json, sys
try:
    import airflow.sdk  # Airflow 3's authoring API
except ImportError:
    import airflow.models.baseoperator  # Airflow 2
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize(
    "module", ["airflow_provider_hailuo.operators.hailuo", "airflow_provider_hailuo.sensors.hailuo"]
)
def test_importing_for_a_dag_file_pulls_nothing_heavy(module: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    added = json.loads(probe.stdout.strip().splitlines()[-1])
    heavy = [name for name in added if name.split(".")[0] in MUST_STAY_OUT or name in MUST_STAY_OUT]
    assert heavy == [], f"importing {module} loads {heavy}"
