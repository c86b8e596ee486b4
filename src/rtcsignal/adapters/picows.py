"""The ``picows`` adapter: the fastest path (``picows``, a Cython WebSocket, on asyncio).

Example::

    from rtcsignal.adapters.picows import serve
    from rtcsignal.runtime import Runtime, RuntimeSettings

    async with Runtime(RuntimeSettings(auth_secret=SECRET)) as runtime:
        async with serve(runtime, host="127.0.0.1", port=8080) as server:
            await server.serve_forever()

Run it on uvloop where the platform has it (``python -m rtcsignal serve --fast`` does;
``pip install 'rtcsignal[fast]'`` brings both). The WebSocket lives at ``path``; plain
HTTP ``GET`` requests to a path in ``routes`` are answered by that route; anything else
is 404.

picows is callback-driven: frames arrive in ``WSListener.on_ws_frame``. The listener puts
each message on a small per-connection queue that the runtime's reader awaits; over
:data:`READ_QUEUE_FRAMES` queued messages it pauses reading from the socket (the
standard ``asyncio`` transport's ``pause_reading``) until the reader catches up, so a
fast sender cannot grow memory. Fragmented messages are reassembled, up to
``runtime.max_frame_bytes`` in all (over it: close 1009, as a single oversize frame).

Writing: a batch from the runtime's writer is framed here (RFC 6455 §5.2: a server's
frames are unmasked, so a frame is a two-to-ten-byte header and the payload) and written
with one ``write`` on picows's public ``underlying_transport``: no private internals of
picows or any other library. picows never negotiates permessage-deflate, so frames
carry no extension bits, and ``compression`` is refused. While the socket's buffer is
over its high-water mark (``pause_writing``) the writer waits for ``resume_writing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from rtcsignal.runtime import HandshakeRequest, Runtime

__all__ = ["READ_BUFFER_BYTES", "READ_QUEUE_FRAMES", "Route", "frame", "serve"]

Route = Callable[[HandshakeRequest], tuple[int, str, bytes]]
"""A plain HTTP route: returns ``(status, content type, body)``."""

READ_QUEUE_FRAMES: Final = 64
"""Messages a connection may have waiting for the runtime's reader before the adapter
stops reading its socket: the reader hands each to the core without awaiting, so a
queue this long only builds up when the event loop is saturated, and 64 small frames
is a few KiB per connection at most."""

READ_BUFFER_BYTES: Final = 1024
"""Each connection's initial read buffer (picows grows it for larger frames; its default
is 16 KiB). A candidate is ~200 bytes: at 1 KiB an idle connection costs about 24 KiB
of server memory in all instead of about 38 KiB (1,000 connections, measured with
``benchmarks/relay``). Passing ``use_aiofastnet=False`` saves about 5 KiB more at about
10% more CPU per message."""

_TEXT: Final = 0x81  # FIN + opcode 1 (RFC 6455 §5.2)
_BINARY: Final = 0x82  # FIN + opcode 2
_SHORT: Final = struct.Struct("!BB")
_MEDIUM: Final = struct.Struct("!BBH")
_LONG: Final = struct.Struct("!BBQ")


def frame(data: bytes, text: bool) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 §5.2) carrying ``data``."""
    first = _TEXT if text else _BINARY
    size = len(data)
    if size < 126:
        return _SHORT.pack(first, size) + data
    if size < 65536:
        return _MEDIUM.pack(first, 126, size) + data
    return _LONG.pack(first, 127, size) + data


def _close_code(code: int) -> WSCloseCode:
    # picows types close codes as its enum; application codes (4000-4999) are not
    # members, and Cython's enum accepts the plain integer.
    return code  # type: ignore[return-value]


