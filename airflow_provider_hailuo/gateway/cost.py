"""What a video will cost, before it is paid for: the deployment's price table and the caps on it.

The gateway publishes no price list and reports a video's cost only once it is rendered
(``usage.cost``), so the prices are the deployment's to set, in one place: the ``price_table``
extra of the ``hailuo`` connection. Money is ``Decimal`` throughout, never a float, so that sums
and comparisons against a cap are exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from airflow_provider_hailuo.exceptions import HailuoSpendLimitError, HailuoValidationError
from airflow_provider_hailuo.gateway.params import GenerationRequest

EXTRA_PRICE_TABLE = "price_table"
PRICE_TABLE_EXAMPLE = (
    '{"minimax_hailuo_02_i2v": {"768P": {"6": "0.28", "10": "0.56"}, "1080P": {"6": "0.49"}}}'
)


def parse_usd(value: object, what: str) -> Decimal:
    """A non-negative amount of US dollars, exactly: ``"0.28"``, ``0.28`` (read as written) or ``1``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise HailuoValidationError(what, f"{what}={value!r} must be an amount of US dollars such as '0.28'")
    try:
        # str() of a float is its shortest round-trip text: 0.28 reads as 0.28, not 0.28000000000000003.
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise HailuoValidationError(
            what, f"{what}={value!r} must be a non-negative amount of US dollars such as '0.28'"
        )
    return amount


def format_usd(amount: Decimal) -> str:
    """``Decimal("0.280")`` -> ``"0.28"``, ``Decimal("2")`` -> ``"2"``: what a person reads in a log."""
    return format(amount.normalize(), "f")


@dataclass(frozen=True)
class PriceTable:
    """US dollars per video, by model, resolution and duration, as the deployment pays them."""

    prices: Mapping[tuple[str, str, int], Decimal]

    @classmethod
    def from_extra(cls, value: object) -> PriceTable | None:
        """The connection extra (a JSON object, or its text), checked entry by entry; None if unset.

        ``{"<model>": {"<resolution>": {"<duration>": "<USD>"}}}``, e.g. :data:`PRICE_TABLE_EXAMPLE`.
        """
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise _invalid(f"is not valid JSON ({err.msg} at character {err.pos})") from None
        if not isinstance(value, Mapping) or not value:
            raise _invalid(f"must be a JSON object of models, e.g. {PRICE_TABLE_EXAMPLE}")
        prices: dict[tuple[str, str, int], Decimal] = {}
        for model, by_resolution in value.items():
            if not isinstance(by_resolution, Mapping):
                raise _invalid(f"{model!r} must map resolutions to durations, e.g. {PRICE_TABLE_EXAMPLE}")
            for resolution, by_duration in by_resolution.items():
                if not isinstance(by_duration, Mapping):
                    raise _invalid(
                        f"{model!r} -> {resolution!r} must map durations in seconds to prices, "
                        f"e.g. {{'6': '0.28'}}"
                    )
                for duration, price in by_duration.items():
                    if not str(duration).strip().isdigit():
                        raise _invalid(
                            f"{model!r} -> {resolution!r}: duration {duration!r} is not whole seconds"
                        )
                    where = f"{EXTRA_PRICE_TABLE}[{model!r}][{resolution!r}][{duration!r}]"
                    key = (str(model), str(resolution).upper(), int(str(duration)))
                    prices[key] = parse_usd(price, where)
        return cls(prices)

    def price(self, request: GenerationRequest) -> Decimal | None:
        """The price of the video ``request`` asks for (unset values as the gateway renders them)."""
        return self.prices.get((request.model, request.effective_resolution, request.effective_duration))


def describe_request(request: GenerationRequest) -> str:
    """What a price is looked up by, as a person reads it."""
    return (
        f"model={request.model!r}, resolution={request.effective_resolution!r}, "
        f"duration={request.effective_duration}"
    )


def check_video_cap(
    estimate: Decimal | None, cap: Decimal | None, request: GenerationRequest, conn_id: str
) -> None:
    """``max_cost_usd``: refuse a video whose estimate is over the cap, or unknown while a cap is set."""
    if cap is None:
        return
    if estimate is None:
        raise HailuoSpendLimitError(
            "max_cost_usd",
            f"max_cost_usd={format_usd(cap)} is set, but connection {conn_id!r} has no price for "
            f"{describe_request(request)}: add one to its price_table extra (see the README, 'Cost'), or "
            "remove max_cost_usd. Nothing was sent.",
        )
    if estimate > cap:
        raise HailuoSpendLimitError(
            "max_cost_usd",
            f"this video is estimated at ${format_usd(estimate)} ({describe_request(request)}), over "
            f"max_cost_usd={format_usd(cap)}. Nothing was sent: raise max_cost_usd or ask for a shorter "
            "or smaller video.",
        )


def _invalid(problem: str) -> HailuoValidationError:
    return HailuoValidationError(EXTRA_PRICE_TABLE, f"connection extra {EXTRA_PRICE_TABLE} {problem}")
