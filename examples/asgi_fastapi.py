"""rtcsignal's raw ASGI application mounted in FastAPI, served by uvicorn.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/asgi_fastapi.py --port 8080

``app.mount("/rtc", application(runtime, path="/ws", ...))`` puts the WebSocket at
``/rtc/ws`` and its health route at ``/rtc/healthz`` (paths are below the mount point);
FastAPI's lifespan runs the runtime (Starlette does not pass lifespan events to mounted
applications). ``rtcsignal.adapters.starlette`` is the other way: a Starlette WebSocket
route.
"""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from rtcsignal.adapters.asgi import application
from rtcsignal.runtime import HandshakeRequest, Runtime, RuntimeSettings

runtime = Runtime(RuntimeSettings.from_env())  # RTCSIGNAL_AUTH_SECRET=... for token auth


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with runtime:  # graceful shutdown (going_away, 1001) when the app stops
        yield


def healthz(request: HandshakeRequest) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(runtime.health().as_dict()).encode()


app = FastAPI(lifespan=lifespan)
app.mount("/rtc", application(runtime, path="/ws", routes={"/healthz": healthz}))


@app.get("/")
def index() -> dict[str, str]:
    return {"service": "fastapi", "signaling": "/rtc"}


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
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/rtc/ws", flush=True)
    config = uvicorn.Config(
        app,
        ws_max_size=runtime.max_frame_bytes,
        ws_per_message_deflate=False,
        log_level="warning",
    )
    Server(config).run(sockets=[sock])
