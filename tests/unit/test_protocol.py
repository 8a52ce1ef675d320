"""The wire format of docs/gateway-protocol.md: create body, task parsing, money, errors, HTTP statuses."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal
from email.utils import formatdate
from typing import Any

import pytest

from airflow_provider_hailuo.exceptions import (
    HailuoAPIError,
    HailuoAuthenticationError,
    HailuoNotFoundError,
    HailuoPermissionError,
    HailuoProtocolError,
    HailuoRateLimitError,
    HailuoTaskFailedError,
    HailuoTransientError,
)
from airflow_provider_hailuo.gateway.defaults import DEFAULT_CREATE_PATH, DEFAULT_HOST, DEFAULT_TASK_PATH
from airflow_provider_hailuo.gateway.http_errors import (
    describe_http_error,
    error_for_status,
    parse_error_body,
    parse_retry_after,
)
from airflow_provider_hailuo.gateway.protocol import (
    ERROR_CODES,
    HailuoTask,
    TaskError,
    build_create_body,
    failure_error,
    loads,
    normalise_error_code,
    parse_task,
    parse_task_error,
    task_from_dict,
    task_path,
    unwrap_create_body,
)
from tests.integration.support import RESULT_KEYS  # the keys docs/design.md fixes, written out once

MODEL = "minimax_hailuo_02_i2v"

# The create body of docs/gateway-protocol.md, verbatim.
API_MD_CREATE_BODY = """
{
  "model": "minimax_hailuo_02_i2v",
  "input": [
    {"params": {
      "first_frame_image": "https://... or data:image/png;base64,...",
      "last_frame_image": "...",
      "prompt": "A lighthouse at dusk [push in], then [pan left]",
      "prompt_optimizer": true,
      "duration": 6,
      "resolution": "768P",
      "callback_url": "https://...",
      "aigc_watermark": false
    }}
  ]
}
"""

# The completed poll response of docs/gateway-protocol.md, verbatim.
API_MD_COMPLETED = """
{
  "id": "task_...",
  "status": "completed",
  "model": "minimax_hailuo_02_i2v",
  "progress": 1.0,
  "output": [{"content": [{"type": "video", "url": "https://.../video.mp4"}]}],
  "usage": {"cost": "0.28", "discount": 0},
  "metadata": {"in_queue_at": "...", "completed_at": "..."},
  "error": null
}
"""


def task(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": "task_1", "status": "completed", "model": MODEL}
    payload.update(fields)
    return payload


# --- paths and defaults ------------------------------------------------------------------------


def test_default_host_and_paths_match_the_spec() -> None:
    assert DEFAULT_HOST == "https://cloud.vtrix.ai"
    assert DEFAULT_CREATE_PATH == "/model/v1/generation"
    assert DEFAULT_TASK_PATH == "/model/v1/generation/task/{task_id}"


@pytest.mark.parametrize(
    ("task_id", "expected"),
    [
        ("task_abc", "/model/v1/generation/task/task_abc"),
        ("a/b", "/model/v1/generation/task/a%2Fb"),
        ("a b?c#d", "/model/v1/generation/task/a%20b%3Fc%23d"),
        ("../admin", "/model/v1/generation/task/..%2Fadmin"),
    ],
)
def test_task_path_quotes_the_task_id(task_id: str, expected: str) -> None:
    assert task_path(DEFAULT_TASK_PATH, task_id) == expected


# --- create body -------------------------------------------------------------------------------


def test_build_create_body_matches_the_api_md_example() -> None:
    expected = json.loads(API_MD_CREATE_BODY)
    params = expected["input"][0]["params"]
    assert build_create_body(MODEL, params) == expected


def test_build_create_body_wraps_params_in_input_0_params() -> None:
    body = build_create_body(MODEL, {"first_frame_image": "https://x/a.png"})
    assert body == {"model": MODEL, "input": [{"params": {"first_frame_image": "https://x/a.png"}}]}
    assert set(body) == {"model", "input"}
    json.dumps(body)


def test_build_create_body_copies_params() -> None:
    params = {"first_frame_image": "https://x/a.png"}
    body = build_create_body(MODEL, params)
    params["prompt"] = "added later"
    assert body["input"][0]["params"] == {"first_frame_image": "https://x/a.png"}


def test_unwrap_create_body_round_trips() -> None:
    params = json.loads(API_MD_CREATE_BODY)["input"][0]["params"]
    body = json.loads(json.dumps(build_create_body(MODEL, params)))
    assert unwrap_create_body(body) == (MODEL, params)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"model": MODEL, "first_frame_image": "https://x/a.png"}, "'input' must be a list"),
        ({"model": MODEL, "params": {"first_frame_image": "https://x/a.png"}}, "'input' must be a list"),
        ({"model": MODEL, "input": {"params": {}}}, "'input' must be a list"),
        ({"model": MODEL, "input": []}, "'input' must be a list"),
        ({"model": MODEL, "input": [{"params": {}}, {"params": {}}]}, "'input' must be a list"),
        ({"model": MODEL, "input": [{"first_frame_image": "https://x/a.png"}]}, "'input' must be a list"),
        ({"model": MODEL, "input": [{"params": "x"}]}, "'input' must be a list"),
        ({"model": MODEL, "input": ["x"]}, "'input' must be a list"),
        ({"input": [{"params": {}}]}, "'model' is required"),
        ({"model": "", "input": [{"params": {}}]}, "'model' is required"),
        ({"model": 1, "input": [{"params": {}}]}, "'model' is required"),
        ([{"model": MODEL}], "must be a JSON object"),
        ("body", "must be a JSON object"),
        (None, "must be a JSON object"),
    ],
)
def test_unwrap_create_body_refuses_flat_and_malformed_bodies(body: Any, match: str) -> None:
    with pytest.raises(HailuoProtocolError, match=match):
        unwrap_create_body(body)


# --- loads -------------------------------------------------------------------------------------


def test_loads_keeps_numbers_exact() -> None:
    assert loads('{"cost": 0.28}') == {"cost": Decimal("0.28")}
    assert isinstance(loads("0.1"), Decimal)
    assert loads(b'{"n": 3}') == {"n": 3}


@pytest.mark.parametrize("text", ["not json", b"<html>502 Bad Gateway</html>", "", "{", b"\xff\xfe"])
def test_loads_of_non_json_raises_protocol_error(text: str | bytes) -> None:
    with pytest.raises(HailuoProtocolError, match="not JSON"):
        loads(text)


def test_loads_error_shows_a_bounded_snippet() -> None:
    with pytest.raises(HailuoProtocolError) as info:
        loads("x" * 10_000)
    assert len(str(info.value)) < 400


# --- parse_task: statuses ----------------------------------------------------------------------


def test_parse_task_reads_the_api_md_completed_example() -> None:
    parsed = parse_task(loads(API_MD_COMPLETED))
    assert parsed.id == "task_..."
    assert parsed.status == "completed"
    assert parsed.model == MODEL
    assert parsed.progress == 1.0
    assert parsed.video_url == "https://.../video.mp4"
    assert parsed.cost == "0.28"
    assert parsed.discount == "0"
    assert parsed.metadata == {"in_queue_at": "...", "completed_at": "..."}
    assert parsed.error is None
    assert parsed.is_final
    assert parsed.is_success
    assert parsed.is_known_status


def test_parse_task_reads_the_create_response() -> None:
    parsed = parse_task(
        loads(
            '{"id": "task_9", "status": "in_progress", "model": "minimax_hailuo_02_i2v", "created_at": "x"}'
        )
    )
    assert (parsed.id, parsed.status, parsed.model) == ("task_9", "in_progress", MODEL)
    assert parsed.content == ()
    assert parsed.cost is None
    assert parsed.video_url is None
    assert parsed.video_urls == []


@pytest.mark.parametrize(
    ("status", "final", "success", "known"),
    [
        ("in_progress", False, False, True),
        ("pending", False, False, True),
        ("processing", False, False, True),
        ("queued", False, False, True),
        ("completed", True, True, True),
        ("failed", True, False, True),
        ("cancelled", True, False, True),
        ("exploded", False, False, False),
        ("succeeded", False, False, False),
    ],
)
def test_status_classification(status: str, final: bool, success: bool, known: bool) -> None:
    parsed = parse_task(task(status=status))
    assert parsed.is_final is final
    assert parsed.is_success is success
    assert parsed.is_known_status is known


@pytest.mark.parametrize(("raw", "normalised"), [("COMPLETED", "completed"), (" Failed ", "failed")])
def test_status_is_normalised(raw: str, normalised: str) -> None:
    assert parse_task(task(status=raw)).status == normalised


# --- parse_task: content -----------------------------------------------------------------------


def test_several_content_items_video_urls_holds_only_videos() -> None:
    parsed = parse_task(
        task(
            output=[
                {
                    "content": [
                        {"type": "video", "url": "https://cdn/v1.mp4"},
                        {"type": "image", "url": "https://cdn/cover.jpg"},
                    ]
                },
                {"content": [{"type": "video", "url": "https://cdn/v2.mp4"}]},
            ]
        )
    )
    assert parsed.video_urls == ["https://cdn/v1.mp4", "https://cdn/v2.mp4"]
    assert parsed.video_url == "https://cdn/v1.mp4"
    assert [item.to_dict() for item in parsed.content] == [
        {"type": "video", "url": "https://cdn/v1.mp4"},
        {"type": "image", "url": "https://cdn/cover.jpg"},
        {"type": "video", "url": "https://cdn/v2.mp4"},
    ]


def test_only_image_content_has_no_video_url() -> None:
    parsed = parse_task(task(output=[{"content": [{"type": "image", "url": "https://cdn/a.jpg"}]}]))
    assert parsed.video_url is None
    assert parsed.video_urls == []
    assert len(parsed.content) == 1


def test_content_items_without_url_are_skipped() -> None:
    parsed = parse_task(
        task(
            output=[
                {"content": [{"type": "video"}, {"type": "video", "url": ""}, {"type": "video", "url": "u"}]}
            ]
        )
    )
    assert parsed.video_urls == ["u"]


@pytest.mark.parametrize("output", [{"content": []}, "x", 3])
def test_output_not_a_list_is_a_protocol_error(output: Any) -> None:
    with pytest.raises(HailuoProtocolError, match="'output' must be a list"):
        parse_task(task(output=output))


def test_output_content_not_a_list_is_a_protocol_error() -> None:
    with pytest.raises(HailuoProtocolError, match="content' must be a list"):
        parse_task(task(output=[{"content": {"type": "video", "url": "u"}}]))


# --- parse_task: money -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_json", "expected"),
    [
        ('"0.28"', "0.28"),
        ("0.28", "0.28"),
        ("1e-2", "0.01"),
        ('"0.10"', "0.10"),
        ("0.1", "0.1"),
        ("2", "2"),
        ('" 0.5 "', "0.5"),
    ],
)
def test_cost_is_kept_exact_as_a_string(raw_json: str, expected: str) -> None:
    parsed = parse_task(loads(f'{{"id": "t", "status": "completed", "usage": {{"cost": {raw_json}}}}}'))
    assert isinstance(parsed.cost, str)
    assert parsed.cost == expected or Decimal(parsed.cost) == Decimal(expected)
    assert Decimal(parsed.cost) == Decimal(expected)


def test_cost_from_a_float_is_not_stored_as_a_float() -> None:
    parsed = parse_task(task(usage={"cost": 0.28}))
    assert parsed.cost == "0.28"
    assert isinstance(parsed.cost, str)


@pytest.mark.parametrize("cost_json", ['"0.1"', "0.1"])
def test_sum_of_costs_over_many_tasks_is_exact(cost_json: str) -> None:
    tasks = [
        parse_task(loads(f'{{"id": "t{i}", "status": "completed", "usage": {{"cost": {cost_json}}}}}'))
        for i in range(10)
    ]
    total = sum((Decimal(t.cost) for t in tasks if t.cost is not None), Decimal(0))
    assert total == Decimal("1.0")
    assert sum(0.1 for _ in range(10)) != 1.0  # what a float would have given


def test_sum_of_different_costs_is_exact() -> None:
    costs = ["0.28", "0.49", "0.1", "0.07", "1.13"]
    body = '{{"id": "t", "status": "completed", "usage": {{"cost": {}}}}}'
    tasks = [parse_task(loads(body.format(c))) for c in costs]
    assert sum((Decimal(t.cost or 0) for t in tasks), Decimal(0)) == Decimal("2.07")


@pytest.mark.parametrize(("raw_json", "expected"), [("0", "0"), ("0.05", "0.05"), ('"0.1"', "0.1")])
def test_discount_is_kept_exact(raw_json: str, expected: str) -> None:
    parsed = parse_task(
        loads(f'{{"id": "t", "status": "completed", "usage": {{"cost": "1", "discount": {raw_json}}}}}')
    )
    assert parsed.discount == expected


@pytest.mark.parametrize("usage", [None, {}, {"cost": None}, {"cost": ""}])
def test_missing_cost_is_none(usage: Any) -> None:
    assert parse_task(task(usage=usage)).cost is None


@pytest.mark.parametrize("cost", ["abc", "0.28 USD", "$0.28", True, {"amount": 1}, [1], "NaN", "Infinity"])
def test_non_numeric_cost_is_a_protocol_error(cost: Any) -> None:
    with pytest.raises(HailuoProtocolError, match=r"usage\.cost"):
        parse_task(task(usage={"cost": cost}))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_cost_is_a_protocol_error(literal: str) -> None:
    with pytest.raises(HailuoProtocolError, match=r"usage\.cost is not a finite number"):
        parse_task(loads(f'{{"id": "t", "status": "completed", "usage": {{"cost": {literal}}}}}'))


def test_non_numeric_discount_is_a_protocol_error() -> None:
    with pytest.raises(HailuoProtocolError, match=r"usage\.discount"):
        parse_task(task(usage={"cost": "1", "discount": "ten percent"}))


@pytest.mark.parametrize("usage", ["0.28", ["0.28"], 1])
def test_usage_not_an_object_is_a_protocol_error(usage: Any) -> None:
    with pytest.raises(HailuoProtocolError, match="'usage'"):
        parse_task(task(usage=usage))


# --- parse_task: metadata and result() ---------------------------------------------------------


def test_metadata_decimals_become_json_numbers() -> None:
    parsed = parse_task(
        loads(
            '{"id": "t", "status": "completed", "metadata": '
            '{"ratio": 0.5, "count": 3, "whole": 2.0, "nested": {"xs": [1.5, 2]}, "at": "2025-01-01"}}'
        )
    )
    assert parsed.metadata == {
        "ratio": 0.5,
        "count": 3,
        "whole": 2,
        "nested": {"xs": [1.5, 2]},
        "at": "2025-01-01",
    }
    assert not any(isinstance(v, Decimal) for v in parsed.metadata.values())
    json.dumps(parsed.metadata)


def test_result_has_exactly_the_public_keys() -> None:
    assert set(parse_task(loads(API_MD_COMPLETED)).result()) == RESULT_KEYS


def test_result_is_json_serialisable_with_exact_cost() -> None:
    parsed = parse_task(
        loads(
            '{"id": "t", "status": "completed", "progress": 1.0, '
            '"output": [{"content": [{"type": "video", "url": "https://v"}]}], '
            '"usage": {"cost": 0.28, "discount": 0.05}, "metadata": {"seconds": 12.5}}'
        )
    )
    result = parsed.result()
    assert json.loads(json.dumps(result)) == {
        "hailuo_task_id": "t",
        "status": "completed",
        "model": None,
        "video_url": "https://v",
        "video_urls": ["https://v"],
        "content": [{"type": "video", "url": "https://v"}],
        "cost": "0.28",
        "discount": "0.05",
        "metadata": {"seconds": 12.5},
    }


def test_result_of_a_running_task() -> None:
    result = parse_task(task(status="in_progress")).result()
    assert set(result) == RESULT_KEYS
    assert result["video_url"] is None
    assert result["video_urls"] == []
    assert result["cost"] is None


# --- parse_task: malformed responses -----------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], ["task"], "task_1", 3, Decimal(1)])
def test_response_not_an_object_is_a_protocol_error(payload: Any) -> None:
    with pytest.raises(HailuoProtocolError, match="must be a JSON object"):
        parse_task(payload)


@pytest.mark.parametrize(
    "payload", [{"status": "completed"}, {"id": "", "status": "x"}, {"id": 7, "status": "x"}]
)
def test_response_without_id_is_a_protocol_error(payload: Any) -> None:
    with pytest.raises(HailuoProtocolError, match="no 'id'"):
        parse_task(payload)


def test_response_without_id_error_is_readable_even_with_decimals() -> None:
    with pytest.raises(HailuoProtocolError, match="no 'id'"):
        parse_task(loads('{"status": "completed", "usage": {"cost": 0.28}}'))


@pytest.mark.parametrize("payload", [{"id": "t"}, {"id": "t", "status": ""}, {"id": "t", "status": 1}])
def test_response_without_status_is_a_protocol_error(payload: Any) -> None:
    with pytest.raises(HailuoProtocolError, match="task t has no 'status'"):
        parse_task(payload)


# --- task errors -------------------------------------------------------------------------------


def test_integer_error_code_gets_its_leading_zero_back() -> None:
    parsed = parse_task(
        loads('{"id": "t", "status": "failed", "error": {"code": 10004095, "error_message": "boom"}}')
    )
    assert parsed.error == TaskError(code="010004095", message="boom")
    assert parsed.error.meaning == "internal generation error"


def test_string_error_code_with_message_key() -> None:
    parsed = parse_task(task(status="failed", error={"code": "010004099", "message": "could not create"}))
    assert parsed.error == TaskError(code="010004099", message="could not create")
    assert parsed.error.meaning == "task creation error"


def test_bare_string_error() -> None:
    parsed = parse_task(task(status="failed", error="content policy violation"))
    assert parsed.error == TaskError(code=None, message="content policy violation")
    assert parsed.error.meaning is None
    assert parsed.error.describe() == "content policy violation"


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        ("010004095", "internal generation error"),
        ("010004096", "result parsing error"),
        ("010004097", "HTTP error response"),
        ("010004098", "status check error"),
        ("010004099", "task creation error"),
    ],
)
@pytest.mark.parametrize("as_int", [True, False])
def test_each_seed_error_code_is_mapped(code: str, meaning: str, as_int: bool) -> None:
    raw = int(code) if as_int else code
    error = parse_task_error({"code": raw, "error_message": "details"})
    assert error is not None
    assert error.code == code
    assert error.meaning == meaning
    assert error.describe() == f"error {code} ({meaning}): details"
    assert ERROR_CODES[code] == meaning


def test_seed_error_codes_are_exactly_five() -> None:
    assert len(ERROR_CODES) == 5


@pytest.mark.parametrize(
    ("raw", "kept"), [(12345, "12345"), ("E42", "E42"), ("999999999", "999999999"), (7, "7")]
)
def test_unknown_error_code_is_kept_as_is(raw: Any, kept: str) -> None:
    error = parse_task_error({"code": raw, "message": "m"})
    assert error is not None
    assert error.code == kept
    assert error.meaning is None
    assert error.describe() == f"error {kept}: m"


def test_decimal_error_code_from_loads_is_normalised() -> None:
    assert normalise_error_code(loads("10004097")) == "010004097"


def test_error_code_without_message_uses_the_meaning() -> None:
    error = parse_task_error({"code": 10004096})
    assert error == TaskError(code="010004096", message="result parsing error")


@pytest.mark.parametrize("raw", [None, "", {}])
def test_absent_error_is_none(raw: Any) -> None:
    assert parse_task_error(raw) is None


def test_normalise_error_code_keeps_bools_out_of_padding() -> None:
    assert normalise_error_code(None) is None
    assert normalise_error_code("") is None
    assert normalise_error_code(" 010004098 ") == "010004098"


# --- round trip for trigger events -------------------------------------------------------------


def test_an_event_carries_no_url_and_reads_back() -> None:
    original = parse_task(
        loads(
            '{"id": "t", "status": "failed", "model": "m", "progress": 0.5, '
            '"output": [{"content": [{"type": "video", "url": "https://cdn/v.mp4?Signature=s3cret"}]}], '
            '"usage": {"cost": 0.28, "discount": 0}, "metadata": {"a": 1.5, "cover": "https://cdn/c?Signature=x"}, '
            '"error": {"code": 10004098, "error_message": "lost"}}'
        )
    )
    text = json.dumps(original.to_event())
    assert "https://" not in text
    assert "Signature" not in text
    rebuilt = task_from_dict(json.loads(text))
    assert rebuilt == replace(original, content=(), metadata={})
    assert rebuilt.error is not None
    assert rebuilt.error.meaning == "status check error"


def test_round_trip_without_error_or_content() -> None:
    original = parse_task(task(status="in_progress"))
    assert task_from_dict(json.loads(json.dumps(original.to_event()))) == original


# --- HTTP error bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": {"message": "bad key"}}', "bad key"),
        ('{"error": {"error_message": "no balance"}}', "no balance"),
        ('{"message": "slow down"}', "slow down"),
        ('{"error": "invalid model"}', "invalid model"),
        ('{"error": {"message": "bad key", "code": "401001"}}', "bad key (code 401001)"),
        (b'{"error": {"message": "bytes body"}}', "bytes body"),
        ("Bad Gateway", "Bad Gateway"),
        ("<html>\n  <body>502</body>\n</html>", "<html> <body>502</body> </html>"),
        ('"just a string"', "just a string"),
    ],
)
def test_parse_error_body_shapes(body: str | bytes, expected: str) -> None:
    assert parse_error_body(body) == expected


@pytest.mark.parametrize("body", ["", b"", "{}", "null", '{"error": null}', '{"error": {}}', "   "])
def test_parse_error_body_without_message_is_none(body: str | bytes) -> None:
    assert parse_error_body(body) is None


def test_parse_error_body_plain_text_is_bounded() -> None:
    message = parse_error_body("x" * 10_000)
    assert message is not None
    assert len(message) < 300


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, '{"error": {"message": "bad key"}}', "HTTP 401 (API key missing or invalid"),
        (500, '{"message": "oops"}', "HTTP 500 (gateway internal error): oops"),
        (502, "", "HTTP 502 (gateway error)"),
        (418, "teapot", "HTTP 418 (request refused by the gateway): teapot"),
    ],
)
def test_describe_http_error(status: int, body: str, expected: str) -> None:
    assert describe_http_error(status, body).startswith(expected)


def test_describe_http_error_without_body_has_no_colon() -> None:
    assert describe_http_error(502, "") == "HTTP 502 (gateway error)"


# --- error_for_status --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 302])
def test_success_statuses_give_no_error(status: int) -> None:
    assert error_for_status(status, "") is None


def test_401_is_an_authentication_error_mentioning_the_api_key() -> None:
    error = error_for_status(401, '{"error": {"message": "invalid token"}}')
    assert isinstance(error, HailuoAuthenticationError)
    assert error.http_status == 401
    assert "API key" in str(error)
    assert "invalid token" in str(error)
    assert not isinstance(error, HailuoTransientError)


def test_403_is_a_permission_error_mentioning_balance_and_permission() -> None:
    error = error_for_status(403, '{"message": "insufficient"}')
    assert isinstance(error, HailuoPermissionError)
    assert error.http_status == 403
    assert "balance" in str(error)
    assert "permission" in str(error)
    assert not isinstance(error, HailuoTransientError)


def test_404_is_a_not_found_error() -> None:
    error = error_for_status(404, "")
    assert isinstance(error, HailuoNotFoundError)
    assert "task id" in str(error)
    assert not isinstance(error, HailuoTransientError)


def test_429_with_retry_after_seconds() -> None:
    error = error_for_status(429, '{"error": {"message": "rate limited"}}', retry_after="7")
    assert isinstance(error, HailuoRateLimitError)
    assert isinstance(error, HailuoTransientError)
    assert error.retry_after == 7.0
    assert error.resubmit_safe is True
    assert "rate limit" in str(error)


def test_429_with_retry_after_http_date() -> None:
    error = error_for_status(429, "", retry_after=formatdate(time.time() + 30, usegmt=True))
    assert isinstance(error, HailuoRateLimitError)
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31
    assert error.resubmit_safe is False  # no body: nothing shows it was the gateway that refused


def test_429_without_retry_after() -> None:
    error = error_for_status(429, "")
    assert isinstance(error, HailuoRateLimitError)
    assert error.retry_after is None


def test_the_gateways_own_503_is_transient_and_safe_to_resubmit() -> None:
    error = error_for_status(503, '{"error": {"error_message": "busy"}}', retry_after="2")
    assert type(error) is HailuoTransientError
    assert error.resubmit_safe is True
    assert error.retry_after == 2.0


@pytest.mark.parametrize(
    "body",
    [
        "Service Unavailable",
        "<html><head><title>503 Service Temporarily Unavailable</title></head></html>",
        '{"message": "no Route matched with those values"}',
        '{"error": "upstream busy"}',
        '{"error": {"message": ""}}',
        '{"error": {"code": 503}}',
        "",
    ],
)
def test_a_503_not_in_the_gateways_shape_proves_nothing(body: str) -> None:
    """A proxy answers 503 in the gateway's place, after the gateway may have accepted the create."""
    error = error_for_status(503, body)
    assert type(error) is HailuoTransientError
    assert not error.gateway_error
    assert error.resubmit_safe is False


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_other_server_errors_are_transient_but_not_safe_to_resubmit(status: int) -> None:
    error = error_for_status(status, "")
    assert type(error) is HailuoTransientError
    assert error.http_status == status
    assert error.resubmit_safe is False


