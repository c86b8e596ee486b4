"""A bot that joins a room and echoes: data-channel messages come back prefixed with
``echo:``, and audio/video tracks are sent back to their sender (aiortc).

    python examples/aiortc_bot.py ws://127.0.0.1:8080/ws standup --token TOKEN

The bot answers the offers peers send it (in the demo and in rtcsignal's tests the
newcomer offers to everyone present, so people who join after the bot call it); it
uses the ICE servers of the server's ``welcome``, accepts trickled candidates, closes a
peer's connection when the peer leaves, and keeps its session across dropped sockets
(``rtcsignal.client`` resumes it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from rtcsignal import protocol as p
from rtcsignal.client import Client, connect


class EchoBot:
    """Answers offers in one room and echoes what each peer sends."""

    def __init__(self, client: Client, room: str) -> None:
        self.client = client
        self.room = room
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.relay = MediaRelay()

    def _pc(self, peer: str) -> RTCPeerConnection:
        pc = self.pcs.get(peer)
        if pc is None:
            # The ICE servers of the welcome (TURN credentials minted for the bot); an
            # empty list, not None, when there are none (aiortc's None means a public STUN).
            servers = [
                RTCIceServer(list(s.urls), s.username, s.credential)
                for s in self.client.ice_servers
            ]
            pc = self.pcs[peer] = RTCPeerConnection(RTCConfiguration(iceServers=servers))

            @pc.on("datachannel")
            def on_channel(channel: RTCDataChannel) -> None:
                @channel.on("message")
                def on_message(message: Any) -> None:
                    if isinstance(message, str):
                        channel.send(f"echo: {message}")
                    else:
                        channel.send(message)

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                pc.addTrack(self.relay.subscribe(track))  # back to the sender

        return pc

    async def handle(self, event: Any) -> None:
        if isinstance(event, p.Offer) and event.from_:
            pc = self._pc(event.from_)
            await pc.setRemoteDescription(RTCSessionDescription(event.sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await self.client.answer(self.room, event.from_, pc.localDescription.sdp)
        elif isinstance(event, p.Candidate) and event.from_ in self.pcs:
            candidate = candidate_from_sdp(event.candidate.removeprefix("candidate:"))
            candidate.sdpMid = event.sdp_mid
            candidate.sdpMLineIndex = event.sdp_mline_index
            await self.pcs[event.from_].addIceCandidate(candidate)
        elif isinstance(event, p.ParticipantLeft) and event.participant in self.pcs:
            await self.pcs.pop(event.participant).close()

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()


async def main(url: str, room: str, token: str | None, name: str) -> None:
    async with connect(url, token=token) as client:
        snapshot = await client.join(room, name=name)
        print(f"joined {room} as {getattr(snapshot, 'you', '?')}", flush=True)
        bot = EchoBot(client, room)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def events() -> None:
            async for event in client.events():
                try:
                    await bot.handle(event)
                except Exception as exc:  # one peer's bad description must not stop the bot
                    print(f"could not handle {type(event).__name__}: {exc}", flush=True)

        task = asyncio.ensure_future(events())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bot.close()
        print("bye", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the signaling WebSocket, e.g. ws://127.0.0.1:8080/ws")
    parser.add_argument("room")
    parser.add_argument("--token", help="a signaling token (omit on the demo server)")
    parser.add_argument("--name", default="Echo bot")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.room, args.token, args.name))
