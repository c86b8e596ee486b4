"""A minimal rtcsignal server on trio (``trio-websocket``).

RTCSIGNAL_AUTH_SECRET=change-me-to-32-or-more-random-bytes \\
    python examples/trio_server.py --port 8080
"""

from __future__ import annotations

import argparse
import signal

import trio

from rtcsignal.adapters.trio import serve
from rtcsignal.runtime import Runtime, RuntimeSettings


async def main(host: str, port: int) -> None:
    settings = RuntimeSettings.from_env()  # RTCSIGNAL_AUTH_SECRET=... turns on token auth
    async with Runtime(settings) as runtime, trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve(runtime, host=host, port=port, task_status=task_status)
        )
        print(f"listening on ws://{host}:{server.port}/ws", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break
        await runtime.shutdown()
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    trio.run(main, args.host, args.port)
