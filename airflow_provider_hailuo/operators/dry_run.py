"""``dry_run=True``: everything but the create (the connection, the frames, the caps), and a result
that says so; nothing is sent to the gateway."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_hailuo.gateway.cost import describe_request, format_usd
from airflow_provider_hailuo.integration.assets import annotate_outlet_events
from airflow_provider_hailuo.media.images import shown_value

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.gateway.params import GenerationRequest
    from airflow_provider_hailuo.gateway.retry import Logger
    from airflow_provider_hailuo.hooks.hailuo import HailuoHook
    from airflow_provider_hailuo.integration.spend import RunBudget


def dry_run_result(
    request: GenerationRequest,
    estimate: Decimal | None,
    context: Context,
    *,
    hook: HailuoHook,
    budget: RunBudget,
    logger: Logger,
) -> dict[str, Any]:
    """Resolve the frames and check the run's cap as a real run would; the result of a dry run."""
    body = hook.prepare_create_body(request)  # logs the request, frames shortened
    budget.check(estimate, carried=Decimal(0), what=describe_request(request))
    shown = {name: shown_value(value) for name, value in body["input"][0]["params"].items()}
    estimated = None if estimate is None else format_usd(estimate)
    logger.info(
        "Dry run: nothing was sent to the gateway. Estimated cost: %s",
        f"${estimated}" if estimated is not None else "unknown (no price in the connection's price_table)",
    )
    result: dict[str, Any] = {
        "dry_run": True,
        "hailuo_task_id": None,
        "status": "dry_run",
        "model": request.model,
        "params": shown,
        "estimated_cost": estimated,
        "video_url": None,
        "video_urls": [],
        "content": [],
        "cost": None,
        "discount": None,
        "metadata": {},
    }
    annotate_outlet_events(context, result)  # Airflow emits the outlets' events even so
    return result
