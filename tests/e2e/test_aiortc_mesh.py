"""``rtcsignal.client.aiortc.PeerMesh``: real aiortc peers negotiating through a real
server (the ``websockets`` adapter on loopback) with perfect negotiation.

Where a case needs events in a given order (both offers made before either side sees
the other's; candidates before their offer; an answer to an offer that was replaced),
the test holds a bot's events and hands them to its mesh in that order; everything
else runs as a bot would, with every event fed to the mesh as it comes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "adapters"))

from harness_adapters import GOOD_ORIGIN, Served, serve_adapter, settings, token
from rtcsignal import protocol as p
from rtcsignal.client import Backoff, Client, RequestError, connect
from rtcsignal.client.aiortc import (
    MAX_EARLY_CANDIDATES,
    IceRestartUnsupported,
    PeerMesh,
)

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]
WAIT = 20.0
ROOM = "mesh"


@pytest.fixture
def served() -> Any:
    server = serve_adapter("websockets", settings())
    yield server
    server.stop()


class Bot:
    """A signaling client, its mesh (a data channel and an audio track per connection),
    and an event pump that can be held."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.mesh = PeerMesh(client, ROOM, on_peer=self._on_peer)
        self.me = ""
        self.backlog: list[Any] = []  # read from the client, not yet fed to the mesh
        self.seen: list[Any] = []  # every event read
        self.errors: list[BaseException] = []
        self.inbox: dict[str, asyncio.Queue[str]] = {}
        self.channels: dict[str, RTCDataChannel] = {}
        self.opened: dict[str, asyncio.Event] = {}
        self.audio: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._frames: set[asyncio.Task[None]] = set()

    def _slot(self, peer: str) -> None:
        self.inbox.setdefault(peer, asyncio.Queue())
        self.opened.setdefault(peer, asyncio.Event())
        self.audio.setdefault(peer, asyncio.Event())

    def _on_peer(self, peer: str, pc: RTCPeerConnection, offering: bool) -> None:
        self._slot(peer)
        if offering:
            pc.addTrack(AudioStreamTrack())  # silence, sent both ways
            self._wire(peer, pc.createDataChannel("chat"))

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            self._wire(peer, channel)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if not offering:
                pc.addTrack(AudioStreamTrack())  # on the offered transceiver

            async def first_frame() -> None:
                await track.recv()
                self.audio[peer].set()

            self._frames.add(asyncio.ensure_future(first_frame()))

    def _wire(self, peer: str, channel: RTCDataChannel) -> None:
        self.channels[peer] = channel

        @channel.on("message")
        def on_message(message: Any) -> None:
            self.inbox[peer].put_nowait(str(message))

        if channel.readyState == "open":  # a received channel may be open already
            self.opened[peer].set()
        channel.on("open", self.opened[peer].set)

    async def join(self) -> p.RoomSnapshot:
        snap = await self.client.join(ROOM)
        assert isinstance(snap, p.RoomSnapshot)
        self.me = snap.you
        return snap

    async def collect(self, kind: type[Any], n: int = 1) -> list[Any]:
        """Read events (kept, not fed) until ``n`` of ``kind`` are among the backlog."""

        def found() -> list[Any]:
            return [e for e in self.backlog if isinstance(e, kind)]

        async with asyncio.timeout(WAIT):
            async for event in self.client.events():
                self.seen.append(event)
                self.backlog.append(event)
                if len(found()) >= n:
                    break
        return found()[:n]

    def take(self, event: Any) -> Any:
        self.backlog.remove(event)
        return event

    def run(self) -> None:
        """Feed the backlog, then every event as it comes, to the mesh."""

        async def pump() -> None:
            try:
                while self.backlog:
                    await self.mesh.handle(self.backlog.pop(0))
                async for event in self.client.events():
                    self.seen.append(event)
                    await self.mesh.handle(event)
            except Exception as exc:
                self.errors.append(exc)

        self._task = asyncio.ensure_future(pump())

    async def connected(self, peer: str) -> None:
        """The data channel to ``peer`` is open and an audio frame came from it."""
        self._slot(peer)
        async with asyncio.timeout(WAIT):
            await self.opened[peer].wait()
            await self.audio[peer].wait()
        assert self.mesh.connections[peer].connectionState == "connected"
        assert self.errors == []

    async def close(self) -> None:
        for task in [self._task, *self._frames]:
            if task is not None:
                task.cancel()
        await self.mesh.aclose()


