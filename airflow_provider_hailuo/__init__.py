"""Apache Airflow provider for MiniMax Hailuo video generation through the Vtrix gateway.

The package, from the bottom up (a folder imports only from itself and the folders before it):

- ``gateway/``: the gateway's protocol, parameters, cost, retry and pacing rules; no Airflow.
- ``media/``: frames in (images) and videos out (local folders, object storage).
- ``integration/``: what is kept in Airflow and told to it: the durable record, the run's
  spend, XComs, assets, lineage, metrics, the deferral floor, a completed task's delivery.
- ``hooks/``, ``operators/``, ``sensors/``, ``triggers/``, ``ui/``: the faces a DAG author
  meets; ``operators/submission.py`` is the operator's durable create.
- ``emulator/``: the test kit, shipped: the gateway on loopback, its pytest plugin and the
  ``hailuo-emulator`` command. The provider never imports it.
- ``exceptions.py`` (every error the provider raises), ``get_provider_info.py`` (what Airflow
  discovers), ``version_compat.py`` (what the running Airflow can do, asked in one place) and
  ``params.py``/``protocol.py`` (the import paths of earlier releases, kept) stand beside
  ``gateway/``, at its level.

``tests/unit/test_layers.py`` checks this order; ``docs/design.md`` says what each part keeps.
"""

from __future__ import annotations

__version__ = "0.1.0"
