"""Load and fault tests on loopback (bounded), against the ``websockets`` adapter.

* 1,000 connections open and idle;
* 200 peers joining one room at once: every one gets its reply, membership is exact;
* a reader that never reads is closed (4008) while the others keep flowing;
* an exception while handling one connection leaves the others and the room untouched;
* shutdown during traffic loses no reply the core already accepted.

Clients are ``websockets`` asyncio clients in the test thread; the server runs in its own
thread (see ``harness_adapters.py``). Nothing here is timed: only outcomes are asserted.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness_adapters import GOOD_ORIGIN, WAIT, Served, serve_adapter, settings, token
from rtcsignal._demo import ANSWER, CANDIDATE, OFFER
from rtcsignal.core import RoomPolicy, SdpValidator, ServerConfig
from rtcsignal.ratelimit import DEFAULT_KINDS, LimitSpec, RatePolicy

IDLE_CONNECTIONS = 1_000
STORM_PEERS = 200
SLOW_QUEUE_BYTES = 64 * 1024
FLOOD = 1_500  # candidates toward the slow reader: several times every buffer on the way
BATCH = 50  # candidates bob sends before waiting for carol to catch up


@pytest.fixture(scope="module", autouse=True)
def _enough_file_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * IDLE_CONNECTIONS + 256  # both ends of each connection, plus slack
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


REPLIES = {"ok", "error", "welcome", "pong"}  # tell replies by type: welcome carries seq


def _served(**overrides: Any) -> Iterator[Served]:
    server = serve_adapter("websockets", settings(**overrides))
    yield server
    server.stop()


async def _open(served: Served, user: str, **kwargs: Any) -> ClientConnection:
    return await connect(
        f"{served.url}?token={token(user)}",
        origin=GOOD_ORIGIN,  # type: ignore[arg-type]
        compression=None,
        open_timeout=WAIT * 4,
        ping_interval=None,
        close_timeout=1,
        **kwargs,
    )


async def _request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send and read until the reply with the same id (events before it are dropped)."""
    await ws.send(json.dumps(message))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if frame.get("id") == message["id"] and frame["type"] in REPLIES:
            return dict(frame)


async def _until(ws: ClientConnection, type_: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if frame["type"] == type_:
            return dict(frame)


def test_a_thousand_idle_connections() -> None:
    served = next(gen := _served(rate=_generous()))

    async def main() -> None:
        clients = await asyncio.gather(
            *(_open(served, f"user{i}") for i in range(IDLE_CONNECTIONS))
        )
        welcomes = await asyncio.gather(
            *(_request(ws, {"type": "hello", "version": 1, "id": 1}) for ws in clients)
        )
        assert {w["type"] for w in welcomes} == {"welcome"}
        assert len({w["session"] for w in welcomes}) == IDLE_CONNECTIONS
        health = served.runtime.health()
        assert health.connections == IDLE_CONNECTIONS
        assert health.sessions == IDLE_CONNECTIONS
        assert health.queued_bytes == 0
        await asyncio.gather(*(ws.close() for ws in clients))

    asyncio.run(main())
    next(gen, None)


def _generous() -> RatePolicy:
    """The default policy with every rate raised above the tests' load (every check still
    runs) and connection guards wide enough for many users on one loopback address."""
    high = LimitSpec(rate=1e6, burst=1e6)
    policy = RatePolicy.default()
    return attrs.evolve(
        policy,
        connection=high,
        user=high,
        address=high,
        room=high,
        kinds={name: attrs.evolve(kind, limit=high) for name, kind in DEFAULT_KINDS.items()},
        guards=attrs.evolve(
            policy.guards,
            max_connections_per_address=4 * IDLE_CONNECTIONS,
            max_queued_bytes=SLOW_QUEUE_BYTES,
        ),
    )


def test_two_hundred_peers_join_one_room_at_once() -> None:
    config = ServerConfig(default_room=RoomPolicy(capacity=STORM_PEERS))
    served = next(gen := _served(server=config, rate=_generous()))

    async def main() -> None:
        clients = await asyncio.gather(*(_open(served, f"peer{i}") for i in range(STORM_PEERS)))
        await asyncio.gather(
            *(_request(ws, {"type": "hello", "version": 1, "id": 1}) for ws in clients)
        )

        async def join(ws: ClientConnection) -> tuple[str, set[str]]:
            await ws.send(json.dumps({"type": "join", "room": "storm", "id": 2}))
            me, seen = "", set()
            while not me or len(seen) < STORM_PEERS - 1:
                frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT * 4))
                if frame["type"] == "ok":
                    me = frame["result"]["you"]
                    seen |= {p["id"] for p in frame["result"]["participants"]} - {me}
                elif frame["type"] == "participant_joined":
                    assert frame["participant"]["id"] not in seen, "announced twice"
                    seen.add(frame["participant"]["id"])
            return me, seen

        results = await asyncio.gather(*(join(ws) for ws in clients))
        everyone = {me for me, _ in results}
        assert len(everyone) == STORM_PEERS
        for me, seen in results:
            assert seen == everyone - {me}
        room = served.runtime.server.room("storm")
        assert room is not None
        assert set(room.participants) == everyone
        await asyncio.gather(*(ws.close() for ws in clients))

    asyncio.run(main())
    next(gen, None)


