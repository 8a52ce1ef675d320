"""How a URL is shown in logs, errors and a dry run's result: no signature, no credentials."""

from __future__ import annotations

import pytest

from airflow_provider_hailuo.gateway.urls import without_query
from airflow_provider_hailuo.media.images import shown_value


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://cdn.example.com/v.mp4?X-Amz-Signature=abc", "https://cdn.example.com/v.mp4?..."),
        ("https://user:secret@hooks.example.com/cb?token=t", "https://hooks.example.com/cb?..."),
        ("https://token@hooks.example.com/cb", "https://hooks.example.com/cb"),
        ("https://example.com/stills/a@2x.png", "https://example.com/stills/a@2x.png"),
        ("s3://bucket/stills/a.png", "s3://bucket/stills/a.png"),
    ],
)
def test_a_url_is_shown_without_its_query_or_credentials(url: str, shown: str) -> None:
    assert without_query(url) == shown


def test_a_parameter_is_shown_with_data_urls_shortened() -> None:
    data_url = "data:image/png;base64," + "A" * 10_000
    assert len(str(shown_value(data_url))) < 100
    assert shown_value(10) == 10
    assert shown_value("https://u:p@example.com/x?sig=1") == "https://example.com/x?..."
