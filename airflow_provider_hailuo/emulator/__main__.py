"""``hailuo-emulator``: the gateway emulator as a process, for the demo, e2e tests and local DAG runs.

The first line on stdout is the URL it listens on (and nothing else), so a script that starts it
with ``--port 0`` can read where to connect.

The emulator checks requests with the provider's own code, which imports Airflow, and importing
Airflow creates ``$AIRFLOW_HOME/logs`` (``~/airflow`` when the variable is unset). Running a fake
gateway must not leave an Airflow home behind, so with no ``AIRFLOW_HOME`` set the process uses a
temporary one, removed on exit. Until then this module imports nothing that imports Airflow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence

# Airflow-free (checked by a test): only the settings' defaults, for --help.
from airflow_provider_hailuo.emulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_NOT_FOUND_AFTER_CREATE_SECONDS,
    DEFAULT_RENDER_SECONDS,
    DEFAULT_RESPONSE_DELAY_SECONDS,
    DEFAULT_VIDEO_URL_TTL_SECONDS,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hailuo-emulator",
        description="Serve the Hailuo 02 image-to-video gateway protocol locally (no key, no network).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8089, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="the Bearer key to accept (default: %(default)s)"
    )
    parser.add_argument(
        "--render-seconds",
        type=float,
        default=DEFAULT_RENDER_SECONDS,
        help="how long each task stays in_progress (default: %(default)s)",
    )
    parser.add_argument(
        "--response-delay-seconds",
        type=float,
        default=DEFAULT_RESPONSE_DELAY_SECONDS,
        help="how long every gateway request waits before it is answered (default: %(default)s)",
    )
    parser.add_argument(
        "--video-url-ttl-seconds",
        type=float,
        default=DEFAULT_VIDEO_URL_TTL_SECONDS,
        help="how long each video URL works after the poll that handed it out (default: %(default)s)",
    )
    parser.add_argument(
        "--not-found-after-create-seconds",
        type=float,
        default=DEFAULT_NOT_FOUND_AFTER_CREATE_SECONDS,
        help="answer polls of tasks younger than this with the gateway's 404 (default: %(default)s)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="base of the video URLs handed out, when behind a proxy or port map",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    from airflow_provider_hailuo.emulator.server import EmulatorServer

    server = EmulatorServer(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        render_seconds=args.render_seconds,
        public_url=args.public_url,
        response_delay_seconds=args.response_delay_seconds,
        video_url_ttl_seconds=args.video_url_ttl_seconds,
        not_found_after_create_seconds=args.not_found_after_create_seconds,
        access_log=args.access_log,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        print(server.url, flush=True)
        print(
            f"hailuo-emulator: serving on {server.url} (API key {args.api_key!r}, "
            f"render {args.render_seconds:g} s, control API {server.url}/_emulator/stats); Ctrl+C stops it",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.ExitStack() as stack:
        if "AIRFLOW_HOME" not in os.environ:
            # Before _serve() imports the server, and with it Airflow, which reads this at import.
            home = stack.enter_context(
                tempfile.TemporaryDirectory(
                    prefix="hailuo-emulator-airflow-home-", ignore_cleanup_errors=True
                )
            )
            os.environ.setdefault("AIRFLOW_HOME", home)
        try:
            asyncio.run(_serve(args))
        except OSError as err:
            print(f"hailuo-emulator: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