def _tiny_buffers(listener: socket.socket) -> None:
    # Accepted sockets inherit the listener's buffer sizes (Linux): keep the kernel from
    # absorbing megabytes, so back-pressure reaches the runtime's queue quickly.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)


def test_a_reader_that_never_reads_is_closed_while_others_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harness_adapters

    real_listen = harness_adapters.Served._listen

    def listen(self: Served) -> socket.socket:
        sock = real_listen(self)
        _tiny_buffers(sock)
        return sock

    monkeypatch.setattr(harness_adapters.Served, "_listen", listen)
    served = next(gen := _served(rate=_generous()))

    async def main() -> None:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", served.port))
        slow = await _open(served, "slow", sock=raw, max_queue=1)
        bob, carol = await _open(served, "bob"), await _open(served, "carol")
        pids = {}
        for name, ws in (("slow", slow), ("bob", bob), ("carol", carol)):
            await _request(ws, {"type": "hello", "version": 1, "id": 1})
            reply = await _request(ws, {"type": "join", "room": "flow", "id": 2})
            pids[name] = reply["result"]["you"]
        for name, ws in (("slow", slow), ("carol", carol)):
            await _request(
                bob, {"type": "offer", "room": "flow", "to": pids[name], "sdp": OFFER, "id": 3}
            )
            await _request(
                ws, {"type": "answer", "room": "flow", "to": pids["bob"], "sdp": ANSWER, "id": 3}
            )
        # From here on "slow" never reads again.
        received: list[int] = []
        caught_up = asyncio.Event()
        target = 0

        async def carol_reads() -> None:
            while len(received) < FLOOD:
                frame = json.loads(await asyncio.wait_for(carol.recv(), WAIT))
                if frame["type"] == "candidate":
                    received.append(int(frame["candidate"].split()[1]))
                    if len(received) >= target:
                        caught_up.set()

        reader = asyncio.create_task(carol_reads())
        for start in range(0, FLOOD, BATCH):
            # bob paces himself on carol (a reader that reads), never on "slow"
            target = min(start + BATCH, FLOOD)
            caught_up.clear()
            for i in range(start, target):
                for to in (pids["slow"], pids["carol"]):
                    candidate = CANDIDATE.replace(" 1 udp", f" {i % 256 + 1} udp")
                    await bob.send(
                        json.dumps(
                            {
                                "type": "candidate",
                                "room": "flow",
                                "to": to,
                                "candidate": candidate,
                                "sdp_mid": "0",
                                "sdp_mline_index": 0,
                            }
                        )
                    )
            await asyncio.wait_for(caught_up.wait(), WAIT)
        await reader
        assert received == [i % 256 + 1 for i in range(FLOOD)]
        assert served.metrics.total("rtcsignal_slow_consumer_closes_total") == 1
        assert served.runtime.health().connections == 2
        assert served.runtime.health().queued_bytes <= 2 * SLOW_QUEUE_BYTES
        # the slow client's session is only reconnecting: it may resume
        room = served.runtime.server.room("flow")
        assert room is not None
        assert room.participants[pids["slow"]].state == "reconnecting"
        slow.transport.abort()
        await asyncio.gather(slow.close(), bob.close(), carol.close())

    asyncio.run(main())
    next(gen, None)


