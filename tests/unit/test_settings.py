"""A ``hailuo`` connection -> the gateway's URLs, timeouts and key."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hailuo.exceptions import HailuoAuthenticationError, HailuoValidationError
from airflow_provider_hailuo.gateway.cost import PriceTable
from airflow_provider_hailuo.gateway.defaults import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT
from airflow_provider_hailuo.hooks.settings import (
    GatewaySettings,
    normalise_base_url,
)
from airflow_provider_hailuo.media.storage import EXTRA_ALLOWED_FRAME_ROOTS

KEY = "sk-very-secret-key-123"


def settings(**kwargs: Any) -> GatewaySettings:
    kwargs.setdefault("host", None)
    kwargs.setdefault("password", KEY)
    return GatewaySettings.from_connection("hailuo_default", **kwargs)


# --- normalise_base_url ------------------------------------------------------------------------


@pytest.mark.parametrize("host", [None, "", "   ", "/"])
def test_empty_host_gives_the_default_gateway(host: str | None) -> None:
    assert normalise_base_url(host) == "https://cloud.vtrix.ai"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("cloud.vtrix.ai", "https://cloud.vtrix.ai"),
        ("cloud.vtrix.ai/", "https://cloud.vtrix.ai"),
        ("https://cloud.vtrix.ai/", "https://cloud.vtrix.ai"),
        ("https://gateway.vtrix.ai", "https://gateway.vtrix.ai"),
        (" https://gateway.vtrix.ai// ", "https://gateway.vtrix.ai"),
        ("http://127.0.0.1:8089/", "http://127.0.0.1:8089"),
        ("http://localhost:8089", "http://localhost:8089"),
        ("https://proxy.example.com/vtrix/", "https://proxy.example.com/vtrix"),
        ("localhost:8089", "https://localhost:8089"),
    ],
)
def test_host_forms_normalise_to_one_base_url(host: str, expected: str) -> None:
    assert normalise_base_url(host) == expected


@pytest.mark.parametrize(("schema", "scheme"), [("http", "http"), ("HTTP", "http"), ("https", "https")])
def test_schema_and_port_given_separately(schema: str, scheme: str) -> None:
    assert normalise_base_url("127.0.0.1", schema=schema, port=8089) == f"{scheme}://127.0.0.1:8089"


@pytest.mark.parametrize("schema", [None, "", "ftp", "public"])
def test_other_schemas_default_to_https(schema: str | None) -> None:
    assert normalise_base_url("cloud.vtrix.ai", schema=schema) == "https://cloud.vtrix.ai"


def test_schema_does_not_override_an_explicit_scheme() -> None:
    assert normalise_base_url("https://cloud.vtrix.ai", schema="http") == "https://cloud.vtrix.ai"


def test_port_in_host_wins_over_separate_port() -> None:
    assert normalise_base_url("http://127.0.0.1:8089", port=9999) == "http://127.0.0.1:8089"


def test_separate_port_is_put_before_the_path() -> None:
    assert normalise_base_url("http://example.com/base/", port=8080) == "http://example.com:8080/base"


@pytest.mark.parametrize(
    "host",
    [
        "ftp://cloud.vtrix.ai",
        "file:///etc/passwd",
        "http://",
        "https://",
        "http:///path",
        ":::",
        "not a host",
        "https://cloud vtrix.ai",
        "https://cloud.vtrix.ai:port",
        "https://cloud.vtrix.ai:99999",
    ],
)
def test_garbage_host_is_refused(host: str) -> None:
    with pytest.raises(HailuoValidationError, match="is not an http\\(s\\) URL or host name") as info:
        normalise_base_url(host)
    assert info.value.parameter == "host"


# --- from_connection ---------------------------------------------------------------------------


def test_defaults_from_a_connection_with_only_a_key() -> None:
    s = settings()
    assert s.base_url == "https://cloud.vtrix.ai"
    assert s.api_key == KEY
    assert s.timeout == DEFAULT_TIMEOUT
    assert s.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert s.create_url == "https://cloud.vtrix.ai/model/v1/generation"
    assert s.task_url("task_1") == "https://cloud.vtrix.ai/model/v1/generation/task/task_1"
    assert s.auth_headers() == {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize("password", [None, ""])
def test_missing_password_says_to_put_the_api_key_in_the_password_field(password: str | None) -> None:
    with pytest.raises(
        HailuoAuthenticationError, match="has no API key: put the gateway's API key in its password"
    ):
        settings(password=password)


def test_missing_password_names_the_connection() -> None:
    with pytest.raises(HailuoAuthenticationError, match="'my_conn'"):
        GatewaySettings.from_connection("my_conn", host=None, password=None)


def test_host_schema_and_port_from_the_connection() -> None:
    s = settings(host="127.0.0.1", schema="http", port=8089)
    assert s.base_url == "http://127.0.0.1:8089"
    assert s.create_url == "http://127.0.0.1:8089/model/v1/generation"


@pytest.mark.parametrize(
    ("extras", "timeout", "connect_timeout"),
    [
        ({"timeout": 30}, 30.0, DEFAULT_CONNECT_TIMEOUT),
        ({"timeout": "12.5"}, 12.5, DEFAULT_CONNECT_TIMEOUT),
        ({"connect_timeout": 3}, DEFAULT_TIMEOUT, 3.0),
        ({"timeout": 90, "connect_timeout": "5"}, 90.0, 5.0),
        ({"timeout": None, "connect_timeout": ""}, DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT),
    ],
)
def test_timeout_extras(extras: dict[str, Any], timeout: float, connect_timeout: float) -> None:
    s = settings(extras=extras)
    assert (s.timeout, s.connect_timeout) == (timeout, connect_timeout)


@pytest.mark.parametrize("key", ["timeout", "connect_timeout"])
@pytest.mark.parametrize("value", [0, -1, "abc", "0", [5], {"s": 5}])
def test_bad_timeout_is_refused(key: str, value: Any) -> None:
    with pytest.raises(
        HailuoValidationError, match=f"connection extra {key}=.* must be a positive number"
    ) as info:
        settings(extras={key: value})
    assert info.value.parameter == key


def test_custom_paths_from_extras() -> None:
    s = settings(
        host="https://gateway.example.com",
        extras={"create_path": "/v2/generate", "task_path": "v2/tasks/{task_id}/status"},
    )
    assert s.create_url == "https://gateway.example.com/v2/generate"
    assert s.task_url("t1") == "https://gateway.example.com/v2/tasks/t1/status"


def test_task_path_without_placeholder_is_refused() -> None:
    with pytest.raises(HailuoValidationError, match=r"task_path=.* must contain '\{task_id\}'") as info:
        settings(extras={"task_path": "/model/v1/generation/task/"})
    assert info.value.parameter == "task_path"


@pytest.mark.parametrize(
    ("task_id", "expected_tail"),
    [
        ("a/b", "/task/a%2Fb"),
        ("x y", "/task/x%20y"),
        ("../../admin", "/task/..%2F..%2Fadmin"),
        ("q?x=1", "/task/q%3Fx%3D1"),
    ],
)
def test_task_ids_are_url_quoted_in_task_url(task_id: str, expected_tail: str) -> None:
    url = settings().task_url(task_id)
    assert url == "https://cloud.vtrix.ai/model/v1/generation" + expected_tail


def test_repr_does_not_contain_the_api_key() -> None:
    s = settings()
    assert KEY not in repr(s)
    assert KEY not in str(s)
    assert "cloud.vtrix.ai" in repr(s)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan")])
def test_non_finite_timeouts_are_refused(value: object) -> None:
    with pytest.raises(HailuoValidationError, match="positive number of seconds"):
        GatewaySettings.from_connection("c", host=None, password="k", extras={"timeout": value})


def test_a_malformed_ipv6_host_is_a_validation_error() -> None:
    with pytest.raises(HailuoValidationError, match="not an http"):
        normalise_base_url("http://[bad")


def test_the_key_is_stripped_of_surrounding_whitespace() -> None:
    assert GatewaySettings.from_connection("c", host=None, password=" key\n").api_key == "key"


def test_retry_extras_set_the_retry_policy() -> None:
    settings = GatewaySettings.from_connection(
        "c", host=None, password="k", extras={"retry_limit": "3", "retry_delay": 0.25}
    )
    assert (settings.retry_limit, settings.retry_delay) == (3, 0.25)


@pytest.mark.parametrize(
    ("key", "value"), [("retry_limit", 0), ("retry_limit", "two"), ("retry_limit", True), ("retry_delay", -1)]
)
def test_bad_retry_extras_are_refused(key: str, value: object) -> None:
    with pytest.raises(HailuoValidationError, match=key):
        GatewaySettings.from_connection("c", host=None, password="k", extras={key: value})


# --- allowed_frame_roots -----------------------------------------------------------------------


def frame_roots(value: object) -> tuple[str, ...] | None:
    """The roots as the connection's settings parsed them (once), written back as text."""
    roots = settings(extras={EXTRA_ALLOWED_FRAME_ROOTS: value}).allowed_frame_roots
    return None if roots is None else roots.as_text()


