"""The ``trio-websocket`` adapter (the runtime runs on trio through anyio).

Example::

    import trio
    from rtcsignal.adapters.trio import serve
    from rtcsignal.runtime import Runtime, RuntimeSettings

    async def main() -> None:
        async with Runtime(RuntimeSettings(auth_secret=SECRET)) as runtime:
            await serve(runtime, host="127.0.0.1", port=8080)

    trio.run(main)

trio-websocket does not implement permessage-deflate, so frames are never compressed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    serve_websocket,
)

from rtcsignal.runtime import HandshakeRequest, Runtime

__all__ = ["handler", "serve"]


class _Transport:
    __slots__ = ("ws",)

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws

    async def recv(self) -> str | bytes | None:
        try:
            return await self.ws.get_message()
        except ConnectionClosed:
            return None

    async def send(self, data: bytes, text: bool) -> None:
        try:
            await self.ws.send_message(data.decode() if text else data)
        except ConnectionClosed:
            return

    async def close(self, code: int, reason: str) -> None:
        await self.ws.aclose(code, reason)


def handler(
    runtime: Runtime, *, path: str = "/ws"
) -> Callable[[WebSocketRequest], Awaitable[None]]:
    """The request handler for ``trio_websocket.serve_websocket``."""

    async def handle(request: WebSocketRequest) -> None:
        target = HandshakeRequest.build(
            request.path,
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers],
            str(request.remote.address) if hasattr(request.remote, "address") else None,
        )
        if target.path != path:
            await request.reject(404)
            return
        ws = await request.accept()
        await runtime.serve(target, _Transport(ws))

    return handle


async def serve(
    runtime: Runtime,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str = "/ws",
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen and serve until cancelled (``task_status`` reports the
    ``WebSocketServer``, so ``await nursery.start(serve, ...)`` gives its port)."""
    settings = runtime.settings
    await serve_websocket(
        handler(runtime, path=path),
        settings.host if host is None else host,
        settings.port if port is None else port,
        None,
        max_message_size=runtime.max_frame_bytes,
        disconnect_timeout=settings.close_timeout,
        task_status=task_status,
    )
