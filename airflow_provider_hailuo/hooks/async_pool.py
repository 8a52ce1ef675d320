"""aiohttp sessions shared by every trigger of one connection in one event loop.

A triggerer runs hundreds of triggers on one loop; a session each would open a TCP (and TLS)
connection per poll. One pooled session per (loop, gateway) keeps connections alive between polls.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from functools import lru_cache
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

# The requests in flight to one gateway from one triggerer process; the rest wait for a free slot
# instead of opening more sockets than the gateway will welcome.
MAX_CONNECTIONS_PER_GATEWAY = 100

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)


_leases: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Counter[str]] = weakref.WeakKeyDictionary()

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def shared_session(base_url: str) -> aiohttp.ClientSession:
    """The running loop's session for ``base_url``, created on first use."""
    loop = asyncio.get_running_loop()
    by_gateway = _sessions.setdefault(loop, {})
    session = by_gateway.get(base_url)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS_PER_GATEWAY),
            # Cookies would leak state between triggers; the gateway authenticates by header only.
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
            # Not trust_env: it would also read ~/.netrc and clash with the Bearer header. Proxies
            # come from proxy_for() instead.
            trust_env=False,
        )
        by_gateway[base_url] = session
    return session


def request_slots(base_url: str) -> asyncio.Semaphore:
    """The running loop's bound on requests in flight to ``base_url``; hold one slot per request.

    The connector has the same limit, but aiohttp queues for it only after building the request
    (URL, headers, timers): thousands of polls due at once would each hold one while they wait.
    A semaphore first keeps a waiting poll down to a coroutine frame.
    """
    by_gateway = _slots.setdefault(asyncio.get_running_loop(), {})
    slots = by_gateway.get(base_url)
    if slots is None:
        slots = by_gateway[base_url] = asyncio.Semaphore(MAX_CONNECTIONS_PER_GATEWAY)
    return slots


@lru_cache(maxsize=64)
def proxy_for(base_url: str) -> str | None:
    """The proxy HTTP(S)_PROXY/NO_PROXY name for a gateway, as requests finds it on the worker side."""
    parts = urlsplit(base_url)
    if parts.hostname is None or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme)


class SessionLease:
    """Hold the shared session for a while (a trigger's whole run); the last lease closes it.

    Long-lived users keep connections alive between polls; when the last one leaves (a test's
    loop ending, a triggerer going idle) the sockets are closed instead of leaking. A class, not
    an ``@asynccontextmanager``: that would be one more async generator for the loop to close
    concurrently with the trigger's own at shutdown ("aclose(): asynchronous generator is
    already running").
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def __aenter__(self) -> aiohttp.ClientSession:
        leases = _leases.setdefault(asyncio.get_running_loop(), Counter())
        leases[self.base_url] += 1
        return shared_session(self.base_url)

    async def __aexit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        leases = _leases.setdefault(loop, Counter())
        leases[self.base_url] -= 1
        if leases[self.base_url] <= 0:
            del leases[self.base_url]
            session = _sessions.get(loop, {}).pop(self.base_url, None)
            if session is not None:
                await session.close()


async def close_shared_sessions() -> None:
    """Close the running loop's sessions (tests and benchmarks call it before their loop ends)."""
    loop = asyncio.get_running_loop()
    for session in _sessions.pop(loop, {}).values():
        await session.close()
