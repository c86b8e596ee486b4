"""A WebSocket client over anyio sockets and wsproto (runs on asyncio and trio).

wsproto is a sans-I/O implementation of RFC 6455, so the client runs wherever anyio
does. Only what a signaling client needs: one connection, text and binary messages, ping
replies, close codes, a bound on the size of one incoming message.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

__all__ = ["Closed", "HandshakeRejected", "Transport", "WebSocket", "open_websocket"]

_READ = 65_536
_NO_STATUS = 1005
_ABNORMAL = 1006
_TOO_BIG = 1009


class Closed(Exception):
    """The WebSocket is closed (by either side, or the network). ``code`` follows RFC
    6455: 1006 when the connection dropped without a close frame."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class HandshakeRejected(Exception):
    """The server answered the WebSocket upgrade with an HTTP status instead."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status}")
        self.status = status
        self.body = body


class Transport(Protocol):
    """What the client needs from a WebSocket; plug your own in with
    ``connect(..., transport=...)``."""

    async def send(self, data: str | bytes) -> None:
        """Send one message: ``str`` as a text frame, ``bytes`` as a binary frame."""

    async def receive(self) -> str | bytes:
        """The next message; raises :class:`Closed` once the connection is closed."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close (idempotent; never raises)."""


class WebSocket:
    """One client WebSocket connection (see :func:`open_websocket`)."""

    def __init__(self, stream: anyio.abc.ByteStream, ws: WSConnection, max_message: int) -> None:
        self._stream = stream
        self._ws = ws
        self._max = max_message
        self._parts: list[str | bytes] = []
        self._size = 0
        self._inbox: list[str | bytes] = []
        self._closed: Closed | None = None
        self._send_lock = anyio.Lock()

    async def send(self, data: str | bytes) -> None:
        if self._closed is not None:
            raise self._closed
        event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        await self._write(self._ws.send(event))

    async def receive(self) -> str | bytes:
        while not self._inbox:
            if self._closed is not None:
                raise self._closed
            await self._pump()
        return self._inbox.pop(0)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is None:
            self._closed = Closed(code, reason)
            if self._ws.state is ConnectionState.OPEN:
                with contextlib.suppress(Exception):  # the peer may be gone already
                    await self._write(self._ws.send(CloseConnection(code=code, reason=reason)))
        await self._stream.aclose()

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        async with self._send_lock:
            try:
                await self._stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self._lost(str(exc))
                raise self._closed from None  # type: ignore[misc]

    def _lost(self, reason: str) -> None:
        if self._closed is None:
            self._closed = Closed(_ABNORMAL, reason or "connection lost")

    async def _pump(self) -> None:
        try:
            data = await self._stream.receive(_READ)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._lost("connection lost")
            return
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                await self._handle(event)
        except (LocalProtocolError, RemoteProtocolError) as exc:
            self._lost(f"protocol error: {exc}")
            await self._stream.aclose()

    async def _handle(self, event: object) -> None:
        if isinstance(event, TextMessage | BytesMessage):
            self._size += len(event.data)
            if self._size > self._max:
                await self.close(_TOO_BIG, "message too big")
                return
            self._parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
            if event.message_finished:
                parts, self._parts, self._size = self._parts, [], 0
                if isinstance(event, TextMessage):
                    self._inbox.append("".join(p for p in parts if isinstance(p, str)))
                else:
                    self._inbox.append(b"".join(p for p in parts if isinstance(p, bytes)))
        elif isinstance(event, Ping):
            await self._write(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            code = event.code if event.code else _NO_STATUS
            if self._ws.state is ConnectionState.REMOTE_CLOSING:
                with contextlib.suppress(Closed):
                    await self._write(self._ws.send(event.response()))
            self._closed = Closed(code, event.reason or "")
            await self._stream.aclose()


def _split(url: str) -> tuple[bool, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return secure, parts.hostname, port, target


async def open_websocket(
    url: str,
    *,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
    max_message: int = 1 << 20,
) -> WebSocket:
    """Open a client WebSocket to ``url`` (``ws://`` or ``wss://``).

    Raises:
        OSError: the TCP (or TLS) connection failed.
        HandshakeRejected: the server refused the upgrade with an HTTP status.
        Closed: the connection closed during the handshake.
        ValueError: ``url`` is not a WebSocket URL.
    """
    secure, host, port, target = _split(url)
    if secure:
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(
            host,
            port,
            ssl_context=ssl_context or ssl.create_default_context(),
            tls_hostname=host,
            tls_standard_compatible=False,
        )
    else:
        stream = await anyio.connect_tcp(host, port)
    items = headers.items() if isinstance(headers, Mapping) else headers
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]
    ws = WSConnection(ConnectionType.CLIENT)
    try:
        authority = host if port in (80, 443) else f"{host}:{port}"
        await stream.send(ws.send(Request(host=authority, target=target, extra_headers=extra)))
        status: int | None = None
        body = bytearray()
        while True:
            data = await stream.receive(_READ)
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    sock = WebSocket(stream, ws, max_message)
                    for later in ws.events():  # frames that came with the 101 response
                        await sock._handle(later)
                    return sock
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise HandshakeRejected(status)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished and status is not None:
                        raise HandshakeRejected(status, bytes(body))
    except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
        await stream.aclose()
        raise Closed(_ABNORMAL, "connection closed during the handshake") from exc
    except BaseException:
        await stream.aclose()
        raise
