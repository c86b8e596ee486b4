"""``python -m rtcsignal serve``: the demo signaling server.

The ``websockets`` adapter on the runtime, in memory, with an anonymous identity minted
per visitor (demo only: use ``auth_secret`` or your own hook in production). The WebSocket
is at ``/ws`` and a health snapshot at ``/healthz``. Settings come from ``--config``
(TOML), then ``RTCSIGNAL_*`` environment variables, then ``--host`` / ``--port``.

Adding pages: :func:`run_server` takes extra ``routes`` (path -> ``(status, content type,
body)`` callable) served for plain HTTP GETs next to the WebSocket; a demo page at ``/``
is one more entry in :func:`demo_routes`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from rtcsignal.runtime import (
    HandshakeRequest,
    Runtime,
    RuntimeSettings,
    SettingsError,
    anonymous_authenticator,
)

if TYPE_CHECKING:
    from rtcsignal.adapters.websockets import Route

__all__ = ["demo_routes", "register", "run_server"]

logger = logging.getLogger("rtcsignal")


def demo_routes(runtime: Runtime) -> dict[str, Route]:
    """The demo server's plain HTTP routes: ``/healthz`` (JSON health snapshot)."""

    def healthz(request: HandshakeRequest) -> tuple[int, str, bytes]:
        health = runtime.health()
        status = 200 if health.accepting else 503
        return status, "application/json", json.dumps(health.as_dict()).encode()

    return {"/healthz": healthz}


async def run_server(
    settings: RuntimeSettings,
    *,
    routes: Mapping[str, Route] | None = None,
    ready: Any = None,
) -> None:
    """Run the demo server until SIGINT/SIGTERM, then shut down gracefully.

    Args:
        settings: host, port, limits.
        routes: extra plain HTTP routes (e.g. a demo page at ``/``).
        ready: called with the bound port once listening (tests, scripts).
    """
    from rtcsignal.adapters.websockets import serve  # only the server needs websockets

    runtime = Runtime(settings, authenticate=anonymous_authenticator())
    async with runtime:
        table = {**demo_routes(runtime), **(routes or {})}
        async with serve(runtime, routes=table) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            logger.info("listening on ws://%s:%d/ws", settings.host, port)
            print(f"rtcsignal: ws://{settings.host}:{port}/ws  (health: /healthz)", flush=True)
            if ready is not None:
                ready(port)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            print("rtcsignal: shutting down", flush=True)
            await runtime.shutdown()


def _settings(args: argparse.Namespace) -> RuntimeSettings:
    settings = RuntimeSettings.from_env()
    if args.config is not None:
        settings = RuntimeSettings.from_toml(Path(args.config).read_text())
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    return attrs.evolve(settings, **overrides)


def _main(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except (SettingsError, OSError) as exc:
        print(f"rtcsignal serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)  # one line per HTTP GET
    anyio.run(run_server, settings)
    return 0


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the demo signaling server (WebSocket at /ws, health at /healthz)"
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--config", help="a TOML settings file")
    parser.set_defaults(handler=_main)
