"""The raw ASGI 3 adapter: no framework, only the ASGI specification.

Example (any ASGI server: uvicorn, hypercorn, granian)::

    from rtcsignal.adapters.asgi import application
    from rtcsignal.runtime import Runtime, RuntimeSettings

    app = application(Runtime(RuntimeSettings(auth_secret=SECRET)), path="/ws")
    # uvicorn module:app --ws-max-size 131072 --ws-per-message-deflate false

Three ASGI applications, one module:

* :func:`application`: a path dispatcher for a whole server. The WebSocket at ``path``;
  plain HTTP ``GET`` routes (``routes``, as in the ``websockets`` adapter); every other
  request to ``fallback`` (a Django, Quart or any ASGI application) or 404; and the
  ``lifespan`` protocol, which runs the runtime (``startup`` enters it, ``shutdown``
  exits it: going_away + 1001 to whoever is still connected) and is passed on to
  ``fallback`` too.
* :func:`endpoint`: the WebSocket alone, for a framework that routes to mounted ASGI
  applications itself (Starlette ``Mount``, Litestar ``asgi(is_mount=True)``). The
  framework's lifespan must then run the runtime (``async with runtime:``).
* :func:`lifespan`: the lifespan protocol alone (Channels' ``ProtocolTypeRouter``).

The adapter is as thin as the others: the upgrade request becomes a
:class:`~rtcsignal.auth.HandshakeRequest` (``Origin``, ``Sec-WebSocket-Protocol`` and
every other header reach the origin check and the ``authenticate`` hook), the socket is
accepted without a subprotocol, and frames move between the ASGI events and
:meth:`Runtime.serve <rtcsignal.runtime.Runtime.serve>`. Frame size and
permessage-deflate are the ASGI server's settings (``docs/adapters.md`` lists them per
server); whatever the server's limit, a frame over ``runtime.max_frame_bytes`` is
refused here with 1009.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

import anyio

from rtcsignal.runtime import HandshakeRequest, Runtime

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Route",
    "Scope",
    "Send",
    "application",
    "endpoint",
    "handshake_request",
    "lifespan",
    "serve_websocket",
]

logger: Final = logging.getLogger("rtcsignal")

Scope = MutableMapping[str, Any]
"""An ASGI connection scope."""
Message = MutableMapping[str, Any]
"""An ASGI event."""
Receive = Callable[[], Awaitable[Message]]
"""The ASGI ``receive`` callable."""
Send = Callable[[Message], Awaitable[None]]
"""The ASGI ``send`` callable."""
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application."""
Route = Callable[[HandshakeRequest], tuple[int, str, bytes]]
"""A plain HTTP route: returns ``(status, content type, body)``."""

MESSAGE_TOO_BIG: Final = 1009
"""RFC 6455 §7.4.1: a frame too big to process."""
_NORMAL: Final = 1000
"""RFC 6455 §7.4.1: normal closure."""
_APPLICATION_CODES: Final = (3000, 4999)
"""RFC 6455 §7.4.2: registered (3000-3999) and private (4000-4999) close codes."""
_UTF8_MAX: Final = 4
"""Bytes per character at most in UTF-8 (RFC 3629 §3)."""
# What ASGI servers raise for I/O on a socket that is gone: uvicorn ClientDisconnected
# (an OSError); RuntimeError from servers that refuse events after the end. Hypercorn
# 0.18, granian 2.8 and Daphne 4.2 return quietly (checked).
_GONE: Final = (OSError, RuntimeError)


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    path: str = scope.get("path", "/")
    return path + (f"?{query}" if query else "")