class _Boom(SdpValidator):
    """A validator with a bug: it raises on an offer mentioning "boom"."""

    def offer(self, text: str) -> object:
        if "boom" in text:
            raise RuntimeError("validator bug")
        return super().offer(text)


def test_an_exception_in_one_connection_leaves_others_and_the_room_untouched() -> None:
    served = serve_adapter("websockets", settings(rate=_generous()), validator=_Boom())
    failures: list[str] = []
    served.runtime._observers = (lambda event: failures.append("x") or 1 / 0,)  # a broken hook

    async def main() -> None:
        alice, bob, carol = [await _open(served, u) for u in ("alice", "bob", "carol")]
        pids = {}
        for name, ws in (("alice", alice), ("bob", bob), ("carol", carol)):
            await _request(ws, {"type": "hello", "version": 1, "id": 1})
            joined = await _request(ws, {"type": "join", "room": "room1", "id": 2})
            assert joined["type"] == "ok", joined
            pids[name] = joined["result"]["you"]
        before = dict(served.runtime.server.room("room1").participants)  # type: ignore[union-attr]
        bad = OFFER.replace("s=-", "s=boom")
        reply = await _request(
            alice, {"type": "offer", "room": "room1", "to": pids["bob"], "sdp": bad, "id": 3}
        )
        assert reply["code"] == "internal_error"
        after = served.runtime.server.room("room1").participants  # type: ignore[union-attr]
        assert after.keys() == before.keys()
        # everyone, the failing connection included, keeps working
        ok = await _request(
            bob, {"type": "offer", "room": "room1", "to": pids["carol"], "sdp": OFFER, "id": 3}
        )
        assert ok["type"] == "ok"
        assert (await _until(carol, "offer"))["from"] == pids["bob"]
        pong = await _request(alice, {"type": "ping", "id": 4})
        assert pong["type"] == "pong"
        assert served.metrics.total("rtcsignal_internal_errors_total", where="core") == 1
        assert failures  # the broken observer was called and its errors contained
        await asyncio.gather(alice.close(), bob.close(), carol.close())

    asyncio.run(main())
    served.stop()


def test_shutdown_during_traffic_loses_no_accepted_reply() -> None:
    served = serve_adapter("websockets", settings(rate=_generous()))
    accepted: dict[str, int] = {}
    receive = served.runtime.server.receive

    def counting(conn: str, data: bytes | str, now: float) -> list[Any]:
        effects = receive(conn, data, now)
        if effects:  # the core answered: the request was accepted
            accepted[conn] = accepted.get(conn, 0) + 1
        return effects

    served.runtime.server.receive = counting  # type: ignore[method-assign]

    async def main() -> None:
        clients = [await _open(served, f"u{i}") for i in range(10)]
        for ws in clients:
            await _request(ws, {"type": "hello", "version": 1, "id": 0})

        async def traffic(ws: ClientConnection) -> tuple[list[int], bool]:
            replies: list[int] = []
            going_away = False
            closed: int | None = None

            async def send() -> None:
                for i in range(1, 100_000):
                    await ws.send(json.dumps({"type": "ping", "id": i}))
                    await asyncio.sleep(0)

            sender = asyncio.create_task(send())
            try:
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                    if frame["type"] == "pong":
                        assert not going_away, "a reply after going_away"
                        replies.append(frame["id"])
                    elif frame["type"] == "going_away":
                        going_away = True
            except ConnectionClosed as exc:
                closed = exc.rcvd.code if exc.rcvd is not None else None
            sender.cancel()
            assert closed == 1001
            await ws.close()
            return replies, going_away

        tasks = [asyncio.create_task(traffic(ws)) for ws in clients]
        await asyncio.sleep(0.3)  # let traffic flow (any amount will do)
        await asyncio.to_thread(served.call, served.runtime.shutdown)
        results = await asyncio.gather(*tasks)
        total = 0
        for replies, going_away in results:
            assert going_away
            assert replies == list(range(1, len(replies) + 1))  # in order, no gap
            total += len(replies)
        assert total > 0
        assert total == sum(accepted.values()) - len(clients)  # minus the hellos

    asyncio.run(main())
    served.stop()
