"""rtcsignal mounted in a Litestar application, served by uvicorn.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/asgi_litestar.py --port 8080

The signaling WebSocket is the raw ASGI endpoint mounted at ``/rtc``
(``asgi("/rtc", is_mount=True)``) next to Litestar's own routes; Litestar's lifespan
runs the runtime. ``uvicorn examples.asgi_litestar:app --ws-max-size 131072
--ws-per-message-deflate false`` serves the same app.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar, asgi, get

from rtcsignal.adapters.asgi import endpoint
from rtcsignal.runtime import Runtime, RuntimeSettings

runtime = Runtime(RuntimeSettings.from_env())  # RTCSIGNAL_AUTH_SECRET=... for token auth


@get("/")
async def index() -> dict[str, str]:
    return {"service": "litestar", "signaling": "/rtc"}


@asynccontextmanager
async def run_runtime(app: Litestar) -> AsyncIterator[None]:
    async with runtime:  # graceful shutdown (going_away, 1001) when the app stops
        yield


app = Litestar(
    route_handlers=[index, asgi("/rtc", is_mount=True, copy_scope=False)(endpoint(runtime))],
    lifespan=[run_runtime],
)


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await runtime.shutdown()  # going_away + 1001 before uvicorn closes with 1012
        await super().shutdown(sockets)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.create_server((args.host, args.port))
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/rtc", flush=True)
    config = uvicorn.Config(
        app,
        ws_max_size=runtime.max_frame_bytes,
        ws_per_message_deflate=False,
        log_level="warning",
    )
    Server(config).run(sockets=[sock])