@asynccontextmanager
async def bots(served: Served, *users: str) -> AsyncIterator[list[Bot]]:
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
            bot = Bot(client)
            stack.push_async_callback(bot.close)
            out.append(bot)
        yield out


async def exchange(a: Bot, b: Bot) -> None:
    """A data-channel message each way."""
    a.channels[b.me].send(f"hi from {a.me}")
    b.channels[a.me].send(f"hi from {b.me}")
    async with asyncio.timeout(WAIT):
        assert await b.inbox[a.me].get() == f"hi from {a.me}"
        assert await a.inbox[b.me].get() == f"hi from {b.me}"


async def test_two_bots_connect_media_and_data(served: Served) -> None:
    async with bots(served, "alice", "bob") as (alice, bob):
        await alice.mesh.start(await alice.join())
        alice.run()
        await bob.mesh.start(await bob.join())  # the newcomer offers
        bob.run()
        await bob.connected(alice.me)
        await alice.connected(bob.me)
        await exchange(alice, bob)
        assert bob.mesh.polite(alice.me) and not alice.mesh.polite(bob.me)
        assert (bob.mesh.stats.offers, alice.mesh.stats.answers) == (1, 1)
        assert bob.mesh.stats.glares == bob.mesh.stats.rollbacks == 0
        with pytest.raises(IceRestartUnsupported, match="aiortc has no ICE restart"):
            await bob.mesh.restart_ice(alice.me)
        assert bob.mesh.connections[alice.me].connectionState == "connected"

        await bob.client.leave(ROOM)  # alice's mesh closes its connection to bob
        async with asyncio.timeout(WAIT):
            while alice.mesh.connections:
                await asyncio.sleep(0.02)


async def test_glare_converges_to_one_connection(served: Served) -> None:
    async with bots(served, "alice", "bob") as (alice, bob):
        await alice.mesh.start(await alice.join())
        snap = await bob.join()
        # alice learns bob's join order before offering: she is the impolite side
        (joined,) = await alice.collect(p.ParticipantJoined)
        await alice.mesh.handle(alice.take(joined))
        assert not alice.mesh.polite(bob.me) and bob.mesh.polite(alice.me) is True

        # both offer before either sees the other's offer: the offers cross
        relayed = await asyncio.gather(alice.mesh.offer(bob.me), bob.mesh.start(snap))
        assert relayed[0] is True  # the impolite side's offer always goes through
        alice.run()
        bob.run()
        await bob.connected(alice.me)
        await alice.connected(bob.me)
        await exchange(alice, bob)

        # either the server refused bob's offer (glare), or relayed it and alice
        # ignored it; either way bob rolled back once and answered alice's offer
        assert alice.mesh.stats.ignored_offers + bob.mesh.stats.glares == 1
        assert bob.mesh.stats.rollbacks == 1 and alice.mesh.stats.rollbacks == 0
        assert (alice.mesh.stats.answers, bob.mesh.stats.answers) == (0, 1)
        assert list(alice.mesh.connections) == [bob.me]
        assert list(bob.mesh.connections) == [alice.me]
        answers = [e for e in alice.seen if isinstance(e, p.Answer)]
        assert len(answers) == 1


def strip_candidates(sdp: str) -> tuple[str, list[str]]:
    """The SDP without its candidate lines, and those candidates."""
    lines = sdp.split("\r\n")
    candidates = [line.removeprefix("a=") for line in lines if line.startswith("a=candidate:")]
    kept = [
        line
        for line in lines
        if not line.startswith("a=candidate:") and line != "a=end-of-candidates"
    ]
    return "\r\n".join(kept), candidates


