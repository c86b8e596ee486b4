"""The servers the relay benchmark measures, each a separate process.

``python -m benchmarks.relay.servers KIND PORT`` prints ``READY <port>`` once listening
and serves until SIGTERM. KIND:

* ``rtcsignal``: the runtime with the ``websockets`` adapter: hello, join, SDP and
  candidate validation, rate limits (set high enough not to deny the load), bounded
  queues. Identity from the ``user`` query parameter (benchmark only).
* ``rtcsignal-fast``: the same runtime on the ``picows`` adapter and uvloop (``--fast``).
* ``bare``: a plain ``websockets`` relay written the way a user would: a dict of rooms,
  ``json.loads``, forward with ``json.dumps``, no validation.
* ``socketio``: python-socketio ``AsyncServer`` on uvicorn, the same relay as events.
* ``node-socketio``: Node socket.io 4 (``benchmarks/node/socketio-relay.js``), the same
  relay as events; the process execs ``node``, so its pid is the server's.
* ``node-ws``: a bare Node ``ws`` relay (``benchmarks/node/ws-relay.js``), the same
  protocol as ``bare``.

The Node packages come from ``benchmarks/node/package-lock.json`` (``npm ci``, run by
:func:`ensure_node` before a run).

Each uses its framework's defaults except compression, which the load generator does not
offer (so no server negotiates it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
NODE_SCRIPTS = {"node-socketio": "socketio-relay.js", "node-ws": "ws-relay.js"}
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


def ensure_node() -> str:
    """Install the pinned Node anchors (``npm ci``) unless installed from this lock file;
    return the ``node`` executable.

    Raises:
        RuntimeError: ``node`` or ``npm`` is missing (``scripts/install-system-deps.sh``
            installs both), or ``npm ci`` failed.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("the relay benchmark needs node and npm: scripts/install-system-deps.sh")
    lock = NODE_DIR / "package-lock.json"
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {NODE_DIR} failed:\n{done.stderr[-2000:]}")
    return node


def node_version() -> str:
    """``node --version`` and the anchors' installed versions, for the machine notes."""
    node = ensure_node()
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    found = []
    for package in ("socket.io", "ws"):
        meta = NODE_DIR / "node_modules" / package / "package.json"
        found.append(f"{package} {json.loads(meta.read_text())['version']}")
    return f"Node {version.stdout.strip()}, " + ", ".join(found)


async def rtcsignal(port: int, fast: bool = False) -> None:
    if fast:
        from rtcsignal.adapters.picows import serve
    else:
        from rtcsignal.adapters.websockets import serve  # type: ignore[assignment]
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


async def rtcsignal_fast(port: int) -> None:
    await rtcsignal(port, fast=True)


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind in NODE_SCRIPTS:  # become the node process: the pid measured is node's
        os.chdir(NODE_DIR)
        node = ensure_node()
        os.execv(node, [node, NODE_SCRIPTS[kind], str(port)])
    runner = {
        "rtcsignal": rtcsignal,
        "rtcsignal-fast": rtcsignal_fast,
        "bare": bare,
        "socketio": socketio_server,
    }[kind.removesuffix("-redis")]  # "-redis": the same server on $REDIS_ENV
    profile = os.environ.get(PROFILE_ENV)
    if not profile:
        if kind == "rtcsignal-fast":
            import uvloop

            uvloop.run(runner(port))
        else:
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
