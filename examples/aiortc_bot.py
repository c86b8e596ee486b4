"""A bot that joins a room and echoes: data-channel messages come back prefixed with
``echo:``, and audio/video tracks are sent back to their sender (aiortc).

    python examples/aiortc_bot.py ws://127.0.0.1:8080/ws standup --token TOKEN

The bot negotiates through ``rtcsignal.client.aiortc.PeerMesh`` (perfect negotiation by
join order, early candidates buffered, answers naming the offer they answer): it offers
a data channel to everyone already in the room, and answers the offers of those who join
after it (in the demo the newcomer offers, so their media reaches the bot and comes
back). It uses the ICE servers of the server's ``welcome``, closes a peer's connection
when the peer leaves, and keeps its session across dropped sockets (``rtcsignal.client``
resumes it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from rtcsignal.client import connect
from rtcsignal.client.aiortc import PeerMesh


class EchoBot:
    """Sets up each connection the mesh makes: echo what the peer sends."""

    def __init__(self) -> None:
        self.relay = MediaRelay()

    def on_peer(self, peer: str, pc: RTCPeerConnection, offering: bool) -> None:
        if offering:  # we offer to someone already there: a data channel to echo on
            self.echo(pc.createDataChannel("chat"))

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            self.echo(channel)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            pc.addTrack(self.relay.subscribe(track))  # back to the sender

    @staticmethod
    def echo(channel: RTCDataChannel) -> None:
        @channel.on("message")
        def on_message(message: Any) -> None:
            channel.send(f"echo: {message}" if isinstance(message, str) else message)


async def main(url: str, room: str, token: str | None, name: str) -> None:
    async with connect(url, token=token) as client:
        mesh = PeerMesh(client, room, on_peer=EchoBot().on_peer)
        snapshot = await client.join(room, name=name)
        print(f"joined {room} as {getattr(snapshot, 'you', '?')}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def events() -> None:
            async for event in client.events():
                try:
                    await mesh.handle(event)
                except Exception as exc:  # one peer's bad description must not stop the bot
                    print(f"could not handle {type(event).__name__}: {exc}", flush=True)

        task = asyncio.ensure_future(events())
        if not hasattr(snapshot, "you"):  # a lobby: the snapshot follows admission
            print("waiting in the lobby", flush=True)
        else:
            await mesh.start(snapshot)  # offer to everyone already there
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await mesh.aclose()
        print("bye", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the signaling WebSocket, e.g. ws://127.0.0.1:8080/ws")
    parser.add_argument("room")
    parser.add_argument("--token", help="a signaling token (omit on the demo server)")
    parser.add_argument("--name", default="Echo bot")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.room, args.token, args.name))
