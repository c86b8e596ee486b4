"""rtcsignal in front of a Quart application, served by hypercorn.

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/asgi_quart.py --port 8080

Quart has no mount for other ASGI applications; the rtcsignal dispatcher wraps
``app.asgi_app`` instead: the WebSocket at ``/ws`` is rtcsignal's, every other request
is Quart's, and the lifespan events start the runtime and then reach Quart (its
``before_serving`` / ``after_serving`` hooks run as usual).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from rtcsignal.adapters.asgi import application
from rtcsignal.runtime import Runtime, RuntimeSettings

runtime = Runtime(RuntimeSettings.from_env())  # RTCSIGNAL_AUTH_SECRET=... for token auth
app = Quart(__name__)
started: list[str] = []


@app.before_serving
async def startup() -> None:
    started.append("quart")


@app.get("/")
async def index() -> dict[str, object]:
    return {"service": "quart", "signaling": "/ws", "started": started, "rtc": runtime.running}


app.asgi_app = application(runtime, path="/ws", fallback=app.asgi_app)  # type: ignore[method-assign]


async def until_signalled() -> None:
    """SIGINT/SIGTERM: going_away + 1001 to every client, then hypercorn stops."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.create_server((args.host, args.port))
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/ws", flush=True)
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.websocket_max_message_size = runtime.max_frame_bytes
    asyncio.run(serve(app, config, shutdown_trigger=until_signalled))  # type: ignore[arg-type]
