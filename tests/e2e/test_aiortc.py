"""Real WebRTC peers (aiortc) negotiating through the real server and rtcsignal.client.

The server runs on loopback (the ``websockets`` adapter, token auth); the peers' media
path is host-to-host on this machine. aiortc gathers every candidate before
``setLocalDescription`` returns, so candidates travel inside the SDP; trickled
candidates and ICE restarts are exercised by the browser tests (aiortc has no ICE
restart).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "adapters"))

from rtc_peer import RtcPeer

from harness_adapters import (
    GOOD_ORIGIN,
    Served,
    hello,
    open_client,
    serve_adapter,
    settings,
    token,
)
from rtcsignal import protocol as p
from rtcsignal.client import Backoff, Client, connect
from rtcsignal.core import ServerConfig
from rtcsignal.ratelimit import RatePolicy

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]
WAIT = 20.0


@pytest.fixture
def served() -> Any:
    server = serve_adapter(
        "websockets",
        settings(
            server=ServerConfig(ring_timeout=1.0),
            rate=RatePolicy.from_dict({"kinds": {"chat": {"limit": {"rate": 2, "burst": 5}}}}),
        ),
    )
    yield server
    server.stop()


@asynccontextmanager
async def peers(served: Served, *users: str) -> AsyncIterator[list[RtcPeer]]:
    async with AsyncExitStack() as stack:
        out = []
        for user in users:
            client: Client = await stack.enter_async_context(
                connect(
                    served.url,
                    token=token(user),
                    headers={"Origin": GOOD_ORIGIN},
                    backoff=Backoff(initial=0.05, max_delay=0.2),
                )
            )
            peer = RtcPeer(client, "room-1")
            stack.push_async_callback(peer.close)
            out.append(peer)
        yield out


async def exchange(a: RtcPeer, b: RtcPeer, text: str) -> None:
    """A message each way over the data channel."""
    await a.say(b.me, f"{text} from {a.client.user}")
    assert await b.heard(a.me) == f"{text} from {a.client.user}"
    await b.say(a.me, f"{text} from {b.client.user}")
    assert await a.heard(b.me) == f"{text} from {b.client.user}"


async def test_two_peers_connect_and_survive_a_dropped_socket(served: Served) -> None:
    async with peers(served, "alice", "bob") as (alice, bob):
        await alice.join()
        await bob.join()  # bob offers to alice
        await bob.wait_open(alice.me)
        await alice.wait_open(bob.me)
        await exchange(alice, bob, "hello")

        session = bob.client.session
        await bob.client.drop()
        with anyio.fail_after(WAIT):
            while not any(c.resumed for c in bob.connections):
                await anyio.sleep(0.02)
        assert bob.client.session == session
        await exchange(alice, bob, "after the resume")
        assert (bob.offers_sent, alice.offers_received) == (1, 1)  # not renegotiated
        assert alice.pcs[bob.me].connectionState == "connected"
        left = [e for e in alice.events if isinstance(e, p.ParticipantLeft)]
        assert left == []  # a dropped socket is not a leave


async def test_one_to_one_call_and_a_missed_call(served: Served) -> None:
    async with peers(served, "alice", "bob", "carol") as (alice, bob, carol):
        call = await alice.client.call_invite(["bob"], media="audio")
        incoming = await next_of(bob.client, p.IncomingCall)
        assert incoming.call.id == call.id and incoming.call.caller == "alice"
        # the caller is in the call's room from the invite on (its snapshot follows
        # the ok); the callee enters it by accepting, and offers to the caller
        await alice.enter(await next_of(alice.client, p.RoomSnapshot))
        accepted = await bob.client.call_accept(call.id)
        assert isinstance(accepted, p.RoomSnapshot) and accepted.room == call.room
        await bob.enter(accepted)
        await bob.wait_open(alice.me)
        await exchange(alice, bob, "in the call")
        await bob.client.call_hangup(call.id)
        ended = await wait_call(alice, call.id, "ended")
        assert ended.reason == "hangup"

        missed = await alice.client.call_invite(["carol"])
        assert (await next_of(carol.client, p.IncomingCall)).call.id == missed.id
        gone = await wait_call(alice, missed.id, "ended")  # nobody answers in 1 s
        assert gone.reason == "missed"


async def test_bad_input_leaves_the_call_undisturbed(served: Served) -> None:
    async with peers(served, "alice", "bob") as (alice, bob):
        await alice.join()
        await bob.join()
        await bob.wait_open(alice.me)

        def mallory() -> dict[str, Any]:
            m = open_client(served, "mallory")
            hello(m)
            found: dict[str, Any] = {}
            m.send("{not json")
            found["malformed"] = m.expect("error")["code"]
            m.send({"type": "teleport", "id": 1})
            found["unknown"] = m.expect("error")["code"]
            joined = m.request({"type": "join", "room": "room-1"})
            assert joined["type"] == "ok"
            host = joined["result"]["host"]
            found["kick"] = m.request({"type": "kick", "room": "room-1", "target": host})["code"]
            codes = [
                m.request({"type": "chat", "room": "room-1", "text": f"spam {i}"}).get("code")
                for i in range(20)
            ]
            found["flood"] = sorted({c for c in codes if c})
            m.send("x" * (70 * 1024))
            found["oversize"] = m.closed()[0]
            return found

        found = await anyio.to_thread.run_sync(mallory)
        assert found == {
            "malformed": "malformed_frame",
            "unknown": "unknown_type",
            "kick": "forbidden",
            "flood": ["rate_limited"],
            "oversize": 1009,
        }
        await exchange(alice, bob, "still up")
        assert alice.pcs[bob.me].connectionState == "connected"
        errors = [e for e in alice.events + bob.events if isinstance(e, p.Error)]
        assert errors == []


async def next_of(client: Client, kind: type[Any]) -> Any:
    with anyio.fail_after(WAIT):
        async for event in client.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(kind)


async def wait_call(peer: RtcPeer, call: str, state: str) -> p.CallInfo:
    with anyio.fail_after(WAIT):
        while True:
            for event in peer.events:
                if (
                    isinstance(event, p.CallUpdated)
                    and event.call.id == call
                    and event.call.state == state
                ):
                    return event.call
            await anyio.sleep(0.02)