def test_the_extra_is_named_allowed_frame_roots() -> None:
    assert EXTRA_ALLOWED_FRAME_ROOTS == "allowed_frame_roots"


@pytest.mark.parametrize("value", [None, "", "  \n"])
def test_unset_frame_roots_allow_everything(value: object) -> None:
    assert frame_roots(value) is None


def test_frame_roots_default_to_unset() -> None:
    assert settings().allowed_frame_roots is None
    assert GatewaySettings("https://x", "k").allowed_frame_roots is None


@pytest.mark.parametrize(
    "value",
    [
        ["/data/stills", "s3://bucket/stills/"],
        '["/data/stills", "s3://bucket/stills/"]',
        ' [ "/data/stills/" , "s3://bucket/stills" ] ',
        "/data/stills,s3://bucket/stills/",
        "/data/stills, s3://bucket/stills",
        "/data/stills\ns3://bucket/stills/\n",
        "/data/stills\r\n  s3://bucket/stills/,",
    ],
)
def test_frame_roots_as_json_list_or_separated_text(value: object) -> None:
    assert frame_roots(value) == ("/data/stills", "s3://bucket/stills/")


def test_frame_roots_are_normalised() -> None:
    assert frame_roots(["/data/x/../stills/", "S3://bucket//stills", "gs://aws@b"]) == (
        "/data/stills",
        "s3://bucket/stills/",
        "gs://aws@b/",
    )


