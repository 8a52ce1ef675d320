"""What Airflow reads through the ``apache_airflow_provider`` entry point.

It must stay importable without Airflow's heavier modules: Airflow 3.2+ builds the connection form
from ``conn-fields`` and ``ui-field-behaviour`` here without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hailuo import __version__
from airflow_provider_hailuo.gateway.defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CREATE_PATH,
    DEFAULT_HOST,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
    DEFAULT_TASK_PATH,
    DEFAULT_TIMEOUT,
    MIN_DEFERRAL_SECONDS,
)
from airflow_provider_hailuo.gateway.models import MODELS


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-hailuo",
        "name": "Hailuo",
        "description": "Turn images, or text, into videos with MiniMax's Hailuo models through the Vtrix "
        "model gateway.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Hailuo",
                "external-doc-url": "https://doc.vtrix.ai/docs/api/minimax/minimax-hailuo-02-i2v",
                # From Airflow's own list (provider.yaml schema, 3.3): what the integration is.
                "tags": ["generative-ai", "ai-inference", "service"],
            }
        ],
        "operators": [
            {"integration-name": "Hailuo", "python-modules": ["airflow_provider_hailuo.operators.hailuo"]}
        ],
        "sensors": [
            {"integration-name": "Hailuo", "python-modules": ["airflow_provider_hailuo.sensors.hailuo"]}
        ],
        "triggers": [
            {
                "integration-name": "Hailuo",
                "python-modules": [
                    "airflow_provider_hailuo.triggers.hailuo",
                    "airflow_provider_hailuo.triggers.quota",
                ],
            }
        ],
        "hooks": [{"integration-name": "Hailuo", "python-modules": ["airflow_provider_hailuo.hooks.hailuo"]}],
        "extra-links": ["airflow_provider_hailuo.integration.links.HailuoVideoLink"],
        # Also an ``airflow.plugins`` entry point: Airflow reads this list only when
        # ``[core] lazy_discover_providers`` is off.
        "plugins": [
            {"name": "hailuo", "plugin-class": "airflow_provider_hailuo.ui.plugin.HailuoViewsPlugin"}
        ],
        "config": {
            "hailuo": {
                "description": "The Hailuo provider: its deferrals, and its views in the Airflow UI (Airflow 3.1+).",
                "options": {
                    "min_deferral_seconds": {
                        "description": (
                            "A deferred Hailuo task comes back no sooner than this many seconds after "
                            "deferring (a trigger holds an earlier event), and a task with less than this "
                            "left to wait waits in its worker: Airflow 3 can fail a task whose trigger "
                            "fires within seconds (apache/airflow#72716). 0 turns the floor off (as "
                            "dag.test(), with no scheduler, can)."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "15",
                        "default": f"{MIN_DEFERRAL_SECONDS:g}",
                    },
                    "triggerers": {
                        "description": (
                            "How many triggerers the deployment runs: each paces its polls of a "
                            "connection at that connection's max_polls_per_second divided by this."
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "2",
                        "default": "1",
                    },
                    "ui_video_folders": {
                        "description": (
                            "Comma-separated folders on the API server's machine whose downloaded "
                            "videos (the operator's download_to) the video views may play. A video "
                            "elsewhere, or in object storage, plays from the gateway's URL while it "
                            "is valid. Empty: none."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/data/videos",
                        "default": "",
                    },
                },
            }
        },
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_hailuo.hooks.hailuo.HailuoHook",
                "hook-name": "Hailuo (MiniMax video)",
                "connection-type": "hailuo",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API key", "host": "Gateway URL"},
                    "placeholders": {"host": DEFAULT_HOST, "password": "your gateway API key"},
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (s)",
                        "schema": {
                            "type": ["integer", "null"],
                            "default": int(DEFAULT_TIMEOUT),
                            "minimum": 1,
                        },
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "schema": {
                            "type": ["integer", "null"],
                            "default": int(DEFAULT_CONNECT_TIMEOUT),
                            "minimum": 1,
                        },
                    },
                    "retry_limit": {
                        "label": "Attempts per call",
                        "description": "How often a poll or download is tried on 429, 5xx or a dropped connection",
                        "schema": {"type": ["integer", "null"], "default": DEFAULT_RETRY_LIMIT, "minimum": 1},
                    },
                    "retry_delay": {
                        "label": "First retry delay (s)",
                        "description": "Doubles at each retry, with jitter, up to 30 s; Retry-After wins",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_RETRY_DELAY,
                            "exclusiveMinimum": 0,
                        },
                    },
                    "max_polls_per_second": {
                        "label": "Max polls a second",
                        "description": "The deployment's polls of this connection a second, at most, "
                        "shared among its triggerers ([hailuo] triggerers); empty: paced by the "
                        "gateway's refusals only",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "create_path": {
                        "label": "Create path",
                        "description": "Only if your gateway differs from the default",
                        "schema": {"type": ["string", "null"], "default": DEFAULT_CREATE_PATH},
                    },
                    "task_path": {
                        "label": "Task path",
                        "description": "Only if your gateway differs; must contain {task_id}",
                        "schema": {"type": ["string", "null"], "default": DEFAULT_TASK_PATH},
                    },
                    "allowed_frame_roots": {
                        "label": "Allowed frame roots",
                        "description": "Local folders and storage URI prefixes frames may be read from, "
                        "comma-separated (e.g. /data/stills, s3://bucket/stills/); empty: anywhere",
                        "schema": {"type": ["string", "null"]},
                    },
                    "price_table": {
                        "label": "Price table (USD)",
                        "description": "What each video costs this account, for estimates and cost caps: "
                        'JSON by model, resolution and duration, e.g. {"minimax_hailuo_02_i2v": '
                        '{"768P": {"6": "0.28", "10": "0.56"}}}; models: '
                        + ", ".join(MODELS)
                        + "; empty: no estimates",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