def handshake_request(scope: Scope) -> HandshakeRequest:
    """The runtime's view of an ASGI ``http`` or ``websocket`` scope (path and query,
    headers, peer address)."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]
    client = scope.get("client")
    return HandshakeRequest.build(_target(scope), headers, str(client[0]) if client else None)


def _route_path(scope: Scope) -> str:
    """The path below the mount point: ASGI servers and frameworks put the mount point
    both in ``root_path`` and at the start of ``path``."""
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class _Transport:
    """The runtime's transport over one accepted ASGI WebSocket."""

    __slots__ = ("closed", "limit", "receive", "send_event")

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self.receive = receive
        self.send_event = send
        self.limit = limit
        self.closed = False  # a close was sent or the peer is gone

    async def recv(self) -> str | bytes | None:
        try:
            message = await self.receive()
        except _GONE:
            message = {"type": "websocket.disconnect"}
        if message["type"] != "websocket.receive":
            self.closed = True  # websocket.disconnect: the peer closed or the server did
            return None
        text: str | None = message.get("text")
        data: str | bytes = text if text is not None else (message.get("bytes") or b"")
        # A text frame's UTF-8 size is at most 4 bytes per character: encode only when
        # that bound passes the limit (frames of a quarter of the limit or more).
        size = len(data)
        if isinstance(data, str) and size * _UTF8_MAX > self.limit:
            size = len(data.encode())
        if size > self.limit:
            await self.close(MESSAGE_TOO_BIG, f"frame over {self.limit} bytes")
            return None
        return data

    async def send(self, data: bytes, text: bool) -> None:
        if self.closed:
            return
        event = (
            {"type": "websocket.send", "text": data.decode()}
            if text
            else {"type": "websocket.send", "bytes": data}
        )
        try:
            await self.send_event(event)
        except _GONE:
            self.closed = True

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        # int(): the runtime's codes are IntEnum members, and Daphne (autobahn)
        # refuses anything but a plain int.
        event = {"type": "websocket.close", "code": int(code), "reason": reason}
        try:
            await self.send_event(event)
        except _GONE:
            return
        except Exception:
            # Daphne's autobahn lets an application send only 1000 and 3000-4999; the
            # RFC 6455 codes (1001 going away, 1008, 1009, 1011) then become 1000, after
            # the typed error or going_away frame that already said why.
            if code == _NORMAL or _APPLICATION_CODES[0] <= code <= _APPLICATION_CODES[1]:
                raise
            logger.debug("the ASGI server refused close code %d; closing with 1000", code)
            event["code"] = _NORMAL
            try:
                await self.send_event(event)
            except _GONE:
                return


