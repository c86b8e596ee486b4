"""1:1 calls with ``rtcsignal.client``: ring and accept, ring and decline, ring out.

    python examples/call.py ws://127.0.0.1:8080/ws --secret change-me-to-32-or-more-random-bytes

Three users on one server: alice calls bob, who accepts; both are then in the call's
room (where they would negotiate media) until alice hangs up. Alice calls carol, who
declines. Alice calls dave, who never answers: the call ends as ``missed`` after the
server's ring timeout. Each step prints one line.
"""

from __future__ import annotations

import argparse
import time
from contextlib import AsyncExitStack

import anyio

from rtcsignal import protocol as p
from rtcsignal.auth import mint_token
from rtcsignal.client import Client, connect
from rtcsignal.core import ServerConfig


async def next_event(client: Client, kind: type[p.Message], timeout: float) -> p.Message:
    with anyio.fail_after(timeout):
        async for event in client.events():
            if isinstance(event, kind):
                return event
    raise RuntimeError("the client closed")


async def ended(client: Client, call: str, timeout: float) -> p.CallInfo:
    while True:
        update = await next_event(client, p.CallUpdated, timeout)
        assert isinstance(update, p.CallUpdated)
        if update.call.id == call and update.call.state == "ended":
            return update.call


async def main(url: str, secret: str | None, ring_timeout: float) -> None:
    async with AsyncExitStack() as stack:
        users: dict[str, Client] = {}
        for user in ("alice", "bob", "carol", "dave"):
            token = mint_token(secret, user=user, ttl=300, now=time.time()) if secret else None
            users[user] = await stack.enter_async_context(connect(url, token=token))
        alice, bob, carol = users["alice"], users["bob"], users["carol"]
        wait = ring_timeout + 10

        call = await alice.call_invite([bob.user or "bob"], media="video")
        ring = await next_event(bob, p.IncomingCall, wait)
        assert isinstance(ring, p.IncomingCall)
        print(f"bob: {ring.call.caller} is calling ({ring.call.media})", flush=True)
        room = await bob.call_accept(call.id)
        assert isinstance(room, p.RoomSnapshot)
        names = sorted(x.user for x in room.participants)
        print(f"bob: accepted, in {room.room} with {names}", flush=True)
        await alice.call_hangup(call.id)
        print(f"bob: call ended ({(await ended(bob, call.id, wait)).reason})", flush=True)

        call = await alice.call_invite([carol.user or "carol"])
        await next_event(carol, p.IncomingCall, wait)
        await carol.call_decline(call.id)
        print(f"alice: call to carol ended ({(await ended(alice, call.id, wait)).reason})")

        call = await alice.call_invite(["dave"])
        print(f"alice: ringing dave for up to {ring_timeout:g} s", flush=True)
        print(f"alice: call to dave ended ({(await ended(alice, call.id, wait)).reason})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--secret", help="the server's RTCSIGNAL_AUTH_SECRET (not on the demo)")
    parser.add_argument(
        "--ring-timeout",
        type=float,
        default=ServerConfig().ring_timeout,  # the server's default (45 s)
        help="the server's ring timeout (RTCSIGNAL_SERVER__RING_TIMEOUT)",
    )
    args = parser.parse_args()
    anyio.run(main, args.url, args.secret, args.ring_timeout)
