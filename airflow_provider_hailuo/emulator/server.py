"""Run the emulator on loopback: in a background thread (tests) or on the caller's loop (the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.log import access_logger

from airflow_provider_hailuo.emulator.app import create_app
from airflow_provider_hailuo.emulator.client import EmulatorClient
from airflow_provider_hailuo.emulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_NOT_FOUND_AFTER_CREATE_SECONDS,
    DEFAULT_RENDER_SECONDS,
    DEFAULT_RESPONSE_DELAY_SECONDS,
    DEFAULT_VIDEO_URL_TTL_SECONDS,
    EmulatorConfig,
)
from airflow_provider_hailuo.emulator.state import EmulatorState

# 1,000 pollers may connect in the same instant; the default backlog of 128 would refuse some.
LISTEN_BACKLOG = 4096
# A request held by a "slow" fault must not keep a test session from ending.
SHUTDOWN_TIMEOUT_SECONDS = 1.0
_START_TIMEOUT_SECONDS = 30.0
_OPEN_FILES_IF_UNLIMITED = 65536


def raise_open_files_limit() -> None:
    """Lift the soft limit on open files to the hard one: each concurrent poller holds a socket."""
    try:
        import resource
    except ImportError:  # not on Windows; its limits are not per-process file descriptors
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit is not a value the kernel accepts as a soft one (macOS, some Linux).
    target = hard if hard != resource.RLIM_INFINITY else _OPEN_FILES_IF_UNLIMITED
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, not by aiohttp, so port 0's pick is known before the loop starts serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _count_connections(server: web.Server, state: EmulatorState) -> None:
    """Count the TCP connections ``server`` accepts and loses into ``state``.

    aiohttp's :class:`~aiohttp.web.Server` is the protocol factory of the listening socket, and
    every :class:`~aiohttp.web_protocol.RequestHandler` it makes reports to it, exactly once each,
    from its ``connection_made`` and ``connection_lost`` (the server keeps its list of connections
    for shutdown that way). The runner builds the server itself, so its two hooks are wrapped on
    the instance rather than by a subclass.
    """
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        state.connection_made()
        made(handler, transport)

    def connection_lost(handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        state.connection_lost()
        lost(handler, exc)

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


def _finish_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and finish what the runner's shutdown timeout left running (a handler sleeping out a
    slow fault), as ``asyncio.run`` does, instead of closing the loop on pending tasks."""
    remaining = asyncio.all_tasks(loop)
    for task in remaining:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*remaining, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


class EmulatorServer:
    """The gateway emulator on ``host:port`` (port 0 picks a free one); its control API via ``client``.

    ``with EmulatorServer() as server:`` runs it in a daemon thread with its own event loop, so a
    synchronous test (or Airflow code under test) can talk to it; ``async with`` runs it on the
    running loop instead. Only a server run this way counts TCP connections (``connections_opened``,
    ``connections_open``): the application alone, under another runner, cannot see them.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        render_seconds: float = DEFAULT_RENDER_SECONDS,
        public_url: str | None = None,
        response_delay_seconds: float = DEFAULT_RESPONSE_DELAY_SECONDS,
        video_url_ttl_seconds: float = DEFAULT_VIDEO_URL_TTL_SECONDS,
        not_found_after_create_seconds: float = DEFAULT_NOT_FOUND_AFTER_CREATE_SECONDS,
        access_log: bool = False,
    ) -> None:
        self.host = host
        self.requested_port = port
        self._state = EmulatorState(
            EmulatorConfig(
                api_key=api_key,
                render_seconds=render_seconds,
                public_url=public_url,
                response_delay_seconds=response_delay_seconds,
                video_url_ttl_seconds=video_url_ttl_seconds,
                not_found_after_create_seconds=not_found_after_create_seconds,
            )
        )
        self._access_log = access_log
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: EmulatorClient | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give a connection as its host, e.g. ``http://127.0.0.1:8089``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The key the emulator accepts now (a read of the live config, which the control API may change)."""
        return self._state.config.api_key

    @property
    def client(self) -> EmulatorClient:
        if self._client is None:
            self._client = EmulatorClient(self.url)
        return self._client

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start_async(self) -> None:
        """Serve on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        raise_open_files_limit()
        sock = _listening_socket(self.host, self.requested_port)
        runner = web.AppRunner(
            create_app(state=self._state),
            access_log=access_logger if self._access_log else None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        )
        try:
            await runner.setup()
            if runner.server is None:  # setup() sets it; a failed setup raises instead
                raise RuntimeError("the aiohttp runner did not make its server")
            _count_connections(runner.server, self._state)
            await web.SockSite(runner, sock, backlog=LISTEN_BACKLOG).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def stop_async(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._client is not None:
            self._client.close()
            self._client = None

    def start(self) -> Self:
        """Serve from a daemon thread with its own event loop; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as err:
                failure.append(err)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                _finish_remaining_tasks(loop)
                loop.close()

        thread = threading.Thread(target=serve, name="hailuo-emulator", daemon=True)
        thread.start()
        if not started.wait(_START_TIMEOUT_SECONDS):
            raise RuntimeError("the emulator did not start in time")
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()