async def serve_websocket(runtime: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ASGI ``websocket`` scope with ``runtime`` until it closes: wait for
    ``websocket.connect``, accept, then :meth:`Runtime.serve`. Refusals (origin,
    authentication, limits, shutdown) are close frames after the accept, as with every
    adapter, so the client sees the code and the reason."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # websocket.disconnect: gone before the handshake finished
    request = handshake_request(scope)
    try:
        await send({"type": "websocket.accept"})
    except _GONE:
        return
    await runtime.serve(request, _Transport(receive, send, runtime.max_frame_bytes))


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Lifespan:
    """The lifespan protocol: ``startup`` enters the runtime, ``shutdown`` exits it.

    With ``inner``, the same events are passed on to that application (in a task of its
    own, as a server would run it) after the runtime started and before it stops; an
    application that raises before answering ``startup`` does not speak lifespan
    (Django's ASGI handler, for one): that is not a failure, as in uvicorn's and
    hypercorn's default mode.
    """

    __slots__ = ("inner", "runtime")

    def __init__(self, runtime: Runtime, inner: ASGIApp | None) -> None:
        self.runtime = runtime
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "lifespan.startup":
            return
        started = False
        failed: str | None = None
        inner = _Inner(self.inner, scope) if self.inner is not None else None
        try:
            async with self.runtime, anyio.create_task_group() as tg:
                if inner is not None:
                    tg.start_soon(inner.run)
                    failed = await inner.ask("startup")
                if failed is None:
                    await send({"type": "lifespan.startup.complete"})
                    started = True
                    while (await receive())["type"] != "lifespan.shutdown":
                        pass
                    if inner is not None:
                        failed = await inner.ask("shutdown")
                tg.cancel_scope.cancel()  # an inner application that did not return
        except Exception as exc:
            logger.exception("lifespan failed", extra={"event": "lifespan_error"})
            failed = repr(exc)
        finally:
            if inner is not None:
                inner.close()
        kind = "shutdown" if started else "startup"
        if failed is None:
            await send({"type": f"lifespan.{kind}.complete"})
        else:
            await send({"type": f"lifespan.{kind}.failed", "message": failed})


class _Inner:
    """An inner application's lifespan, driven by :class:`_Lifespan`."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self.app = app
        self.scope = scope
        self.events, self._events = anyio.create_memory_object_stream[Message](1)
        self._replies, self.replies = anyio.create_memory_object_stream[Message](1)

    async def run(self) -> None:
        try:
            await self.app(self.scope, self._events.receive, self._replies.send)
        except Exception:
            logger.debug("the inner application does not speak lifespan", exc_info=True)
        finally:
            self._replies.close()

    async def ask(self, kind: str) -> str | None:
        """Send ``lifespan.<kind>``; the failure message, or ``None`` when it completed
        (or the application does not speak lifespan)."""
        try:
            # One event at a time, each answered before the next: a full buffer means
            # the application never read the last one (it does not speak lifespan).
            self.events.send_nowait({"type": f"lifespan.{kind}"})
            reply = await self.replies.receive()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.BrokenResourceError):
            return None  # it raised or returned instead of answering
        if reply["type"] == f"lifespan.{kind}.failed":
            return str(reply.get("message", ""))
        return None

    def close(self) -> None:
        for stream in (self.events, self._events, self._replies, self.replies):
            stream.close()


def lifespan(runtime: Runtime, inner: ASGIApp | None = None) -> ASGIApp:
    """An ASGI application for the ``lifespan`` scope only: ``startup`` enters
    ``runtime``, ``shutdown`` exits it (graceful: going_away + 1001); with ``inner``,
    the events are passed on to it as well.

    Raises (to the server, for any other scope): ``ValueError``.
    """
    handle = _Lifespan(runtime, inner)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            raise ValueError(f"rtcsignal lifespan cannot serve a {scope['type']!r} scope")
        await handle(scope, receive, send)

    return app


def endpoint(runtime: Runtime) -> ASGIApp:
    """The WebSocket endpoint on any path it is mounted at; ``http`` requests get
    426 Upgrade Required; a ``lifespan`` scope runs the runtime (as :func:`lifespan`)."""
    handle = _Lifespan(runtime, None)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await serve_websocket(runtime, scope, receive, send)
        elif kind == "http":
            await _respond(send, 426, "text/plain; charset=utf-8", b"WebSocket only\n")
        elif kind == "lifespan":
            await handle(scope, receive, send)

    return app


def application(
    runtime: Runtime,
    *,
    path: str = "/ws",
    routes: Mapping[str, Route] | None = None,
    fallback: ASGIApp | None = None,
    lifespan: bool = True,
) -> ASGIApp:
    """The ASGI application for a whole server (or in front of another application).

    Args:
        runtime: the :class:`~rtcsignal.runtime.Runtime` to serve.
        path: where the WebSocket lives (below the mount point, ``root_path``).
        routes: plain HTTP ``GET``/``HEAD`` routes by path (health checks, a demo page).
        fallback: the application for every other request (WebSockets on other paths
            included); without one, they get 404 (a WebSocket: 403, the ASGI
            "closed before accept").
        lifespan: run the runtime on the ``lifespan`` protocol (and pass the events on
            to ``fallback``). ``False``: the ``lifespan`` scope goes to ``fallback``
            untouched, and something else must run the runtime.

    Returns:
        An ASGI 3 application.
    """
    table = dict(routes or {})
    handle = _Lifespan(runtime, fallback)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" and _route_path(scope) == path:
            await serve_websocket(runtime, scope, receive, send)
            return
        if kind == "http" and scope.get("method") in ("GET", "HEAD"):
            route = table.get(_route_path(scope))
            if route is not None:
                status, content_type, body = route(handshake_request(scope))
                await _respond(send, status, content_type, body)
                return
        if kind == "lifespan" and lifespan:
            await handle(scope, receive, send)
        elif fallback is not None:
            await fallback(scope, receive, send)
        elif kind == "http":
            await _respond(send, 404, "text/plain; charset=utf-8", b"not found\n")
        elif kind == "websocket":
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1000, "reason": ""})
        elif kind == "lifespan":
            await _answer_lifespan(receive, send)

    return app


async def _answer_lifespan(receive: Receive, send: Send) -> None:
    """Complete the lifespan protocol doing nothing (``lifespan=False`` and no
    ``fallback``: the application that runs the runtime is elsewhere)."""
    while True:
        kind = (await receive())["type"]
        await send({"type": f"{kind}.complete"})
        if kind == "lifespan.shutdown":
            return
