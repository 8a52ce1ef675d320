"""One connection lookup for a herd of triggers: gateway settings shared per event loop, briefly.

Airflow looks a connection up anew for every caller: in a triggerer, each lookup is a round trip
to the supervisor plus secrets-backend and masking work on the event loop (about half a millisecond
here). A mapped batch of 1,000 deferred tasks, or a restarted triggerer, starts 1,000 triggers of
one connection within seconds; each would pay it. Here concurrent lookups of one connection share
one, and its result is reused for a short while, the way Airflow's own secrets cache
(``[secrets] use_cache``) does for longer. Failures are never kept: the next trigger asks again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

from airflow_provider_hailuo.hooks.settings import GatewaySettings

# Long enough to cover a herd's start (triggers spread their starts over at most a few seconds),
# short enough that an edited connection reaches new triggers within a minute.
SETTINGS_TTL_SECONDS = 30.0

_Entry = tuple[float, "asyncio.Task[GatewaySettings]"]  # (monotonic expiry, the lookup)
_entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Entry]] = (
    weakref.WeakKeyDictionary()
)


async def shared_settings(
    key: Hashable, lookup: Callable[[], Coroutine[Any, Any, GatewaySettings]]
) -> GatewaySettings:
    """The settings ``key`` names (a connection, as one hook class reads it).

    They come from a lookup on this loop that is in flight or finished less than
    :data:`SETTINGS_TTL_SECONDS` ago, else from ``lookup()``, run for this caller and later ones.
    """
    loop = asyncio.get_running_loop()
    by_conn = _entries.setdefault(loop, {})
    entry = by_conn.get(key)
    if entry is None or entry[0] <= time.monotonic():
        # A task of its own, so that the trigger that started it stopping does not cancel the
        # lookup the others wait for.
        lookup_task = loop.create_task(lookup())
        entry = (time.monotonic() + SETTINGS_TTL_SECONDS, lookup_task)
        by_conn[key] = entry

        def forget_failure(task: asyncio.Task[GatewaySettings]) -> None:
            # (task.exception() also marks a failure retrieved: no "never retrieved" warning.)
            failed = task.cancelled() or task.exception() is not None
            if failed and by_conn.get(key) is entry:
                del by_conn[key]

        lookup_task.add_done_callback(forget_failure)
    return await asyncio.shield(entry[1])
