"""The adapter conformance harness: every adapter served on loopback.

:func:`serve_adapter` starts a fresh runtime behind one adapter (websockets, starlette on uvicorn,
aiohttp, trio-websocket, the raw ASGI application on uvicorn, hypercorn and granian,
picows) on
``127.0.0.1`` port 0 in a background thread with its own
event loop, and yields a :class:`Served` with the URL, the runtime and a way to run a
coroutine in the server's loop. Tests talk to it with the ``websockets`` client library
directly (raw frames), so the suite is independent of any rtcsignal client.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from rtcsignal.auth import Authenticate, mint_token
from rtcsignal.core import NegotiationValidator, RoomPolicyHook, ServerConfig
from rtcsignal.ratelimit import RatePolicy
from rtcsignal.runtime import MemoryMetrics, Runtime, RuntimeSettings

SECRET = "conformance-secret-0123456789abcdef"
GOOD_ORIGIN = "http://good.example"
ADAPTERS = [
    "websockets",
    "starlette",
    "aiohttp",
    "trio",
    "asgi-uvicorn",
    "asgi-hypercorn",
    "asgi-granian",
    "channels-uvicorn",
    "picows",
]
MAX_CONNECTIONS_PER_USER = 3
STARTUP_TIMEOUT = 10.0
WAIT = 5.0  # seconds any single receive may wait on loopback before the test fails


def settings(**overrides: Any) -> RuntimeSettings:
    """The suite's settings: token auth, an origin allow-list, a small per-user limit."""
    base: dict[str, Any] = {
        "server": ServerConfig(),
        "rate": RatePolicy.from_dict(
            {"guards": {"max_connections_per_user": MAX_CONNECTIONS_PER_USER}}
        ),
        "auth_secret": SECRET,
        "origins": (GOOD_ORIGIN,),
        "shutdown_grace": 2.0,
        "close_timeout": 1.0,
    }
    base.update(overrides)
    return RuntimeSettings(**base)


def token(user: str, *, ttl: float = 300.0, **kwargs: Any) -> str:
    """A valid token for ``user``."""
    return mint_token(SECRET, user=user, ttl=ttl, now=time.time(), **kwargs)


