"""What counts as an http(s) URL, for every URL a user gives (the gateway host, a frame, the
callback), how one is shown, and when a signed video URL expires."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

# ``scheme://user:password@`` -> ``scheme://``: credentials in a URL are never shown.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def without_query(url: str) -> str:
    """A URL as it may be shown in a log or an error: a query (a signature, a token, an expiry)
    becomes ``?...`` and credentials are dropped. The whole URL stays where it is needed (XCom,
    the extra link)."""
    head, mark, _ = url.partition("?")
    return _USERINFO.sub(r"\1", head) + ("?..." if mark else "")


def is_http_url(url: str) -> bool:
    """An ``http://`` or ``https://`` URL with a host name, a valid port if any, and no whitespace."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError:  # also "Invalid IPv6 URL" from urlsplit itself
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port != -1
        and not any(c.isspace() for c in url)
    )


def signed_url_expiry(url: str) -> datetime | None:
    """When a gateway video URL stops working, if the URL says so.

    The gateway's video URLs are object storage's signed URLs (docs/gateway-protocol.md): an
    ``Expires`` query value in Unix seconds. ``None`` when the URL carries no such value: it may
    still expire, so a reader must be ready for a URL that no longer works.
    """
    values = parse_qs(urlsplit(url).query).get("Expires", [])
    if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(values[0]), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