async def test_candidates_before_the_remote_description_are_buffered(served: Served) -> None:
    async with bots(served, "alice", "bob") as (alice, bob):
        await alice.mesh.start(await alice.join())
        await bob.join()
        # bob is a plain aiortc peer that trickles: its offer carries no candidate
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            opened = asyncio.Event()
            channel = pc.createDataChannel("chat")
            channel.on("open", opened.set)
            await pc.setLocalDescription(await pc.createOffer())
            sdp, candidates = strip_candidates(pc.localDescription.sdp)
            assert candidates
            mid = pc.localDescription.sdp.split("a=mid:")[1].split("\r\n")[0]
            await bob.client.offer(ROOM, alice.me, sdp)
            for candidate in candidates:
                await bob.client.candidate(ROOM, alice.me, candidate, sdp_mid=mid)
            await bob.client.end_of_candidates(ROOM, alice.me)

            # alice gets the candidates before the offer
            (offer,) = await alice.collect(p.Offer)
            early = await alice.collect(p.Candidate, len(candidates))
            (end,) = await alice.collect(p.EndOfCandidates)
            for event in [*early, end]:
                await alice.mesh.handle(alice.take(event))
            assert alice.mesh.stats.early_candidates == len(candidates) + 1
            assert bob.me not in alice.mesh.connections  # nothing to add them to yet
            await alice.mesh.handle(alice.take(offer))
            alice.run()

            remote = alice.mesh.connections[bob.me].remoteDescription.sdp
            for candidate in candidates:  # added after the remote description
                assert f"a={candidate}\r\n" in remote
            assert "a=end-of-candidates" in remote
            assert "a=candidate:" not in sdp

            (answer,) = await bob.collect(p.Answer)
            assert answer.negotiation == offer.negotiation
            await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
            async with asyncio.timeout(WAIT):
                await opened.wait()
            assert alice.mesh.stats.failed_candidates == alice.mesh.stats.dropped_candidates == 0
            assert alice.errors == []
        finally:
            await pc.close()


async def test_early_candidates_are_bounded(served: Served) -> None:
    async with bots(served, "alice", "bob") as (alice, bob):
        await alice.mesh.start(await alice.join())
        await bob.join()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.createDataChannel("chat")
            await pc.setLocalDescription(await pc.createOffer())
            sdp, (candidate, *_) = strip_candidates(pc.localDescription.sdp)
            mid = pc.localDescription.sdp.split("a=mid:")[1].split("\r\n")[0]
            await bob.client.offer(ROOM, alice.me, sdp)
            for _ in range(MAX_EARLY_CANDIDATES + 3):
                bob.client.send(
                    p.Candidate(room=ROOM, to=alice.me, candidate=candidate, sdp_mid=mid)
                )
            (offer,) = await alice.collect(p.Offer)
            early = await alice.collect(p.Candidate, MAX_EARLY_CANDIDATES + 3)
            for event in early:
                await alice.mesh.handle(alice.take(event))
            stats = alice.mesh.stats
            assert (stats.early_candidates, stats.dropped_candidates) == (MAX_EARLY_CANDIDATES, 3)
            await alice.mesh.handle(alice.take(offer))  # the kept ones are added
            remote = alice.mesh.connections[bob.me].remoteDescription.sdp
            assert remote.count(f"a={candidate}\r\n") == MAX_EARLY_CANDIDATES
        finally:
            await pc.close()


async def test_a_stale_answer_is_dropped_and_the_call_goes_on(served: Served) -> None:
    async with bots(served, "bob", "alice") as (bob, alice):
        await bob.mesh.start(await bob.join())
        # bob's events are held: alice (the newcomer) offers, then offers again
        # before bob answers
        await alice.mesh.start(await alice.join())
        alice.run()
        assert await alice.mesh.offer(bob.me) is True
        (joined,) = await bob.collect(p.ParticipantJoined)
        await bob.mesh.handle(bob.take(joined))
        first, second = await bob.collect(p.Offer, 2)
        assert first.negotiation != second.negotiation
        await bob.mesh.handle(bob.take(first))  # answered, refused: stale_answer
        assert bob.mesh.stats.stale_answers == 1
        bob.run()  # the second offer is answered

        await alice.connected(bob.me)
        await bob.connected(alice.me)
        await exchange(alice, bob)
        answers = [e for e in alice.seen if isinstance(e, p.Answer)]
        assert [a.negotiation for a in answers] == [second.negotiation]
        assert bob.mesh.stats.answers == 2 and alice.mesh.stats.stale_answers == 0
        errors = [e for e in alice.seen + bob.seen if isinstance(e, p.Error)]
        assert errors == []


async def test_misuse_and_refusals_leave_nothing_behind(served: Served) -> None:
    async with bots(served, "alice") as (alice,):
        snap = await alice.join()
        wrong = msgspec.structs.replace(snap, room="elsewhere")
        with pytest.raises(p.UsageError, match="elsewhere"):
            await alice.mesh.start(wrong)
        assert alice.mesh.me is None
        await alice.mesh.start(snap)
        with pytest.raises(RequestError) as refused:
            await alice.mesh.offer("nobody")
        assert refused.value.code == "unknown_participant"
        assert alice.mesh.connections == {}
