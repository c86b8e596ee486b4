"""How the client heals: sequence gaps, replay overflow, refused upgrades, backoff."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_client import ORIGIN, WAIT, next_of, options
from websockets.asyncio.server import ServerConnection, serve

from harness_adapters import serve_adapter, settings
from rtcsignal import protocol as p
from rtcsignal.client import (
    Backoff,
    ClientClosed,
    Connected,
    open_websocket,
)
from rtcsignal.client import (
    Closed as WsClosed,
)
from rtcsignal.client import connect as client_connect
from rtcsignal.core import ServerConfig

LIMITS = {
    "max_frame_bytes": 65536,
    "ping_interval": 20.0,
    "ping_timeout": 45.0,
    "reconnect_grace": 30.0,
    "max_rooms": 8,
    "max_chat_chars": 2000,
}


def chat(seq: int) -> str:
    return json.dumps({"type": "chat", "room": "r-1", "from": "p2", "text": f"m{seq}", "seq": seq})


def welcome(hello: dict[str, Any], **extra: Any) -> str:
    return json.dumps(
        {
            "type": "welcome",
            "id": hello["id"],
            "version": 1,
            "session": "s1",
            "user": "u1",
            "resume_token": f"tok{extra.pop('n', 1)}",
            "limits": LIMITS,
            "resumed": False,
            "seq": 0,
            "gap": False,
            **extra,
        }
    )


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_gap_is_healed_by_resuming(anyio_backend: str) -> None:
    """A scripted server over a real socket skips seq 2; the client resumes from 1 and
    delivers 1, 2, 3 exactly once, in order."""
    hellos: list[dict[str, Any]] = []

    async def script(ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        hellos.append(hello)
        if len(hellos) == 1:
            await ws.send(welcome(hello, seq=0))
            await ws.send(chat(1))
            await ws.send(chat(3))  # 2 is lost
        else:
            await ws.send(welcome(hello, seq=3, resumed=True, n=2))
            await ws.send(chat(2))
            await ws.send(chat(3))
        await ws.wait_closed()

    async with serve(script, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fast = Backoff(initial=0.01, max_delay=0.01)
        async with client_connect(f"ws://127.0.0.1:{port}/", backoff=fast) as c:
            texts = []
            with anyio.fail_after(WAIT):
                async for event in c.events():
                    if isinstance(event, p.Chat):
                        texts.append(event.text)
                        if len(texts) == 3:
                            break
            assert texts == ["m1", "m2", "m3"]
            assert c.last_seq == 3
    assert hellos[1]["resume"] == "tok1" and hellos[1]["last_seq"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_replay_overflow_brings_a_fresh_snapshot(anyio_backend: str) -> None:
    server = serve_adapter("websockets", settings(server=ServerConfig(replay_events=2)))
    try:
        async with (
            client_connect(
                server.url, **options("alice", backoff=Backoff(initial=0.5), rand=lambda: 0.9)
            ) as alice,
            client_connect(server.url, **options("bob")) as bob,
        ):
            await alice.join("room-1")
            await bob.join("room-1")
            await next_of(alice, p.ParticipantJoined)
            await alice.drop()
            for i in range(6):
                await bob.chat("room-1", f"missed {i}")
            connected = await next_of(alice, Connected)
            assert connected.resumed and connected.gap
            snap = await next_of(alice, p.RoomSnapshot)
            assert [c.text for c in snap.chat][-6:] == [f"missed {i}" for i in range(6)]
            await bob.chat("room-1", "after")
            assert (await next_of(alice, p.Chat)).text == "after"  # numbering goes on
    finally:
        server.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_refused_upgrade_and_oversized_message(anyio_backend: str) -> None:
    server = serve_adapter("websockets")
    try:
        with pytest.raises(ClientClosed) as err:
            async with client_connect(server.url.replace("/ws", "/nope"), headers=ORIGIN):
                pass
        assert err.value.code == 1002 and "404" in err.value.reason

        async def big(ws: ServerConnection) -> None:
            await ws.send("x" * 2048)
            await ws.wait_closed()

        async with serve(big, "127.0.0.1", 0) as raw:
            port = next(iter(raw.sockets)).getsockname()[1]
            sock = await open_websocket(f"ws://127.0.0.1:{port}/", max_message=1024)
            with pytest.raises(WsClosed) as closed:
                await sock.receive()
            assert closed.value.code == 1009
            await sock.close()
    finally:
        server.stop()


def test_open_websocket_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="not a ws"):
        anyio.run(open_websocket, "http://127.0.0.1/")


@given(
    initial=st.floats(0.001, 5),
    factor=st.floats(1, 4),
    cap=st.floats(0.001, 60),
    attempt=st.integers(0, 200),
    r=st.floats(0, 1, exclude_max=True),
)
def test_backoff_is_bounded_and_jittered(
    initial: float, factor: float, cap: float, attempt: int, r: float
) -> None:
    b = Backoff(initial=initial, factor=factor, max_delay=cap)
    bound = b.bound(attempt)
    assert 0 < bound <= cap
    assert bound >= min(initial, cap) - 1e-12
    assert b.bound(attempt + 1) >= bound
    assert 0 <= b.delay(attempt, lambda: r) <= bound


def test_backoff_values_and_limits() -> None:
    b = Backoff(initial=0.5, factor=2, max_delay=3, max_attempts=4)
    assert [b.bound(n) for n in range(5)] == [0.5, 1.0, 2.0, 3, 3]
    assert b.delay(2, lambda: 0.5) == 1.0
    assert not b.gives_up(3) and b.gives_up(4)
    assert not Backoff(max_attempts=None).gives_up(10**6)
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)
    with pytest.raises(ValueError, match="attempt"):
        b.bound(-1)