class _Connection(WSListener):
    """One WebSocket: picows's listener and the runtime's transport in one object."""

    def __init__(
        self,
        runtime: Runtime,
        path: str,
        headers: list[tuple[str, str]],
        tasks: set[asyncio.Task[None]],
    ) -> None:
        super().__init__()
        self._runtime = runtime
        self._path = path
        self._headers = headers
        self._tasks = tasks
        self._limit = runtime.max_frame_bytes
        self._inbox: deque[str | bytes | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Event | None = None  # set while the socket's buffer is over
        self._disconnected: asyncio.Event = asyncio.Event()
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._parts_text = False
        self._paused_reading = False
        self._done = False  # no more frames will arrive
        self.ws: WSTransport | None = None

    # ------------------------------------------------------------- picows side
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport
        peer = transport.underlying_transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else None
        request = HandshakeRequest.build(self._path, self._headers, address)
        task = asyncio.get_running_loop().create_task(self._runtime.serve(request, self))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if frame.fin and not self._parts:
                self._message(transport, frame.get_payload_as_bytes(), kind is WSMsgType.TEXT)
                return
            if self._parts:  # RFC 6455 §5.4: no new message inside a fragmented one
                self._fail(transport, WSCloseCode.PROTOCOL_ERROR, "expected a continuation")
                return
            self._parts_text = kind is WSMsgType.TEXT
            self._part(transport, frame)
        elif kind is WSMsgType.CONTINUATION:
            if not self._parts:
                self._fail(transport, WSCloseCode.PROTOCOL_ERROR, "unexpected continuation")
                return
            self._part(transport, frame)
        elif kind is WSMsgType.CLOSE:
            # RFC 6455 §5.5.1: echo the close (unless ours went first), then hang up
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            self._end()
        # PING is answered by picows (enable_auto_pong); a PONG needs nothing

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._end()
        self._disconnected.set()
        if self._writable is not None:
            self._writable.set()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.Event()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None:
            writable.set()

    def _part(self, transport: WSTransport, frame: WSFrame) -> None:
        self._parts_size += frame.payload_size
        if self._parts_size > self._limit:
            self._fail(transport, WSCloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        self._parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            data = b"".join(self._parts)
            self._parts.clear()
            self._parts_size = 0
            self._message(transport, data, self._parts_text)

    def _message(self, transport: WSTransport, data: bytes, text: bool) -> None:
        if self._done:
            return
        if text:
            try:
                message: str | bytes = data.decode()
            except UnicodeDecodeError:  # RFC 6455 §8.1
                self._fail(transport, WSCloseCode.INVALID_TEXT, "invalid UTF-8")
                return
        else:
            message = data
        self._inbox.append(message)
        if len(self._inbox) >= READ_QUEUE_FRAMES and not self._paused_reading:
            self._paused_reading = True
            transport.underlying_transport.pause_reading()
        self._wake()

    def _fail(self, transport: WSTransport, code: WSCloseCode, reason: str) -> None:
        if not transport.is_close_frame_sent:
            transport.send_close(code, reason.encode())
        transport.disconnect()
        self._end()

    def _end(self) -> None:
        if not self._done:
            self._done = True
            self._inbox.append(None)
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------ runtime side
    async def recv(self) -> str | bytes | None:
        inbox = self._inbox
        while not inbox:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = inbox.popleft()
        if message is None:
            inbox.append(None)  # closed stays closed
        elif self._paused_reading and len(inbox) < READ_QUEUE_FRAMES // 2:
            self._paused_reading = False
            ws = self.ws
            if ws is not None and not ws.is_disconnected:
                ws.underlying_transport.resume_reading()
        return message

    async def send(self, data: bytes, text: bool) -> None:
        await self.send_many([(data, text)])

    async def send_many(self, frames: list[tuple[bytes, bool]]) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            return
        if len(frames) == 1:
            data, text = frames[0]
            ws.underlying_transport.write(frame(data, text))
        else:
            ws.underlying_transport.write(b"".join([frame(d, t) for d, t in frames]))
        writable = self._writable
        if writable is not None:
            await writable.wait()

    async def close(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected:
            return
        if not ws.is_close_frame_sent:
            ws.send_close(_close_code(code), reason.encode())
        # RFC 6455 §7.1.1: wait for the peer's close, then hang up regardless
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._disconnected.wait(), self._runtime.settings.close_timeout)
        if not ws.is_disconnected:
            ws.disconnect(graceful=False)


def _http_response(status: int, content_type: str, body: bytes) -> WSUpgradeResponse:
    headers = {"Content-Type": content_type}
    response: WSUpgradeResponse
    if status < 400:
        response = WSUpgradeResponse.create_ok_response(body, headers)
        response.status = http.HTTPStatus(status)
    else:
        response = WSUpgradeResponse.create_error_response(status, body, headers)
    return response


@contextlib.asynccontextmanager
async def serve(
    runtime: Runtime,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str = "/ws",
    routes: Mapping[str, Route] | None = None,
    compression: bool | None = None,
    **kwargs: Any,
) -> AsyncIterator[asyncio.Server]:
    """Listen and serve for the duration of the ``async with`` block.

    Args:
        runtime: the running :class:`~rtcsignal.runtime.Runtime`.
        host / port: where to listen (default: the runtime settings', unless a ``sock``
            is passed in ``kwargs``).
        path: where the WebSocket lives.
        routes: plain HTTP GET routes by path.
        compression: must be false or unset (picows has no permessage-deflate); with
            ``settings.compression`` on, ``ValueError``.
        kwargs: passed on to ``picows.ws_create_server`` (and from it to
            ``loop.create_server``).

    Yields:
        The listening ``asyncio.Server``. On exit the listener closes and every
        connection still open is dropped.

    Raises:
        ValueError: compression was asked for.
    """
    settings = runtime.settings
    if settings.compression if compression is None else compression:
        raise ValueError("the picows adapter has no permessage-deflate: set compression off")
    table = dict(routes or {})
    tasks: set[asyncio.Task[None]] = set()
    connections: list[_Connection] = []

    def factory(request: WSUpgradeRequest) -> Any:
        raw_path = request.path.decode("latin-1")
        headers = list(request.headers.items())
        target = HandshakeRequest.build(raw_path, headers, None)
        if target.path == path and target.headers.get("upgrade", "").lower() == "websocket":
            connection = _Connection(runtime, raw_path, headers, tasks)
            connections.append(connection)
            if len(connections) > 1024:  # keep the list of live ones short
                connections[:] = [c for c in connections if not c._done]
            return connection
        route = table.get(target.path)
        if route is None:
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(404, b"not found\n"), None
            )
        status, content_type, body = route(target)
        return WSUpgradeResponseWithListener(_http_response(status, content_type, body), None)

    if "sock" not in kwargs:
        host = settings.host if host is None else host
        port = settings.port if port is None else port
    kwargs.setdefault("read_buffer_init_size", READ_BUFFER_BYTES)
    server = await ws_create_server(
        factory,
        host,
        port,
        max_frame_size=runtime.max_frame_bytes,
        enable_auto_ping=False,  # the protocol has its own ping and timeout
        enable_auto_pong=True,
        **kwargs,
    )
    try:
        yield server
    finally:
        server.close()
        for connection in connections:
            ws = connection.ws
            if ws is not None and not ws.is_disconnected:
                ws.disconnect(graceful=False)
        if tasks:
            await asyncio.wait(list(tasks), timeout=settings.close_timeout + 1)
        await server.wait_closed()
