"""aiohttp sessions shared by every trigger of one connection in one event loop.

A triggerer runs hundreds of triggers on one loop; a session each would open a TCP (and TLS)
connection per poll. One pooled session per (loop, gateway) keeps connections alive between polls.
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp

# The pool's size bounds the requests in flight to one gateway from one triggerer process; the rest
# wait for a free connection instead of opening more sockets than the gateway will welcome.
MAX_CONNECTIONS_PER_GATEWAY = 100

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aiohttp.ClientSession]] = (
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
        )
        by_gateway[base_url] = session
    return session


async def close_shared_sessions() -> None:
    """Close the running loop's sessions (tests and benchmarks call it before their loop ends)."""
    loop = asyncio.get_running_loop()
    for session in _sessions.pop(loop, {}).values():
        await session.close()
