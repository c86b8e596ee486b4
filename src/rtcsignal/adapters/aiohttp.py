"""The ``aiohttp.web`` adapter.

Example::

    from aiohttp import web
    from rtcsignal.adapters.aiohttp import setup
    from rtcsignal.runtime import Runtime, RuntimeSettings

    app = web.Application()
    setup(app, Runtime(RuntimeSettings(auth_secret=SECRET)), path="/ws")
    web.run_app(app)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import WSMsgType, web

from rtcsignal.runtime import HandshakeRequest, Runtime

__all__ = ["handler", "setup"]


class _Transport:
    __slots__ = ("ws",)

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str | bytes | None:
        message = await self.ws.receive()
        if message.type is WSMsgType.TEXT:
            return str(message.data)
        if message.type is WSMsgType.BINARY:
            return bytes(message.data)
        return None  # CLOSE, CLOSING, CLOSED, ERROR: the connection is over

    async def send(self, data: bytes, text: bool) -> None:
        if self.ws.closed:
            return
        try:
            if text:
                await self.ws.send_str(data.decode())
            else:
                await self.ws.send_bytes(data)
        except ConnectionError:
            return

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())


def handler(
    runtime: Runtime, *, compression: bool | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The request handler for ``app.router.add_get(path, ...)``.

    Args:
        runtime: the running :class:`~rtcsignal.runtime.Runtime`.
        compression: negotiate permessage-deflate; default ``settings.compression`` (off).
    """
    settings = runtime.settings
    deflate = settings.compression if compression is None else compression

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            max_msg_size=runtime.max_frame_bytes,
            compress=deflate,
            timeout=settings.close_timeout,
            heartbeat=None,  # the protocol has its own ping and timeout
        )
        await ws.prepare(request)
        target = HandshakeRequest.build(request.path_qs, request.headers.items(), request.remote)
        await runtime.serve(target, _Transport(ws))
        return ws

    return handle


def setup(app: web.Application, runtime: Runtime, *, path: str = "/ws") -> None:
    """Serve ``runtime`` at ``path`` of ``app`` and run it for the app's lifetime
    (graceful shutdown on cleanup)."""

    async def run(_app: web.Application) -> AsyncIterator[None]:
        async with runtime:
            yield

    async def going_away(_app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for its handlers: close clients with
        # going_away + 1001 first, or the wait would last its whole timeout.
        await runtime.shutdown()

    app.cleanup_ctx.append(run)
    app.on_shutdown.append(going_away)
    app.router.add_get(path, handler(runtime))
