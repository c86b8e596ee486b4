"""The client re-sends unanswered requests after a resume, with their ``id``: exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from harness_adapters import GOOD_ORIGIN, Served, serve_adapter, settings, token
from rtcsignal import protocol as p
from rtcsignal.client import Backoff, Connected, ConnectionLost, Transport, connect
from rtcsignal.client._transport import Closed, open_websocket
from rtcsignal.core import ServerConfig

pytestmark = pytest.mark.anyio
WAIT = 10.0
FAST = Backoff(initial=0.05, max_delay=0.2, max_attempts=50)
HEADERS = [("Origin", GOOD_ORIGIN)]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served() -> Iterator[Served]:
    server = serve_adapter("websockets")
    yield server
    server.stop()


class LosesTheReply:
    """A real WebSocket that drops itself right after sending the first frame that
    contains ``marker``, so that frame's reply (if any) never reaches the client."""

    def __init__(self, inner: Transport, state: dict[str, bool], marker: str) -> None:
        self.inner, self.state, self.marker = inner, state, marker
        self.lost = False

    async def send(self, data: str | bytes) -> None:
        fire = not self.state["fired"] and isinstance(data, str) and self.marker in data
        if fire:  # lost from before the write: a reply read while it is written is lost too
            self.state["fired"] = self.lost = True
        await self.inner.send(data)
        if fire:
            await self.inner.close(4999, "the test drops the connection")

    async def receive(self) -> str | bytes:
        if self.lost:
            raise Closed(1006, "dropped after the request")
        try:
            data = await self.inner.receive()
        except Closed:
            if self.lost:
                raise Closed(1006, "dropped after the request") from None
            raise
        if self.lost:  # what arrived while the socket was closing is lost with it
            raise Closed(1006, "dropped after the request")
        return data

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)


def losing(user: str, marker: str) -> dict[str, Any]:
    state = {"fired": False}
    auth = [*HEADERS, ("Authorization", f"Bearer {token(user)}")]

    async def factory(url: str) -> Transport:
        return LosesTheReply(await open_websocket(url, headers=auth), state, marker)

    return {"transport": factory, "backoff": FAST}


async def chats_until(client: Any, last: str) -> list[str]:
    texts: list[str] = []
    with anyio.fail_after(WAIT):
        async for event in client.events():
            if isinstance(event, p.Chat):
                texts.append(event.text)
                if event.text == last:
                    return texts
    raise AssertionError("events ended")


async def test_a_request_whose_reply_was_lost_is_resent_and_applied_once(
    served: Served,
) -> None:
    async with (
        connect(served.url, **losing("alice", '"text":"exactly once"')) as alice,
        connect(served.url, token=token("bob"), headers=HEADERS, backoff=FAST) as bob,
    ):
        await alice.join("room-1")
        await bob.join("room-1")
        session = alice.session
        # the socket drops right after the chat is written; the client resumes and
        # re-sends it with its id; the server answers it once
        assert await alice.chat("room-1", "exactly once") is None
        assert alice.session == session and alice.state == "connected"
        await alice.chat("room-1", "after")
        assert await chats_until(bob, "after") == ["exactly once", "after"]


async def test_a_request_resent_after_a_reset_fails_instead(anyio_backend: str) -> None:
    """Without a resume there is nobody to remember the request: ConnectionLost."""
    server = serve_adapter(
        "websockets", settings(server=ServerConfig(reconnect_grace=0.0001, ping_interval=5.0))
    )
    try:
        opts = losing("alice", '"text":"maybe"')
        slow = Backoff(initial=0.3, max_delay=0.3, max_attempts=50)
        async with connect(server.url, **{**opts, "backoff": slow}) as alice:
            first = alice.session
            with pytest.raises(ConnectionLost):
                await alice.chat("room-1", "maybe")
            with anyio.fail_after(WAIT):
                async for event in alice.events():
                    if isinstance(event, Connected) and event.session != first:
                        break
            assert not event.resumed and alice.state == "connected"
    finally:
        server.stop()
