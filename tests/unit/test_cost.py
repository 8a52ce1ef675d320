"""The price table, money as exact decimals, and the order in which a run's tasks claim its budget."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_hailuo.exceptions import HailuoSpendLimitError, HailuoValidationError
from airflow_provider_hailuo.gateway.cost import PriceTable, check_video_cap, format_usd, parse_usd
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.integration.durable import JobRecord
from airflow_provider_hailuo.integration.spend import Commitment, committed_before

MODEL = "minimax_hailuo_02_i2v"


def request(**kwargs: Any) -> GenerationRequest:
    return GenerationRequest(first_frame_image="https://example.com/still.png", **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.28", "0.28"), (0.28, "0.28"), (1, "1"), ("  2.50 ", "2.50"), (Decimal("0.1"), "0.1")],
)
def test_dollars_are_read_exactly(value: object, expected: str) -> None:
    assert parse_usd(value, "max_cost_usd") == Decimal(expected)


@pytest.mark.parametrize("value", ["-0.01", "free", float("inf"), "NaN", None, True, [1]])
def test_anything_but_an_amount_is_refused_by_name(value: object) -> None:
    with pytest.raises(HailuoValidationError, match="max_cost_usd") as info:
        parse_usd(value, "max_cost_usd")
    assert info.value.parameter == "max_cost_usd"


def test_amounts_are_shown_without_trailing_zeros_or_exponents() -> None:
    assert [format_usd(Decimal(v)) for v in ("0.280", "100", "1E+2", "0")] == ["0.28", "100", "100", "0"]


def test_a_price_table_looks_prices_up_with_the_gateways_defaults() -> None:
    table = PriceTable.from_extra({MODEL: {"768p": {"6": "0.28", 10: 0.56}, "1080P": {"6": "0.49"}}})
    assert table is not None
    assert table.price(request()) == Decimal("0.28")  # 768P, 6 s
    assert table.price(request(resolution="768P", duration=10)) == Decimal("0.56")
    assert table.price(request(resolution="1080P", duration=6)) == Decimal("0.49")
    assert table.price(request(resolution="512P", duration=6)) is None
    assert table.price(request(model="another_model")) is None


def test_a_price_table_reads_the_text_the_connection_form_stores() -> None:
    table = PriceTable.from_extra(json.dumps({MODEL: {"512P": {"6": "0.10"}}}))
    assert table is not None
    assert table.price(request(resolution="512P")) == Decimal("0.10")
    assert PriceTable.from_extra("") is None
    assert PriceTable.from_extra(None) is None


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object of models"),
        ({MODEL: "0.28"}, "must map resolutions"),
        ({MODEL: {"768P": "0.28"}}, "must map durations"),
        ({MODEL: {"768P": {"six": "0.28"}}}, "not whole seconds"),
        ({MODEL: {"768P": {"6": "-1"}}}, r"price_table\['minimax_hailuo_02_i2v'\]\['768P'\]\['6'\]"),
    ],
)
def test_a_bad_price_table_names_the_extra_and_the_entry(extra: object, problem: str) -> None:
    with pytest.raises(HailuoValidationError, match=problem) as info:
        PriceTable.from_extra(extra)
    assert "price_table" in str(info.value)


def test_the_video_cap_allows_exactly_its_amount() -> None:
    check_video_cap(Decimal("0.28"), Decimal("0.28"), request(), "hailuo_default")
    check_video_cap(None, None, request(), "hailuo_default")  # no cap: no price needed
    with pytest.raises(HailuoSpendLimitError, match=r"over max_cost_usd=0.27"):
        check_video_cap(Decimal("0.28"), Decimal("0.27"), request(), "hailuo_default")


def commitment(task_id: str, amount: str, at: float, map_index: int = -1) -> Commitment:
    return Commitment(task_id=task_id, map_index=map_index, amount=Decimal(amount), carried=Decimal(0), at=at)


def test_a_commitment_fits_on_top_of_those_made_before_it() -> None:
    own = commitment("videos", "0.28", at=10.0, map_index=3)
    others = [
        commitment("videos", "0.28", at=9.0, map_index=0),
        commitment("videos", "0.28", at=10.0, map_index=2),  # same moment: the lower index first
        commitment("videos", "0.28", at=10.0, map_index=4),
        commitment("other", "1.00", at=11.0),
    ]
    assert committed_before(own, others) == Decimal("0.56")


def test_a_commitment_survives_xcom_and_anything_else_there_is_none() -> None:
    stored = Commitment(
        task_id="videos", map_index=2, amount=Decimal("0.56"), carried=Decimal("0.28"), at=1.5, settled=True
    )
    assert Commitment.from_xcom(stored.to_xcom()) == stored
    assert stored.to_xcom()["amount"] == "0.56"  # a string: exact through JSON
    for other in (None, "0.28", {"amount": "0.28"}, {**stored.to_xcom(), "amount": "lots"}):
        assert Commitment.from_xcom(other) is None


def test_a_record_counts_its_estimate_and_what_earlier_tries_carried() -> None:
    record = JobRecord(request="r", hailuo_task_id="t", recorded_at=1.0, estimate="0.28", carried="0.56")
    assert record.committed == Decimal("0.84")
    assert JobRecord.from_stored(record.to_json()) == record
    # A record written before estimates existed counts nothing, and reads back.
    old = JobRecord.from_stored({"request": "r", "hailuo_task_id": "t", "recorded_at": 1.0})
    assert old is not None
    assert old.committed == Decimal(0)
    assert JobRecord.from_stored({"request": "r", "estimate": "much", "carried": 3}) == JobRecord(
        request="r", hailuo_task_id=None, recorded_at=0.0
    )
