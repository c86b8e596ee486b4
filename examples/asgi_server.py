"""A plain ASGI rtcsignal server, no framework, under uvicorn, hypercorn or granian.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/asgi_server.py --server uvicorn

The module's ``app`` runs under any ASGI server's command line too (the lifespan
protocol starts and stops the runtime), with the frame limit and compression settings
of ``docs/adapters.md``::

    uvicorn examples.asgi_server:app --ws-max-size 131072 --ws-per-message-deflate false
    hypercorn --config hypercorn.toml examples.asgi_server:app  # websocket_max_message_size
    granian --interface asgi examples.asgi_server:app

Run this way instead, a SIGTERM or Ctrl-C first tells every client ``going_away``
(close 1001: reconnect; sessions live in this process, so a new one starts fresh), then
stops the server: ASGI servers close
their WebSockets themselves before the lifespan shutdown, with 1012 at best.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys

from rtcsignal.adapters.asgi import ASGIApp, application
from rtcsignal.runtime import HandshakeRequest, Runtime, RuntimeSettings

runtime = Runtime(RuntimeSettings.from_env())  # RTCSIGNAL_AUTH_SECRET=... for token auth


def healthz(request: HandshakeRequest) -> tuple[int, str, bytes]:
    health = runtime.health()
    return (
        200 if health.accepting else 503,
        "application/json",
        json.dumps(health.as_dict()).encode(),
    )


app = application(runtime, path="/ws", routes={"/healthz": healthz})


async def until_signalled() -> None:
    """Wait for SIGINT or SIGTERM, then shut the runtime down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.shutdown()


async def uvicorn_main(app: ASGIApp, sock: socket.socket) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await runtime.shutdown()  # going_away + 1001 before uvicorn's own 1012
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        ws_max_size=runtime.max_frame_bytes,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="warning",
    )
    await Server(config).serve(sockets=[sock])


async def hypercorn_main(app: ASGIApp, sock: socket.socket) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.websocket_max_message_size = runtime.max_frame_bytes
    await serve(app, config, shutdown_trigger=until_signalled)  # type: ignore[arg-type]


async def granian_main(app: ASGIApp, host: str, port: int) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(app, address=host, port=port, interface=Interfaces.ASGI, log_enabled=False)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # granian starts listening after the lifespan startup
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        break
    print(f"listening on ws://{host}:{port}/ws", flush=True)
    await until_signalled()
    server.stop()
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["uvicorn", "hypercorn", "granian"], default="uvicorn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if args.server == "granian":  # granian binds its own socket: give it a port
        asyncio.run(granian_main(app, args.host, args.port))
        # Everything is stopped and flushed here. Granian's embedded server can still
        # abort (SIGABRT) while the interpreter finalizes under load (seen once in a
        # loaded CI-like run, never in 52 unloaded ones): leave before finalization.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    sock = socket.create_server((args.host, args.port))
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/ws", flush=True)
    run = uvicorn_main if args.server == "uvicorn" else hypercorn_main
    asyncio.run(run(app, sock))


if __name__ == "__main__":
    main()
