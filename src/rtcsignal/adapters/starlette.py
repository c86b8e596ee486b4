"""The ASGI adapter: a Starlette / FastAPI WebSocket route.

Example::

    from starlette.applications import Starlette
    from rtcsignal.adapters.starlette import lifespan, route
    from rtcsignal.runtime import Runtime, RuntimeSettings

    runtime = Runtime(RuntimeSettings(auth_secret=SECRET))
    app = Starlette(routes=[route(runtime, "/ws")], lifespan=lifespan(runtime))

With FastAPI: ``app.add_api_websocket_route("/ws", endpoint(runtime))`` and enter
``async with runtime:`` in the application's lifespan. Compression is the ASGI server's
setting: run uvicorn with ``ws_per_message_deflate=False`` (see ``docs/adapters.md``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rtcsignal.runtime import HandshakeRequest, Runtime

__all__ = ["endpoint", "lifespan", "route"]

# Starlette raises RuntimeError for I/O on a socket it already saw closed, and the ASGI
# server raises OSError (ClientDisconnected) when the peer is gone.
_CLOSED = (WebSocketDisconnect, RuntimeError, OSError)


class _Transport:
    __slots__ = ("ws",)

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def recv(self) -> str | bytes | None:
        try:
            message = await self.ws.receive()
        except _CLOSED:
            return None
        if message["type"] != "websocket.receive":
            return None
        text: str | None = message.get("text")
        return text if text is not None else message.get("bytes")

    async def send(self, data: bytes, text: bool) -> None:
        frame = {"type": "websocket.send", "text": data.decode()} if text else None
        try:
            await self.ws.send(frame or {"type": "websocket.send", "bytes": data})
        except _CLOSED:
            return

    async def close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code, reason)
        except _CLOSED:
            return


def endpoint(runtime: Runtime) -> Callable[[WebSocket], Awaitable[None]]:
    """The WebSocket endpoint (for ``WebSocketRoute`` or FastAPI's websocket routes)."""

    async def serve(ws: WebSocket) -> None:
        scope = ws.scope
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        client = scope.get("client")
        request = HandshakeRequest.build(target, headers, client[0] if client else None)
        await ws.accept()
        await runtime.serve(request, _Transport(ws))

    return serve


def route(runtime: Runtime, path: str = "/ws") -> WebSocketRoute:
    """A Starlette ``WebSocketRoute`` at ``path`` serving ``runtime``."""
    return WebSocketRoute(path, endpoint(runtime))


def lifespan(runtime: Runtime) -> Callable[[Any], Any]:
    """A Starlette ``lifespan`` running ``runtime`` (graceful shutdown on exit)."""

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        async with runtime:
            yield

    return run