class Served:
    """One adapter serving one runtime, in a background thread."""

    def __init__(self, adapter: str, runtime: Runtime, metrics: MemoryMetrics) -> None:
        self.adapter = adapter
        self.runtime = runtime
        self.metrics = metrics
        self.port = 0
        self.clients: list[Client] = []
        self._ready = threading.Event()
        self._stop: Callable[[], None] = lambda: None
        self._call: Callable[[Callable[[], Awaitable[Any]]], Any] = lambda fn: None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"serve-{adapter}", daemon=True)

    @property
    def url(self) -> str:
        """The WebSocket URL (without a token)."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn()`` in the server's event loop and return its result."""
        return self._call(fn)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            raise RuntimeError(f"{self.adapter} did not start")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        for client in self.clients:
            client.ws.close()
        self._stop()
        self._thread.join(STARTUP_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.adapter} did not stop")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            if self.adapter == "trio":
                import trio

                trio.run(self._trio)
            else:
                asyncio.run(self._asyncio())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def _listen(self) -> socket.socket:
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        return sock

    async def _asyncio(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        self._stop = lambda: loop.call_soon_threadsafe(stop.set)
        self._call = lambda fn: asyncio.run_coroutine_threadsafe(fn(), loop).result(WAIT * 2)
        if self.adapter == "websockets":
            from rtcsignal.adapters.websockets import serve

            async with self.runtime, serve(self.runtime, sock=self._listen()):
                self._ready.set()
                await stop.wait()
        elif self.adapter == "picows":
            from rtcsignal.adapters.picows import serve as serve_picows

            async with self.runtime, serve_picows(self.runtime, sock=self._listen()):
                self._ready.set()
                await stop.wait()
        elif self.adapter == "starlette":
            import uvicorn
            from starlette.applications import Starlette

            from rtcsignal.adapters.starlette import lifespan, route

            app = Starlette(routes=[route(self.runtime)], lifespan=lifespan(self.runtime))
            config = uvicorn.Config(
                app,
                ws="websockets-sansio",
                ws_per_message_deflate=False,
                ws_max_size=self.runtime.max_frame_bytes,
                lifespan="on",
                log_level="critical",
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve(sockets=[self._listen()]))
            while not server.started:
                await asyncio.sleep(0.01)
            self._ready.set()
            await stop.wait()
            server.should_exit = True
            await task
        elif self.adapter.startswith("asgi-"):
            from rtcsignal.adapters.asgi import application

            app = application(self.runtime)
            await getattr(self, f"_{self.adapter[5:]}")(app, stop)
        elif self.adapter == "channels-uvicorn":
            await self._channels(stop)
        else:
            from aiohttp import web

            from rtcsignal.adapters.aiohttp import setup

            app = web.Application()
            setup(app, self.runtime)
            runner = web.AppRunner(app, handle_signals=False)
            await runner.setup()
            await web.SockSite(runner, self._listen()).start()
            self._ready.set()
            await stop.wait()
            await runner.cleanup()

    async def _uvicorn(self, app: Any, stop: asyncio.Event) -> None:
        """uvicorn with the documented settings: its own frame limit at the runtime's,
        permessage-deflate off, the runtime run by the lifespan protocol."""
        import uvicorn

        config = uvicorn.Config(
            app,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            ws_max_size=self.runtime.max_frame_bytes,
            lifespan="on",
            log_level="critical",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[self._listen()]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        await stop.wait()
        server.should_exit = True
        await task

    async def _hypercorn(self, app: Any, stop: asyncio.Event) -> None:
        """hypercorn with its default 16 MiB frame limit: the adapter's own limit
        refuses a frame over ``runtime.max_frame_bytes`` with 1009."""
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        sock = self._listen()
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]
        config.graceful_timeout = 1.0
        config.loglevel = "CRITICAL"
        task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
        while not self.runtime.running and not task.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        await task

    async def _granian(self, app: Any, stop: asyncio.Event) -> None:
        """granian's embedded server (the Rust server in this event loop): no frame
        limit or compression setting of its own."""
        from granian.constants import Interfaces
        from granian.server.embed import Server

        # granian binds with SO_REUSEPORT: a socket bound (not listening) to a free port
        # reserves that port for it, with no window for another process to take it.
        with socket.socket() as reserved:
            reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reserved.bind(("127.0.0.1", 0))
            self.port = reserved.getsockname()[1]
            server = Server(
                app,
                address="127.0.0.1",
                port=self.port,
                interface=Interfaces.ASGI,
                log_enabled=False,
            )
            task = asyncio.create_task(server.serve())
            # granian runs the lifespan startup first, then starts listening
            for _ in range(int(STARTUP_TIMEOUT / 0.01)):
                if task.done() or await _accepts(self.port):
                    break
                await asyncio.sleep(0.01)
            self._ready.set()
            await stop.wait()
            server.stop()
            await task

    async def _channels(self, stop: asyncio.Event) -> None:
        """The Channels consumer behind ``URLRouter`` on uvicorn, with no lifespan (as
        under Daphne): the adapter starts the runtime on the first connection."""
        import uvicorn

        django_settings()
        from channels.routing import ProtocolTypeRouter, URLRouter

        from rtcsignal.adapters.channels import rtcsignal_urlpatterns
        from rtcsignal.adapters.channels import stop as stop_runtime

        app = ProtocolTypeRouter(
            {"websocket": URLRouter(rtcsignal_urlpatterns(self.runtime, path="ws"))}
        )
        config = uvicorn.Config(
            app,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            ws_max_size=self.runtime.max_frame_bytes,
            lifespan="off",
            log_level="critical",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[self._listen()]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        await stop.wait()
        server.should_exit = True
        await task
        await stop_runtime(self.runtime)

    async def _trio(self) -> None:
        import trio

        from rtcsignal.adapters.trio import serve

        token = trio.lowlevel.current_trio_token()
        async with self.runtime, trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve(
                    self.runtime, host="127.0.0.1", port=0, task_status=task_status
                )
            )
            self.port = server.port
            self._stop = lambda: trio.from_thread.run_sync(
                nursery.cancel_scope.cancel, trio_token=token
            )
            self._call = lambda fn: trio.from_thread.run(fn, trio_token=token)
            self._ready.set()


def django_settings() -> None:
    """Configure Django once per process (the Channels adapter imports its settings)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(INSTALLED_APPS=[], ALLOWED_HOSTS=["127.0.0.1"], USE_TZ=True)
        django.setup()


async def _accepts(port: int) -> bool:
    """Whether something listens on loopback ``port``."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


def serve_adapter(
    adapter: str,
    runtime_settings: RuntimeSettings | None = None,
    validator: NegotiationValidator | None = None,
    authenticate: Authenticate | None = None,
    room_policy: RoomPolicyHook | None = None,
) -> Served:
    """Start ``adapter`` with a fresh runtime (stop it with :meth:`Served.stop`)."""
    metrics = MemoryMetrics()
    runtime = Runtime(
        runtime_settings or settings(),
        metrics=metrics,
        validator=validator,
        authenticate=authenticate,
        room_policy=room_policy,
    )
    served = Served(adapter, runtime, metrics)
    served.start()
    return served


class Client:
    """A raw-frame test client (JSON text frames)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next = 0

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        """Send a dict as JSON text, or a raw str/bytes frame."""
        self.ws.send(json.dumps(message) if isinstance(message, dict) else message)

    def recv(self) -> Any:
        """The next frame, decoded from JSON when it is text."""
        data = self.ws.recv(timeout=WAIT)
        return json.loads(data) if isinstance(data, str) else data

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send with a fresh id and return the reply to it (events before it are kept)."""
        self._next += 1
        rid = self._next
        self.send({**message, "id": rid})
        self.pending: list[dict[str, Any]] = getattr(self, "pending", [])
        while True:
            frame = self.recv()
            if frame.get("id") == rid and frame["type"] in ("ok", "error", "welcome", "pong"):
                return dict(frame)
            self.pending.append(frame)

    def expect(self, type_: str) -> dict[str, Any]:
        """The next message of ``type_`` (earlier ones of other types are kept)."""
        self.pending = getattr(self, "pending", [])
        for i, frame in enumerate(self.pending):
            if frame["type"] == type_:
                return dict(self.pending.pop(i))
        while True:
            frame = self.recv()
            if frame["type"] == type_:
                return dict(frame)
            self.pending.append(frame)

    def closed(self) -> tuple[int, str]:
        """Read until the server closes; return its close code and reason."""
        try:
            while True:
                self.ws.recv(timeout=WAIT)
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                raise AssertionError(f"no close frame received: {exc!r}") from None
            return exc.rcvd.code, exc.rcvd.reason

    def close(self) -> None:
        self.ws.close()


def open_client(
    served: Served, user: str | None = "alice", *, origin: str | None = GOOD_ORIGIN, **kw: Any
) -> Client:
    """Connect to ``served`` as ``user`` (``None``: no token)."""
    url = served.url if user is None else f"{served.url}?token={token(user, **kw)}"
    client = Client(
        connect(
            url,
            origin=origin,  # type: ignore[arg-type]
            compression=None,
            open_timeout=WAIT,
            close_timeout=1,
            max_size=None,
            legacy=True,  # a plain connection object; Served.stop closes it
        )
    )
    served.clients.append(client)
    return client


def hello(client: Client, **extra: Any) -> dict[str, Any]:
    """Complete the handshake; return the welcome."""
    reply = client.request({"type": "hello", "version": 1, **extra})
    assert reply["type"] == "welcome", reply
    return reply


@pytest.fixture(params=ADAPTERS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """Each adapter in turn, freshly started (a conftest imports it to offer it)."""
    server = serve_adapter(request.param)
    yield server
    server.stop()
