"""A minimal rtcsignal server on aiohttp.

RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
    python examples/aiohttp_server.py --port 8080
"""

from __future__ import annotations

import argparse
import socket

from aiohttp import web

from rtcsignal.adapters.aiohttp import setup
from rtcsignal.runtime import Runtime, RuntimeSettings


def make_app() -> web.Application:
    app = web.Application()
    setup(app, Runtime(RuntimeSettings.from_env()), path="/ws")  # RTCSIGNAL_AUTH_SECRET=...
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    sock = socket.create_server((args.host, args.port))
    print(f"listening on ws://{args.host}:{sock.getsockname()[1]}/ws", flush=True)
    web.run_app(make_app(), sock=sock, print=None)
