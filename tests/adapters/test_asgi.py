"""The raw ASGI adapter beyond the conformance suite: its HTTP side, mounting behind
another application, the lifespan protocol, and each server's compression, on real
servers over loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from harness_adapters import (
    WAIT,
    Client,
    Served,
    hello,
    open_client,
    serve_adapter,
    settings,
    token,
)
from rtcsignal.adapters.asgi import ASGIApp, application, endpoint
from rtcsignal.core import Identity
from rtcsignal.runtime import HandshakeRequest, Runtime


@contextmanager
def uvicorn_serving(app: ASGIApp) -> Iterator[tuple[int, list[BaseException]]]:
    """Run ``app`` under uvicorn (lifespan on) in a thread; yield its port and the
    errors the server raised (a failed startup exits it)."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="critical", ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []
    done = threading.Event()

    def main() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # SystemExit on a failed lifespan startup
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    for _ in range(int(WAIT / 0.01)):
        if server.started or done.is_set():
            break
        done.wait(0.01)
    try:
        yield port, errors
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
        assert not thread.is_alive()


def runtime() -> Runtime:
    return Runtime(settings())


def ws_url(port: int, path: str, user: str = "alice") -> str:
    return f"ws://127.0.0.1:{port}{path}?token={token(user)}"


def welcome_at(url: str) -> dict[str, Any]:
    with connect(url, origin="http://good.example", open_timeout=WAIT) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
        return dict(json.loads(ws.recv(timeout=WAIT)))


def test_http_routes_404_and_other_websocket_paths() -> None:
    rt = runtime()

    def healthz(request: HandshakeRequest) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps({"q": request.query.get("q")}).encode()

    with uvicorn_serving(application(rt, path="/ws", routes={"/healthz": healthz})) as (port, _):
        base = f"http://127.0.0.1:{port}"
        reply = httpx.get(f"{base}/healthz?q=1", timeout=WAIT)
        assert (reply.status_code, reply.json()) == (200, {"q": "1"})
        assert reply.headers["content-type"] == "application/json"
        assert httpx.head(f"{base}/healthz", timeout=WAIT).status_code == 200
        assert httpx.post(f"{base}/healthz", timeout=WAIT).status_code == 404
        assert httpx.get(f"{base}/elsewhere", timeout=WAIT).status_code == 404
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}/other", open_timeout=WAIT)
        assert refused.value.response.status_code == 403  # ASGI: closed before accept
        assert welcome_at(ws_url(port, "/ws"))["type"] == "welcome"


def test_fallback_and_its_lifespan_run_with_the_runtime() -> None:
    rt = runtime()
    events: list[str] = []

    @asynccontextmanager
    async def inner_lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append(f"inner startup, runtime running: {rt.running}")
        yield
        events.append(f"inner shutdown, runtime running: {rt.running}")

    async def hello_page(request: Any) -> PlainTextResponse:
        return PlainTextResponse("from starlette")

    inner = Starlette(routes=[Route("/hello", hello_page)], lifespan=inner_lifespan)
    with uvicorn_serving(application(rt, path="/ws", fallback=inner)) as (port, errors):
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=WAIT).text == "from starlette"
        assert welcome_at(ws_url(port, "/ws"))["user"] == "alice"
    assert not errors
    assert events == [
        "inner startup, runtime running: True",
        "inner shutdown, runtime running: True",
    ]
    assert not rt.running


def test_a_failing_inner_startup_fails_the_lifespan() -> None:
    rt = runtime()

    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with uvicorn_serving(application(rt, fallback=Starlette(lifespan=broken))) as (_, errors):
        pass
    assert len(errors) == 1 and isinstance(errors[0], SystemExit)  # uvicorn gave up
    assert not rt.running


def test_lifespan_off_leaves_it_to_the_fallback() -> None:
    rt = runtime()
    seen: list[bool] = []

    @asynccontextmanager
    async def own(app: Starlette) -> AsyncIterator[None]:
        async with rt:  # the application runs the runtime itself
            seen.append(True)
            yield

    inner = Starlette(lifespan=own)
    with uvicorn_serving(application(rt, fallback=inner, lifespan=False)) as (port, errors):
        assert welcome_at(ws_url(port, "/ws"))["type"] == "welcome"
    assert seen == [True] and not errors


def test_endpoint_answers_http_with_426_and_serves_any_path() -> None:
    rt = runtime()
    with uvicorn_serving(endpoint(rt)) as (port, _):
        reply = httpx.get(f"http://127.0.0.1:{port}/", timeout=WAIT)
        assert reply.status_code == 426
        assert welcome_at(ws_url(port, "/any/path"))["type"] == "welcome"


@pytest.mark.parametrize(
    ("adapter", "negotiated"),
    [("asgi-uvicorn", False), ("asgi-granian", False), ("asgi-hypercorn", True)],
)
def test_permessage_deflate_per_server(adapter: str, negotiated: bool) -> None:
    """What docs/adapters.md says: off under uvicorn (``ws_per_message_deflate=False``)
    and granian (not implemented); hypercorn accepts it whenever offered."""
    served: Served = serve_adapter(adapter)
    try:
        ws = connect(
            f"{served.url}?token={token('alice')}",
            origin="http://good.example",  # type: ignore[arg-type]
            compression="deflate",
            open_timeout=WAIT,
            legacy=True,
        )
        client = Client(ws)
        served.clients.append(client)
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ("permessage-deflate" in extensions) is negotiated
        hello(client)
    finally:
        served.stop()


def test_a_peer_close_ends_the_connection_in_the_runtime() -> None:
    served = serve_adapter("asgi-hypercorn")
    try:
        client = open_client(served, "alice")
        hello(client)
        assert served.runtime.health().connections == 1
        client.close()
        for _ in range(int(WAIT / 0.01)):
            if served.runtime.health().connections == 0:
                break
            served.call(lambda: asyncio.sleep(0.01))
        assert served.runtime.health().connections == 0
        assert served.runtime.health().reconnecting == 1  # its session may resume
    finally:
        served.stop()


def test_the_hook_sees_origin_and_subprotocol_headers() -> None:
    seen: list[HandshakeRequest] = []

    def authenticate(request: HandshakeRequest) -> Identity:
        seen.append(request)
        return Identity(user="ann")

    rt = Runtime(settings(), authenticate=authenticate)
    with (
        uvicorn_serving(application(rt)) as (port, _),
        connect(
            f"ws://127.0.0.1:{port}/ws?room=a",
            origin="http://good.example",  # type: ignore[arg-type]
            subprotocols=["rtcsignal.v1", "token.x"],  # type: ignore[list-item]
            open_timeout=WAIT,
        ) as ws,
    ):
        assert ws.subprotocol is None  # accepted without one, as every adapter
        ws.send(json.dumps({"type": "hello", "version": 1, "id": 1}))
        assert json.loads(ws.recv(timeout=WAIT))["user"] == "ann"
    (request,) = seen
    assert request.origin == "http://good.example"
    assert request.headers["sec-websocket-protocol"] == "rtcsignal.v1, token.x"
    assert (request.path, dict(request.query)) == ("/ws", {"room": "a"})
    assert request.remote_address == "127.0.0.1"
