"""``rtcsignal.client`` against the real runtime over real sockets (asyncio and trio)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from harness_adapters import GOOD_ORIGIN, Served, serve_adapter, settings, token
from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, CANDIDATE, OFFER
from rtcsignal.client import (
    Backoff,
    Client,
    ClientClosed,
    Connected,
    Disconnected,
    RequestError,
    RequestTimeout,
    SendQueueFull,
    SessionReset,
    Stopped,
    connect,
)
from rtcsignal.core import ServerConfig

pytestmark = pytest.mark.anyio
WAIT = 10.0
ORIGIN = {"Origin": GOOD_ORIGIN}
FAST = Backoff(initial=0.05, max_delay=0.2, max_attempts=50)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served() -> Iterator[Served]:
    server = serve_adapter("websockets")
    yield server
    server.stop()


def options(user: str, **extra: Any) -> dict[str, Any]:
    return {"token": token(user), "headers": ORIGIN, "backoff": FAST, **extra}


async def next_of(client: Client, kind: type[Any], timeout: float = WAIT) -> Any:
    """The next event of type ``kind`` (others are skipped)."""
    with anyio.fail_after(timeout):
        async for event in client.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"events ended before a {kind.__name__}")


async def test_join_relay_and_typed_errors(served: Served) -> None:
    async with (
        connect(served.url, **options("alice")) as alice,
        connect(served.url, **options("bob")) as bob,
    ):
        assert alice.user == "alice" and alice.state == "connected"
        snap = await alice.join("standup", name="Alice")
        assert isinstance(snap, p.RoomSnapshot) and snap.you
        snap_b = await bob.join("standup", name="Bob")
        assert isinstance(snap_b, p.RoomSnapshot)
        joined = await next_of(alice, p.ParticipantJoined)
        assert joined.participant.id == snap_b.you
        await alice.offer("standup", snap_b.you, OFFER)
        offer = await next_of(bob, p.Offer)
        assert offer.from_ == snap.you and offer.sdp == OFFER
        await bob.answer("standup", snap.you, ANSWER)
        assert (await next_of(alice, p.Answer)).sdp == ANSWER
        await alice.candidate("standup", snap_b.you, CANDIDATE, sdp_mid="0")
        assert (await next_of(bob, p.Candidate)).candidate == CANDIDATE
        with pytest.raises(RequestError) as err:
            await alice.kick("standup", "nobody-here")
        assert err.value.code == "unknown_participant"
        with pytest.raises(RequestError) as err:
            await bob.kick("standup", snap.you)
        assert err.value.code == "forbidden"
        with pytest.raises(RequestError) as err:
            await alice.offer("standup", snap_b.you, "v=0\r\nnot sdp")
        assert err.value.code == "invalid_sdp" and err.value.details
        # the errors changed nothing: the pair still relays
        await alice.chat("standup", "still here")
        assert (await next_of(bob, p.Chat)).text == "still here"


async def test_binary_frames(served: Served) -> None:
    async with (
        connect(served.url, **options("alice", binary=True)) as alice,
        connect(served.url, **options("bob")) as bob,
    ):
        await alice.join("room-1")
        await bob.join("room-1")
        await bob.chat("room-1", "hi over JSON")
        assert (await next_of(alice, p.Chat)).text == "hi over JSON"


async def test_drop_resume_replays_in_order_and_sends_queued(served: Served) -> None:
    async with (
        connect(served.url, **options("alice")) as alice,
        connect(served.url, **options("bob")) as bob,
    ):
        me = await alice.join("room-1")
        await bob.join("room-1")
        await next_of(alice, p.ParticipantJoined)
        session = alice.session
        await alice.drop()
        for i in range(5):  # while alice is away: kept for her session
            await bob.chat("room-1", f"missed {i}")
        await alice.chat("room-1", "queued while away")  # sent after the resume
        connected = await next_of(alice, Connected)
        assert connected.resumed and not connected.gap and alice.session == session
        texts = []
        with anyio.fail_after(WAIT):
            async for event in alice.events():
                if isinstance(event, p.Chat):
                    texts.append(event.text)
                    if len(texts) == 5:
                        break
        assert texts == [f"missed {i}" for i in range(5)]
        got = await next_of(bob, p.Chat)
        while got.text != "queued while away":
            got = await next_of(bob, p.Chat)
        assert got.from_ == me.you
        # nobody saw alice leave
        snap = await bob.request(p.Leave(room="room-1"))
        assert snap is None


async def test_session_reset_rejoins(anyio_backend: str) -> None:
    server = serve_adapter(
        "websockets", settings(server=ServerConfig(reconnect_grace=0.2, ping_interval=5.0))
    )
    try:
        slow = Backoff(initial=1.0, max_delay=1.0, max_attempts=5)
        async with connect(server.url, **options("alice", backoff=slow, rand=lambda: 0.9)) as c:
            first = await c.join("room-1", name="Alice")
            assert isinstance(first, p.RoomSnapshot)
            old = c.session
            await c.drop()
            reset = await next_of(c, SessionReset)
            assert reset.rooms == ("room-1",)
            snap = await next_of(c, p.RoomSnapshot)
            assert snap.room == "room-1" and c.session != old
            assert [x.name for x in snap.participants if x.id == snap.you] == ["Alice"]
            again = c.session
            await c.drop()  # a second reset re-joins the same room again
            assert (await next_of(c, SessionReset)).rooms == ("room-1",)
            assert (await next_of(c, p.RoomSnapshot)).room == "room-1"
            assert c.session != again
    finally:
        server.stop()


async def test_bad_token_is_final(served: Served) -> None:
    with pytest.raises(ClientClosed) as err:
        async with connect(served.url, token="v1.bad.token", headers=ORIGIN):
            pass
    assert err.value.code == 4003


async def test_shutdown_then_gives_up(anyio_backend: str) -> None:
    server = serve_adapter("websockets")
    stopped = False
    try:
        backoff = Backoff(initial=0.02, max_delay=0.05, max_attempts=3)
        async with connect(server.url, **options("alice", backoff=backoff)) as c:
            await c.join("room-1")
            await anyio.to_thread.run_sync(server.call, server.runtime.shutdown)
            server.stop()
            stopped = True
            events: list[Any] = []
            with anyio.fail_after(WAIT):
                async for event in c.events():
                    events.append(event)
            assert isinstance(events[-1], Stopped) and "gave up" in events[-1].reason
            kinds = [type(e) for e in events]
            assert p.GoingAway in kinds and kinds.count(Disconnected) == 3
            assert c.state == "closed"
            with pytest.raises(ClientClosed):
                await c.chat("room-1", "too late")
    finally:
        if not stopped:
            server.stop()


async def test_the_first_end_wins(served: Served) -> None:
    # The reconnect loop can end the client (gave up, refused) after aclose() did, before
    # aclose()'s cancellation reaches it: that second end changes nothing and raises
    # nothing (it used to raise ClosedResourceError from the closed events stream).
    async with connect(served.url, **options("alice")) as c:
        await c.join("room-1")
        await c.aclose(1000, "done")
        c._finish(1006, "gave up after 3 attempts")
        assert c.state == "closed"
        with pytest.raises(ClientClosed) as err:
            await c.chat("room-1", "too late")
        assert (err.value.code, err.value.reason) == (1000, "done")


async def test_closed_client_and_queue_bound(served: Served) -> None:
    async with connect(served.url, **options("alice", max_queued=2)) as c:
        await c.join("room-1")
        await c.drop()
        c.send(p.Typing(room="room-1", typing=True))
        c.send(p.Typing(room="room-1", typing=False))
        with pytest.raises(SendQueueFull):
            c.send(p.Typing(room="room-1", typing=True))
        await next_of(c, Connected)
    with pytest.raises(ClientClosed):
        await c.ping()
    with pytest.raises(ClientClosed):
        c.send(p.Ping())


async def test_request_timeout(served: Served) -> None:
    async with connect(served.url, **options("alice")) as c:
        with pytest.raises(RequestTimeout):
            await c.request(p.Join(room="room-1"), timeout=0.0)
        assert (await c.join("room-2")).room == "room-2"  # the late reply was discarded


async def test_an_answer_to_a_replaced_offer_is_refused_as_stale(served: Served) -> None:
    async with (
        connect(served.url, **options("alice")) as alice,
        connect(served.url, **options("bob")) as bob,
    ):
        snap = await alice.join("standup")
        snap_b = await bob.join("standup")
        await alice.offer("standup", snap_b.you, OFFER)
        first = await next_of(bob, p.Offer)
        await alice.offer("standup", snap_b.you, OFFER, negotiation="renegotiate-2")
        second = await next_of(bob, p.Offer)
        assert first.negotiation == "n1" and second.negotiation == "renegotiate-2"
        with pytest.raises(RequestError) as err:
            await bob.answer("standup", snap.you, ANSWER, negotiation=first.negotiation)
        assert err.value.code == "stale_answer"
        assert err.value.details == {"pending": "renegotiate-2"}
        await bob.answer("standup", snap.you, ANSWER, negotiation=second.negotiation)
        answer = await next_of(alice, p.Answer)
        assert answer.negotiation == "renegotiate-2" and answer.sdp == ANSWER
