"""Transport faults -> this provider's error tree, for the sync (requests) and async (aiohttp) clients.

Every mapped error quotes only the exception's type, never its message: some of requests' messages
quote a header, the API key's included. Callers raise the result outside their ``except`` block,
so the original exception (which holds the request and its headers) is not even kept as
``__context__``.
"""

from __future__ import annotations

import asyncio

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_hailuo.exceptions import HailuoError, HailuoTransientError

# Transport faults worth retrying. Anything else requests raises (a malformed URL or header, a TLS
# certificate that does not verify) fails the same way every time, and happens before sending.
_TRANSIENT_REQUESTS_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _tls_error(error: BaseException, url: str) -> HailuoError:
    return HailuoError(
        f"TLS error talking to {url}: check the host and its certificate ({type(error).__name__})"
    )


def _unsendable(error: BaseException, url: str) -> HailuoError:
    """A request that fails the same way every time (a malformed URL or header), sync or async."""
    return HailuoError(
        f"the request to {url} could not be sent ({type(error).__name__}): check the URL; for gateway "
        "calls it is the connection's host with its create_path/task_path extras"
    )


def requests_error(error: requests.RequestException, url: str, *, peer: str = "the gateway") -> HailuoError:
    """A requests failure as this provider's error, with ``resubmit_safe`` set only if nothing was sent.

    ``peer`` names who was talked to in the message (a video's host is not the gateway).
    """
    if isinstance(error, requests.exceptions.SSLError):
        return _tls_error(error, url)
    if not isinstance(error, _TRANSIENT_REQUESTS_ERRORS):
        return _unsendable(error, url)
    reason: object = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    never_sent = isinstance(error, requests.ConnectTimeout) or isinstance(
        reason, (NewConnectionError, ConnectTimeoutError)
    )
    what = "could not connect to" if never_sent else "lost the connection to"
    if isinstance(error, requests.ReadTimeout):
        what = "timed out waiting for"
    return HailuoTransientError(f"{what} {peer} at {url}: {type(error).__name__}", resubmit_safe=never_sent)


def aiohttp_error(error: BaseException, url: str) -> HailuoError:
    """The async counterpart of :func:`requests_error` (the async client only reads)."""
    import aiohttp

    if isinstance(error, aiohttp.ClientSSLError):
        return _tls_error(error, url)
    if isinstance(error, (aiohttp.InvalidURL, ValueError)):
        return _unsendable(error, url)
    never_sent = isinstance(error, aiohttp.ClientConnectorError)
    what = "could not connect to" if never_sent else "lost the connection to"
    if isinstance(error, asyncio.TimeoutError):
        what = "timed out waiting for"
    return HailuoTransientError(
        f"{what} the gateway at {url}: {type(error).__name__}", resubmit_safe=never_sent
    )


class _HeadersOnly(AuthBase):
    """Leaves a request as it is: authentication travels in the headers the hook sets."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def new_session() -> requests.Session:
    """A pooled session; urllib3's own retries are off, the retry policy decides."""
    session = requests.Session()
    # A no-op auth: without one, requests replaces the Bearer header with ~/.netrc credentials
    # (and would send those to the gateway and the CDN alike).
    session.auth = _HeadersOnly()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
