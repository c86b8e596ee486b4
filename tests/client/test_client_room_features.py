"""Bans, ``update_me`` and hidden participants over real sockets: the Python client
against the runtime, with the grants minted into real tokens (issue 16)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from harness_adapters import GOOD_ORIGIN, Served, serve_adapter, token
from rtcsignal import protocol as p
from rtcsignal.client import Backoff, Client, RequestError, connect

pytestmark = pytest.mark.anyio
WAIT = 10.0
FAST = Backoff(initial=0.05, max_delay=0.2, max_attempts=50)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served() -> Iterator[Served]:
    server = serve_adapter("websockets")
    yield server
    server.stop()


def options(user: str, **grants: Any) -> dict[str, Any]:
    return {"token": token(user, **grants), "headers": {"Origin": GOOD_ORIGIN}, "backoff": FAST}


async def next_of(client: Client, kind: type[Any]) -> Any:
    with anyio.fail_after(WAIT):
        async for event in client.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"events ended before a {kind.__name__}")


async def test_kick_with_ban_keeps_every_device_out_until_unban(served: Served) -> None:
    async with (
        connect(served.url, **options("alice")) as alice,
        connect(served.url, **options("bob")) as phone,
        connect(served.url, **options("bob")) as laptop,
    ):
        await alice.join("pub-room")
        snap = await phone.join("pub-room")
        await laptop.join("pub-room")
        await alice.kick("pub-room", snap.you, reason="spam", ban=True, duration=300)
        for device in (phone, laptop):
            removed = await next_of(device, p.Removed)
            assert (removed.reason, removed.message) == ("banned", "spam")
        with pytest.raises(RequestError) as err:
            await laptop.join("pub-room")
        assert err.value.code == "banned" and err.value.retry_after is not None
        assert 0 < err.value.retry_after <= 300
        await alice.unban("pub-room", "bob")
        back = await laptop.join("pub-room")
        assert isinstance(back, p.RoomSnapshot)


async def test_update_me_reaches_the_others(served: Served) -> None:
    async with (
        connect(served.url, **options("alice")) as alice,
        connect(served.url, **options("bob")) as bob,
        connect(served.url, **options("gus", can_update_metadata=False)) as gus,
    ):
        snap = await alice.join("pub-room", name="Alice")
        await bob.join("pub-room")
        await gus.join("pub-room")
        await alice.update_me("pub-room", name="Alice B.", metadata={"status": "brb"})
        while True:
            updated = await next_of(bob, p.ParticipantUpdated)
            if updated.participant.id == snap.you:
                break
        assert updated.participant.name == "Alice B."
        assert updated.participant.metadata == {"status": "brb"}
        with pytest.raises(RequestError) as err:
            await gus.update_me("pub-room", name="Gus")
        assert err.value.code == "forbidden"


async def test_a_hidden_recorder_is_seen_by_the_host_only(served: Served) -> None:
    async with (
        connect(served.url, **options("alice")) as alice,
        connect(served.url, **options("bob")) as bob,
    ):
        await alice.join("pub-room")
        await bob.join("pub-room")
        async with connect(served.url, **options("recorder", hidden=True)) as recorder:
            snap = await recorder.join("pub-room")
            joined = await next_of(alice, p.ParticipantJoined)
            if joined.participant.user == "bob":
                joined = await next_of(alice, p.ParticipantJoined)  # the host hears of it
            assert joined.participant.id == snap.you and joined.participant.hidden is True
            await bob.chat("pub-room", "hello all")
            assert (await next_of(recorder, p.Chat)).text == "hello all"
            carol_snap = None
            async with connect(served.url, **options("carol")) as carol:
                carol_snap = await carol.join("pub-room")
            assert snap.you not in {x.id for x in carol_snap.participants}
            # bob heard of carol, never of the recorder
            seen = await next_of(bob, p.ParticipantJoined)
            assert seen.participant.user == "carol"
