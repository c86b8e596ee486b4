"""The three servers the relay benchmark measures, each a separate process.

``python -m benchmarks.relay.servers KIND PORT`` prints ``READY <port>`` once listening
and serves until SIGTERM. KIND:

* ``rtcsignal``: the runtime with the ``websockets`` adapter: hello, join, SDP and
  candidate validation, rate limits (set high enough not to deny the load), bounded
  queues. Identity from the ``user`` query parameter (benchmark only).
* ``bare``: a plain ``websockets`` relay written the way a user would: a dict of rooms,
  ``json.loads``, forward with ``json.dumps``, no validation.
* ``socketio``: python-socketio ``AsyncServer`` on uvicorn, the same relay as events.

Each uses its framework's defaults except compression, which the load generator does not
offer (so no server negotiates it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from typing import Any

ROOM_CAPACITY = 5_000  # rooms as large as the biggest scenario
PROFILE_ENV = "RTCSIGNAL_BENCH_PROFILE"  # a path: run the server under cProfile, dump there


REDIS_ENV = "RTCSIGNAL_BENCH_REDIS"
"""Set: the server runs on this Redis (rtcsignal's backplane, python-socketio's
AsyncRedisManager)."""
NODE_ENV = "RTCSIGNAL_BENCH_NODE"
"""rtcsignal's instance id on the backplane."""


def _ready(port: int) -> None:
    print(f"READY {port}", flush=True)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def bench_policy() -> Any:
    """The default rate policy with ceilings raised above the benchmark's load: every
    check still runs on every message, none denies."""
    import attrs

    from rtcsignal.ratelimit import DEFAULT_KINDS, KindLimit, LimitSpec, RatePolicy

    high = LimitSpec(rate=1e9, burst=1e9)
    kinds = {name: attrs.evolve(kind, limit=high) for name, kind in DEFAULT_KINDS.items()}
    policy = RatePolicy.default()
    return attrs.evolve(
        policy,
        connection=high,
        user=high,
        address=high,
        room=high,
        kinds=kinds,
        default_kind=KindLimit(limit=high),
        guards=attrs.evolve(
            policy.guards, max_connections=100_000, max_connections_per_address=100_000
        ),
    )


async def rtcsignal(port: int) -> None:
    from rtcsignal.adapters.websockets import serve
    from rtcsignal.core import Identity, RoomPolicy, ServerConfig
    from rtcsignal.runtime import HandshakeRequest, Runtime, RuntimeSettings

    def authenticate(request: HandshakeRequest) -> Identity:
        return Identity(user=request.query["user"])

    from rtcsignal.runtime import BackplaneSettings

    config = ServerConfig(default_room=RoomPolicy(capacity=ROOM_CAPACITY))
    plane = BackplaneSettings(
        redis_url=os.environ.get(REDIS_ENV), instance_id=os.environ.get(NODE_ENV)
    )
    settings = RuntimeSettings(server=config, rate=bench_policy(), port=port, backplane=plane)
    runtime = Runtime(settings, authenticate=authenticate)
    async with runtime, serve(runtime, host="127.0.0.1", port=port) as server:
        _ready(next(iter(server.sockets)).getsockname()[1])
        await _until_signalled()


async def bare(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    rooms: dict[str, dict[str, ServerConnection]] = {}
    peers: dict[str, ServerConnection] = {}
    ids = itertools.count(1)

    async def handler(ws: ServerConnection) -> None:
        me = f"p{next(ids)}"
        peers[me] = ws
        joined: list[str] = []
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "join":
                    room = rooms.setdefault(msg["room"], {})
                    others = list(room)
                    room[me] = ws
                    joined.append(msg["room"])
                    await ws.send(
                        json.dumps({"type": "ok", "id": msg.get("id"), "you": me, "peers": others})
                    )
                    note = json.dumps({"type": "participant_joined", "peer": me})
                    for other in others:
                        await room[other].send(note)
                elif msg["type"] in ("offer", "answer", "candidate"):
                    target = peers.get(msg["to"])
                    if target is not None:
                        msg["from"] = me
                        await target.send(json.dumps(msg))
        except ConnectionClosed:
            pass
        finally:
            del peers[me]
            for name in joined:
                rooms.get(name, {}).pop(me, None)

    async with serve(handler, "127.0.0.1", port) as server:
        _ready(next(iter(server.sockets)).getsockname()[1])
        await _until_signalled()


async def socketio_server(port: int) -> None:
    import socket

    import socketio
    import uvicorn

    url = os.environ.get(REDIS_ENV)
    manager = None if url is None else socketio.AsyncRedisManager(url)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)

    @sio.event
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        room = data["room"]
        others = [p for p, _ in sio.manager.get_participants("/", room)]
        await sio.enter_room(sid, room)
        await sio.emit("participant_joined", {"peer": sid}, room=room, skip_sid=sid)
        return {"you": sid, "peers": others}

    @sio.event
    async def candidate(sid: str, data: dict[str, Any]) -> None:
        data["from"] = sid
        await sio.emit("candidate", data, to=data["to"])

    sock = socket.create_server(("127.0.0.1", port))
    config = uvicorn.Config(socketio.ASGIApp(sio), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    _ready(sock.getsockname()[1])
    await _until_signalled()
    server.should_exit = True
    await task


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    runner = {"rtcsignal": rtcsignal, "bare": bare, "socketio": socketio_server}[
        kind.split("-")[0]  # "-redis": the same server on the Redis backplane ($REDIS_ENV)
    ]
    profile = os.environ.get(PROFILE_ENV)
    if not profile:
        asyncio.run(runner(port))
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(runner(port))
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
