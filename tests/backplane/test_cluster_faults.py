"""Faults on real instances (issue 13): three ``python -m rtcsignal serve`` processes on a
real ``redis-server``, driven by the Python client; an instance is killed or paused by its
pid."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from harness_cluster import SECRET, Instance, RedisServer, token
from harness_cluster import next_event as _next_event
from rtcsignal import protocol as p
from rtcsignal.client import connect

pytestmark = pytest.mark.anyio
WAIT = 15.0


async def next_event(client: Any, kind: type[Any]) -> Any:
    return await _next_event(client, kind, WAIT)


SAMPLES = Path(__file__).resolve().parents[1] / "sdp" / "samples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def trio_of_instances(tmp_path: Path) -> Iterator[list[Instance]]:
    config = tmp_path / "cluster.toml"
    config.write_text(f'auth_secret = "{SECRET}"\n[server]\nreconnect_grace = 3.0\n')
    redis = RedisServer(tmp_path)
    instances: list[Instance] = []
    try:
        for name in ("a", "b", "c"):
            instances.append(Instance(redis.url, name, "--config", str(config)))
        yield instances
    finally:
        for instance in instances:
            if instance.proc.poll() is None:
                os.kill(instance.proc.pid, signal.SIGCONT)  # a paused one must not hang
            instance.stop()
        redis.stop()


async def test_an_owner_killed_mid_negotiation_is_taken_over(
    trio_of_instances: list[Instance],
) -> None:
    """The owner instance dies (SIGKILL) after an offer crossed it. Another instance
    takes the room over from its written state: the live members get a fresh
    ``room_snapshot`` (the dead instance's member ``reconnecting``, then gone after its
    grace) and ``negotiation_reset``; they re-offer and the call goes on."""
    a, b, c = trio_of_instances
    offer, answer = ((SAMPLES / f"chrome_{n}.sdp").read_text() for n in ("offer", "answer"))
    async with connect(a.url, token=token("alice")) as alice:
        await alice.join("room8")  # a owns it
        async with (
            connect(b.url, token=token("bob")) as bob,
            connect(c.url, token=token("carol")) as carol,
        ):
            await bob.join("room8")
            snap = await carol.join("room8")
            ids = {x.user: x.id for x in snap.participants}
            await bob.offer("room8", ids["carol"], offer)
            await next_event(carol, p.Offer)
            a.proc.kill()  # SIGKILL, by its pid
            a.proc.wait(WAIT)
            for peer in (bob, carol):
                resync = await next_event(peer, p.RoomSnapshot)
                states = {x.user: x.state for x in resync.participants}
                assert states == {"alice": "reconnecting", "bob": "connected", "carol": "connected"}
                reset = await next_event(peer, p.NegotiationReset)
                assert set(reset.peers) == set(ids.values()) - {resync.you}
            await bob.offer("room8", ids["carol"], offer)  # the re-offer after the reset
            await next_event(carol, p.Offer)
            await carol.answer("room8", ids["bob"], answer)
            assert (await next_event(bob, p.Answer)).from_ == ids["carol"]
            await bob.chat("room8", "after the takeover")
            chat = await next_event(carol, p.Chat)
            assert chat.text == "after the takeover"
            left = await next_event(carol, p.ParticipantLeft)  # alice's grace (3 s) passed
            assert (left.participant, left.reason) == (ids["alice"], "disconnected")


async def test_redis_losing_its_data_resets_every_instance_and_the_room_goes_on(
    trio_of_instances: list[Instance],
) -> None:
    """Issue 13 item 5: Redis comes back empty (here: ``FLUSHALL``). Every instance sees
    the new cluster generation, the owner takes its room again (kept in memory) and
    writes it anew, and the members carry on: a chat crosses instances again."""
    import redis

    a, b, _c = trio_of_instances
    url = next(arg for arg in a.proc.args if str(arg).startswith("redis://"))  # type: ignore[union-attr]
    async with (
        connect(a.url, token=token("alice")) as alice,
        connect(b.url, token=token("bob")) as bob,
    ):
        await alice.join("room9")  # a owns it
        await bob.join("room9")
        client = redis.Redis.from_url(str(url))
        try:
            client.flushall()
            with anyio.fail_after(WAIT):
                while client.get("rs:{r:room9}:owner") is None:  # a took it again
                    await anyio.sleep(0.05)
            assert client.get("rs:{r:room9}:state") is not None  # and wrote it anew
        finally:
            client.close()
        await bob.chat("room9", "after the reset")
        chat = await next_event(alice, p.Chat)
        assert chat.text == "after the reset"
