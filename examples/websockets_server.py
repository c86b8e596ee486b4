"""A minimal rtcsignal server on the ``websockets`` adapter (asyncio).

    RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
        python examples/websockets_server.py --port 8080

Clients connect to ``ws://127.0.0.1:8080/ws`` with a token minted by
``rtcsignal.auth.mint_token(secret, user=..., ttl=...)``. Ctrl-C shuts down gracefully
(clients get ``going_away`` and close code 1001, and reconnect; their sessions lived in
this process, so they start fresh sessions).
"""

from __future__ import annotations

import argparse
import signal

import anyio

from rtcsignal.adapters.websockets import serve
from rtcsignal.runtime import Runtime, RuntimeSettings


async def main(host: str, port: int) -> None:
    settings = RuntimeSettings.from_env()  # RTCSIGNAL_AUTH_SECRET=... turns on token auth
    async with Runtime(settings) as runtime, serve(runtime, host=host, port=port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://{host}:{bound}/ws", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break
        await runtime.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    anyio.run(main, args.host, args.port)
