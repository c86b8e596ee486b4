"""The ``websockets`` adapter (the library's asyncio server, ``websockets>=13``).

Example::

    from rtcsignal.adapters.websockets import serve
    from rtcsignal.runtime import Runtime, RuntimeSettings

    async with Runtime(RuntimeSettings(auth_secret=SECRET)) as runtime:
        async with serve(runtime, host="127.0.0.1", port=8080) as server:
            await server.serve_forever()

The WebSocket lives at ``path``; plain HTTP ``GET`` requests to a path in ``routes`` are
answered by that route (health checks, a demo page); anything else is 404.

Frames are written in batches: the runtime's writer hands over everything queued for a
connection at once, and the adapter serializes it with the connection's sans-I/O
``protocol`` inside the connection's ``send_context()`` (websockets' own state checks,
error handling and flow control), then writes it with one ``transport.write``:
``ServerConnection.send`` writes each frame with its own, one system call per frame,
which under load cost more than the whole of rtcsignal's validation of a candidate. A
``websockets`` without those connection internals falls back to ``send`` per frame, with
a ``RuntimeWarning`` at import; ``tests/adapters/test_websockets_batching.py`` guards
the batch path on a real connection.
"""

from __future__ import annotations

import contextlib
import http
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as _serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from rtcsignal.runtime import HandshakeRequest, Runtime

__all__ = ["Route", "handler", "serve"]

Route = Callable[[HandshakeRequest], tuple[int, str, bytes]]
"""A plain HTTP route: returns ``(status, content type, body)``."""


class _Transport:
    __slots__ = ("ws",)

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def recv(self) -> str | bytes | None:
        try:
            return await self.ws.recv()
        except ConnectionClosed:
            return None

    async def send(self, data: bytes, text: bool) -> None:
        try:
            await self.ws.send(data, text=text)
        except ConnectionClosed:
            return

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


class _BatchTransport(_Transport):
    """A transport with ``send_many``: a batch of frames, one system call."""

    __slots__ = ()

    async def send_many(self, frames: list[tuple[bytes, bool]]) -> None:
        ws = self.ws
        try:
            async with ws.send_context():
                protocol = ws.protocol
                for data, text in frames:
                    if text:
                        protocol.send_text(data)
                    else:
                        protocol.send_binary(data)
                _write(ws, protocol.data_to_send())
        except ConnectionClosed:
            return


# The connection internals send_many() relies on (checked in websockets 13.0 and 17.4).
_BATCHES = hasattr(ServerConnection, "send_context") and hasattr(ServerConnection, "send_data")
if not _BATCHES:  # say so: a silent fallback would only show as a slower server
    warnings.warn(
        "rtcsignal.adapters.websockets: this websockets has no ServerConnection.send_context;"
        " frames go out one system call each (see docs/adapters.md)",
        RuntimeWarning,
        stacklevel=1,
    )


def _write(ws: ServerConnection, chunks: list[bytes]) -> None:
    """Write ``chunks`` as ``ServerConnection.send_data`` would, but all in one
    ``transport.write`` unless one is the end-of-stream marker (never while open)."""
    transport = ws.transport
    if all(chunks):
        transport.write(b"".join(chunks))
        return
    for chunk in chunks:  # websockets' own way, chunk by chunk, half-closing at the end
        if chunk:
            transport.write(chunk)
        elif transport.can_write_eof():
            with contextlib.suppress(Exception):
                transport.write_eof()
        else:
            transport.close()


def _request(ws: ServerConnection, request: Request) -> HandshakeRequest:
    remote = ws.remote_address
    address = str(remote[0]) if isinstance(remote, tuple) and remote else None
    return HandshakeRequest.build(request.path, request.headers.raw_items(), address)


def handler(runtime: Runtime) -> Callable[[ServerConnection], Any]:
    """The connection handler to pass to ``websockets.asyncio.server.serve`` yourself."""

    async def handle(ws: ServerConnection) -> None:
        assert ws.request is not None  # websockets sets it before calling the handler
        transport = _BatchTransport(ws) if _BATCHES else _Transport(ws)
        await runtime.serve(_request(ws, ws.request), transport)

    return handle


def serve(
    runtime: Runtime,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str = "/ws",
    routes: Mapping[str, Route] | None = None,
    compression: bool | None = None,
    **kwargs: Any,
) -> Server:
    """Create the server (use it as ``async with``).

    Args:
        runtime: the running :class:`~rtcsignal.runtime.Runtime`.
        host / port: where to listen (default: the runtime settings', unless a ``sock``
            is passed in ``kwargs``).
        path: where the WebSocket lives.
        routes: plain HTTP GET routes by path.
        compression: negotiate permessage-deflate; default ``settings.compression``
            (off: see ``docs/adapters.md`` for its measured cost).
        kwargs: passed on to ``websockets.asyncio.server.serve``.

    Returns:
        The ``websockets`` server (an async context manager).
    """
    settings = runtime.settings
    table = dict(routes or {})
    deflate = settings.compression if compression is None else compression

    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        target = HandshakeRequest.build(request.path, request.headers.raw_items(), None)
        if target.path == path and target.headers.get("upgrade", "").lower() == "websocket":
            return None
        route = table.get(target.path)
        if route is None:
            return ws.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        status, content_type, body = route(target)
        headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return Response(status, http.HTTPStatus(status).phrase, headers, body)

    kwargs.setdefault("ping_interval", None)  # the protocol has its own ping and timeout
    kwargs.setdefault("close_timeout", settings.close_timeout)
    if "sock" not in kwargs:
        host = settings.host if host is None else host
        port = settings.port if port is None else port
    return _serve(
        handler(runtime),
        host,
        port,
        compression="deflate" if deflate else None,
        max_size=runtime.max_frame_bytes,
        process_request=process_request,
        **kwargs,
    )
