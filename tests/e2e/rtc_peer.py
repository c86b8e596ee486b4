"""A real WebRTC peer (aiortc) that signals through ``rtcsignal.client``.

The newcomer offers to everyone already in the room (so offers never cross), each
connection carries one data channel, and received messages land in a queue per remote
participant. Used by the end-to-end tests; ``examples/aiortc_bot.py`` is the same idea
as a standalone program.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from rtcsignal import protocol as p
from rtcsignal.client import Client, Connected

WAIT = 20.0


class RtcPeer:
    """One participant: a signaling client plus one RTCPeerConnection per remote peer."""

    def __init__(self, client: Client, room: str) -> None:
        self.client = client
        self.room = room
        self.me = ""
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.channels: dict[str, RTCDataChannel] = {}
        self.inbox: dict[str, asyncio.Queue[str]] = {}
        self.offers_sent = 0
        self.offers_received = 0
        self.connections: list[Connected] = []
        self.events: list[Any] = []
        self._open: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    async def join(self, room: str | None = None) -> p.RoomSnapshot:
        """Join (or, for a call, use the call's room) and offer to everyone present."""
        if room is not None:
            self.room = room
        snap = await self.client.join(self.room)
        assert isinstance(snap, p.RoomSnapshot)
        await self.enter(snap)
        return snap

    async def enter(self, snap: p.RoomSnapshot) -> None:
        """Start handling events for ``snap``'s room; offer to its other members."""
        self.room = snap.room
        self.me = snap.you
        if self._task is None:
            self._task = asyncio.ensure_future(self._events())
        for other in snap.participants:
            if other.id != snap.you:
                await self._offer(other.id)

    def _pc(self, peer: str) -> RTCPeerConnection:
        if peer not in self.pcs:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.pcs[peer] = pc
            self.inbox[peer] = asyncio.Queue()
            self._open[peer] = asyncio.Event()

            @pc.on("datachannel")
            def on_channel(channel: RTCDataChannel) -> None:
                self._wire(peer, channel)

        return self.pcs[peer]

    def _wire(self, peer: str, channel: RTCDataChannel) -> None:
        self.channels[peer] = channel

        @channel.on("message")
        def on_message(message: Any) -> None:
            self.inbox[peer].put_nowait(str(message))

        if channel.readyState == "open":
            self._open[peer].set()
        else:

            @channel.on("open")
            def on_open() -> None:
                self._open[peer].set()

    async def _offer(self, peer: str) -> None:
        pc = self._pc(peer)
        self._wire(peer, pc.createDataChannel("chat"))
        await pc.setLocalDescription(await pc.createOffer())
        self.offers_sent += 1
        await self.client.offer(self.room, peer, pc.localDescription.sdp)

    async def _events(self) -> None:
        async for event in self.client.events():
            self.events.append(event)
            if isinstance(event, Connected):
                self.connections.append(event)
            elif isinstance(event, p.Offer) and event.from_:
                self.offers_received += 1
                pc = self._pc(event.from_)
                await pc.setRemoteDescription(RTCSessionDescription(event.sdp, "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                await self.client.answer(self.room, event.from_, pc.localDescription.sdp)
            elif isinstance(event, p.Answer) and event.from_:
                await self.pcs[event.from_].setRemoteDescription(
                    RTCSessionDescription(event.sdp, "answer")
                )
            elif isinstance(event, p.ParticipantLeft) and event.participant in self.pcs:
                await self.pcs.pop(event.participant).close()

    async def wait_open(self, peer: str) -> None:
        """Until the data channel to ``peer`` is open (ICE and DTLS are up)."""
        self._pc(peer)
        await asyncio.wait_for(self._open[peer].wait(), WAIT)
        assert self.pcs[peer].connectionState == "connected"

    async def say(self, peer: str, text: str) -> None:
        self.channels[peer].send(text)

    async def heard(self, peer: str) -> str:
        return await asyncio.wait_for(self.inbox[peer].get(), WAIT)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for pc in self.pcs.values():
            await pc.close()