def test_a_directory_with_a_comma_needs_the_json_form() -> None:
    assert frame_roots('["/data/stills, 2024"]') == ("/data/stills, 2024",)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("stills", "'stills' is neither an absolute local directory nor an object storage URI prefix"),
        ("/data/stills, relative/dir", "'relative/dir' is neither"),
        ("https://cdn.example.com/stills/", "the gateway fetches them"),
        ("file:///data/stills", "write a local directory as an absolute path"),
        ("s3://", "names no bucket"),
        ("s3://bucket/a/../b", "'.' or '..'"),
        ('["/data/stills", ""]', "an entry is empty"),
        ('["/data/stills", 3]', "every entry must be a string, got int"),
        ('["/data/stills"', "is not a valid JSON list"),
        ('{"a": 1}', "is neither an absolute local directory"),
        (42, "must be a JSON list of strings or text with one entry per comma or line, got int"),
        ({"root": "/data"}, "got dict"),
        ([], "lists no roots"),
        ("[]", "lists no roots"),
        (",\n,", "lists no roots"),
    ],
)
def test_bad_frame_roots_are_refused_naming_the_extra(value: object, match: str) -> None:
    with pytest.raises(HailuoValidationError, match=match) as info:
        frame_roots(value)
    assert info.value.parameter == EXTRA_ALLOWED_FRAME_ROOTS
    assert f"connection extra {EXTRA_ALLOWED_FRAME_ROOTS}" in str(info.value)


def test_credentials_in_a_frame_root_are_refused_without_being_quoted() -> None:
    with pytest.raises(HailuoValidationError, match="connection id, not credentials") as info:
        frame_roots("s3://admin:hunter2@bucket/stills/")
    assert "hunter2" not in str(info.value)
    assert "admin" not in str(info.value)


def test_a_slip_in_the_price_table_fails_only_the_estimate() -> None:
    # Triggers and sensors read the same connection while paid videos render: they must not fail.
    text = settings(extras={"price_table": "{"}).price_table_extra
    with pytest.raises(HailuoValidationError, match="price_table"):
        PriceTable.from_extra(text)
    assert settings().price_table_extra is None


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), (10, 10.0), ("2.5", 2.5)])
def test_the_poll_rate_extra(value: object, expected: float | None) -> None:
    assert settings(extras={"max_polls_per_second": value}).max_polls_per_second() == expected


@pytest.mark.parametrize("value", [0, -1, "fast", True, "inf", "nan"])
def test_a_bad_poll_rate_fails_only_where_it_is_read(value: object) -> None:
    """The settings are made (the waits for paid videos go on); reading the rate names the extra."""
    made = settings(extras={"max_polls_per_second": value})
    with pytest.raises(
        HailuoValidationError, match=r"max_polls_per_second=.* must be a positive number"
    ) as info:
        made.max_polls_per_second()
    assert info.value.parameter == "max_polls_per_second"