@pytest.mark.parametrize("status", [400, 405, 409, 413, 422])
def test_other_client_errors_are_plain_api_errors(status: int) -> None:
    error = error_for_status(status, '{"error": {"message": "bad resolution"}}')
    assert type(error) is HailuoAPIError
    assert error.http_status == status
    assert "bad resolution" in str(error)


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("0", 0.0), ("5", 5.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_http_date() -> None:
    seconds = parse_retry_after(formatdate(time.time() + 120, usegmt=True))
    assert seconds is not None
    assert 115 <= seconds <= 121


def test_parse_retry_after_past_http_date_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# --- failure_error -----------------------------------------------------------------------------


def test_failure_error_carries_code_message_and_task_id() -> None:
    parsed = parse_task(
        loads(
            '{"id": "task_42", "status": "failed", "error": {"code": 10004095, "error_message": "GPU fell over"}}'
        )
    )
    error = failure_error(parsed)
    assert isinstance(error, HailuoTaskFailedError)
    assert (
        str(error) == "Hailuo task task_42 failed: error 010004095 (internal generation error): GPU fell over"
    )
    assert error.hailuo_task_id == "task_42"
    assert error.status == "failed"
    assert error.error_code == "010004095"
    assert error.error_message == "GPU fell over"


def test_failure_error_of_a_cancelled_task_without_details() -> None:
    error = failure_error(parse_task(task(id="task_7", status="cancelled")))
    assert "task_7 cancelled" in str(error)
    assert "no error details" in str(error)
    assert error.error_code is None
    assert error.error_message is None


def test_failure_error_with_bare_string_error() -> None:
    error = failure_error(HailuoTask(id="t", status="failed", error=TaskError(code=None, message="nsfw")))
    assert str(error) == "Hailuo task t failed: nsfw"


@pytest.mark.parametrize("status", [401, 403])
def test_a_download_refusal_does_not_blame_the_api_key(status: int) -> None:
    error = error_for_status(status, b"<html>denied</html>", fetching="https://cdn.example/v.mp4")
    assert type(error) is HailuoAPIError
    assert "cdn.example" in str(error)
    assert "API key" not in str(error)
    assert "balance" not in str(error)


@pytest.mark.parametrize(
    ("body", "gateway"),
    [
        (b'{"error": {"message": "task not found"}}', True),
        (b'{"error": {"error_message": "task not found", "code": 404}}', True),
        (b"<html>404 Not Found</html>", False),
        (b'{"message": "no Route matched with those values"}', False),  # Kong
        (b'{"message": "Not Found"}', False),  # AWS API Gateway
        (b'{"error": "Not Found", "status": 404, "path": "/x"}', False),  # Spring
        (b'{"error": {"message": 404}}', False),
        (b"[]", False),
    ],
)
def test_only_the_gateways_nested_error_shape_counts_as_its_own(body: bytes, gateway: bool) -> None:
    error = error_for_status(404, body)
    assert error is not None
    assert error.gateway_error is gateway
    assert parse_error_body(body) is not None or body == b"[]"  # still read for its words


def test_gateway_json_errors_are_told_from_foreign_pages() -> None:
    gateway = error_for_status(404, b'{"error": {"message": "task not found"}}')
    foreign = error_for_status(404, b"<html>404 Not Found</html>")
    assert gateway is not None
    assert gateway.gateway_error
    assert foreign is not None
    assert not foreign.gateway_error
