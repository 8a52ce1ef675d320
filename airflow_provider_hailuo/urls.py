"""What counts as an http(s) URL, for every URL a user gives: the gateway host, a frame, the callback."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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
