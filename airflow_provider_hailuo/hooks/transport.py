"""Transport faults -> this provider's error tree, for the sync (requests) and async (aiohttp) clients.

Every mapped error quotes only the exception's type, never its message: some of requests' messages
quote a header, the API key's included. Callers raise the result outside their ``except`` block,
so the original exception (which holds the request and its headers) is not even kept as
``__context__``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_hailuo.exceptions import HailuoError, HailuoRequestNotSentError, HailuoTransientError

# Raised before a byte leaves: no usable URL, scheme or proxy URL. They fail the same way every time.
_UNSENDABLE_REQUESTS_ERRORS = (
    requests.exceptions.InvalidURL,  # InvalidProxyURL included
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.URLRequired,
)
# A connection that was never made: the request was not sent.
_NOT_CONNECTED = (NewConnectionError, ConnectTimeoutError, requests.ConnectTimeout)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps: requests keeps urllib3's error in ``args[0]``, urllib3
    keeps the real cause in ``reason``, Python in ``__cause__`` and ``__context__``."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _tls_refused(url: str, error: BaseException) -> HailuoError:
    return HailuoRequestNotSentError(
        f"TLS error talking to {url}: the certificate was refused before anything was sent; check the "
        f"host and its certificate ({type(error).__name__})"
    )


def unsendable(error: BaseException, url: str) -> HailuoError:
    """A request that fails the same way every time (a malformed URL or header), sync or async."""
    return HailuoRequestNotSentError(
        f"the request to {url} could not be sent ({type(error).__name__}): check the URL; for gateway "
        "calls it is the connection's host with its create_path/task_path extras"
    )


def requests_error(error: requests.RequestException, url: str, *, peer: str = "the gateway") -> HailuoError:
    """A failure of ``Session.send`` as this provider's error; ``never_sent`` only on proof.

    Only an unusable URL, a certificate refused in the handshake and a connection never made prove
    that nothing was sent. Everything else (a timeout, a dropped connection, a TLS error after the
    handshake, an answer that cannot be decoded, a redirect loop, a malformed header) may follow a
    request the server acted on. ``peer`` names who was talked to (a video's host is not the gateway).
    """
    if isinstance(error, _UNSENDABLE_REQUESTS_ERRORS):
        return unsendable(error, url)
    causes = list(_causes(error))
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
        return _tls_refused(url, error)
    never_sent = any(isinstance(cause, _NOT_CONNECTED) for cause in causes)
    if never_sent:
        what = "could not connect to"
    elif isinstance(error, requests.ReadTimeout):
        what = "timed out waiting for"
    elif isinstance(error, requests.ConnectionError):
        what = "lost the connection to"
    else:
        what = "could not read the answer of"
    return HailuoTransientError(f"{what} {peer} at {url}: {type(error).__name__}", never_sent=never_sent)


def aiohttp_error(error: BaseException, url: str) -> HailuoError:
    """The async counterpart of :func:`requests_error` (the async client only reads)."""
    import aiohttp

    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return _tls_refused(url, error)
    if isinstance(error, (aiohttp.InvalidURL, ValueError)):
        return unsendable(error, url)
    never_sent = isinstance(error, aiohttp.ClientConnectorError)
    what = "could not connect to" if never_sent else "lost the connection to"
    if isinstance(error, asyncio.TimeoutError):
        what = "timed out waiting for"
    return HailuoTransientError(f"{what} the gateway at {url}: {type(error).__name__}", never_sent=never_sent)


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
