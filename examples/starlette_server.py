"""A minimal rtcsignal server on Starlette (ASGI), served by uvicorn.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/starlette_server.py --port 8080

The same app runs under any ASGI server: ``uvicorn examples.starlette_server:app``.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from starlette.applications import Starlette

from rtcsignal.adapters.starlette import lifespan, route
from rtcsignal.runtime import Runtime, RuntimeSettings

runtime = Runtime(RuntimeSettings.from_env())  # RTCSIGNAL_AUTH_SECRET=... for token auth
app = Starlette(routes=[route(runtime, "/ws")], lifespan=lifespan(runtime))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.create_server((args.host, args.port))
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/ws", flush=True)
    config = uvicorn.Config(app, ws_per_message_deflate=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
