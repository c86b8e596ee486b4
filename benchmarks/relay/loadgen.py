"""The relay benchmark's load generator: a separate process speaking raw WebSocket.

``python -m benchmarks.relay.loadgen KIND PORT SERVER_PID SCENARIO [ARGS...]`` prints one
JSON object with the results. Scenarios: ``pairs N SECONDS``, ``room N SECONDS``,
``latency PAIRS RATE SECONDS``, ``idle N1,N2,...``, ``storm N``.

It is written to cost as little CPU per message as possible so that the server, not the
generator, is measured: a minimal RFC 6455 client on asyncio protocols (no tasks per
connection), frames pre-built from byte templates, a zero masking key (RFC 6455 §5.3
asks for an unpredictable key; servers cannot tell, and XOR with zero costs nothing),
received frames only scanned, not parsed, except where a reply must be read. Its own CPU
use over each measurement is reported, so a saturated generator shows.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from rtcsignal._demo import ANSWER, OFFER

OPEN_BATCH = 200  # connections opened concurrently (under every server's accept backlog)
WINDOW = 32  # candidates in flight per sending peer at saturation
SETUP_TIMEOUT = 60.0  # seconds for any setup phase before the run is abandoned
CANDIDATE = "candidate:{seq} 1 udp 2122260223 127.0.0.1 54400 typ host generation 0"
_CLK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def server_cpu(pid: int | str) -> float:
    """CPU seconds (user + system) the server process has used (the sum over a
    comma-separated list of pids: the instances of a cluster)."""
    total = 0.0
    for one in str(pid).split(","):
        with open(f"/proc/{one}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _CLK
    return total


def server_rss(pid: int) -> int:
    """The server's resident set size in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0xFF)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload  # zero mask: payload unchanged


class Peer(asyncio.Protocol):
    """One raw WebSocket client connection."""

    def __init__(self, kind: str, user: str, on_open: asyncio.Future[Peer]) -> None:
        self.kind = kind
        self.user = user
        self.on_open = on_open
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.inbox: list[bytes] = []  # kept only while ``keep`` is set (setup phases)
        self.keep = True
        self.waiter: asyncio.Future[None] | None = None
        self.on_text: Callable[[bytes], None] | None = None
        self.pid = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        path = (
            "/socket.io/?EIO=4&transport=websocket"
            if self.kind == "socketio"
            else f"/ws?user={self.user}"
        )
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.on_open.set_exception(RuntimeError(bytes(buf[:200]).decode()))
                return
            del buf[: end + 4]
            self.upgraded = True
            if self.kind != "socketio":
                self.on_open.set_result(self)
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            start = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, start = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + n:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[start : start + n])
            del buf[: start + n]
            if opcode == 1 or opcode == 2:
                self._message(payload)
            elif opcode == 9:  # ping -> pong
                self.transport.write(bytes((0x8A, 0x80 | n)) + b"\0\0\0\0" + payload)  # type: ignore[union-attr]

    def _message(self, payload: bytes) -> None:
        if self.kind == "socketio":
            if payload == b"2":  # engine.io ping
                self.send(b"3")
                return
            if payload[:1] == b"0":  # engine.io open: connect to the default namespace
                self.send(b"40")
                return
            if payload[:3] == b"40{":
                self.pid = json.loads(payload[2:])["sid"]
                self.on_open.set_result(self)
                return
        if self.on_text is not None:
            self.on_text(payload)
        if self.keep:
            self.inbox.append(payload)
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

    def send(self, payload: bytes) -> None:
        self.transport.write(_frame(payload))  # type: ignore[union-attr]

    async def next(self) -> bytes:
        while not self.inbox:
            self.waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self.waiter, SETUP_TIMEOUT)
        return self.inbox.pop(0)

    async def reply(self, match: Callable[[bytes], bool]) -> bytes:
        """The first message (kept or arriving) matching ``match``."""
        while True:
            for i, m in enumerate(self.inbox):
                if match(m):
                    return self.inbox.pop(i)
            self.waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self.waiter, SETUP_TIMEOUT)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# ---------------------------------------------------------------- protocol per kind
def encode(kind: str, message: dict[str, Any], ack: int | None = None) -> bytes:
    """One application message in the wire form of ``kind``."""
    if kind == "socketio":
        event = message.pop("type")
        head = b"42" if ack is None else b"42" + str(ack).encode()
        return head + json.dumps([event, message]).encode()
    return json.dumps(message).encode()


async def open_peers(kind: str, port: int, count: int, prefix: str) -> list[Peer]:
    loop = asyncio.get_running_loop()
    peers: list[Peer] = []
    for start in range(0, count, OPEN_BATCH):
        futures = []
        for i in range(start, min(start + OPEN_BATCH, count)):
            opened: asyncio.Future[Peer] = loop.create_future()
            await loop.create_connection(
                lambda o=opened, u=f"{prefix}{i}": Peer(kind, u, o), "127.0.0.1", port
            )
            futures.append(opened)
        batch = await asyncio.wait_for(asyncio.gather(*futures), SETUP_TIMEOUT)
        if kind == "rtcsignal":
            for peer in batch:
                peer.send(b'{"type":"hello","version":1,"id":1}')
            for peer in batch:
                await peer.reply(lambda m: b'"welcome"' in m)
        peers.extend(batch)
    return peers


async def join(kind: str, peers: list[Peer], room: str) -> None:
    """Join ``peers`` to ``room`` one after the other; learn each peer's id."""
    for peer in peers:
        peer.send(encode(kind, {"type": "join", "room": room, "id": 2}, ack=1))
        reply = await peer.reply(lambda m: m.startswith(b"431") or _answers(m, 2))
        if kind == "socketio":
            peer.pid = json.loads(reply[3:])[0]["you"]
        elif kind == "bare":
            peer.pid = json.loads(reply)["you"]
        else:
            peer.pid = json.loads(reply)["result"]["you"]


async def negotiate(kind: str, a: Peer, b: Peer, room: str) -> None:
    """rtcsignal relays candidates only after an offer and an answer (the others relay
    anything): a offers to b, b answers."""
    if kind != "rtcsignal":
        return
    a.send(encode(kind, {"type": "offer", "room": room, "to": b.pid, "sdp": OFFER, "id": 3}))
    await a.reply(lambda m: _answers(m, 3))
    b.send(encode(kind, {"type": "answer", "room": room, "to": a.pid, "sdp": ANSWER, "id": 3}))
    await b.reply(lambda m: _answers(m, 3))


def _answers(payload: bytes, rid: int) -> bool:
    """Whether ``payload`` is the reply to request ``rid`` (compact or spaced JSON)."""
    return f'"id":{rid}'.encode() in payload or f'"id": {rid}'.encode() in payload


def candidate_template(kind: str, room: str, to: str) -> tuple[bytes, bytes]:
    """The frame payload of a candidate to ``to`` split around its sequence number."""
    message = {
        "type": "candidate",
        "room": room,
        "to": to,
        "candidate": CANDIDATE.format(seq="@SEQ@"),  # '@' is in no id alphabet
        "sdp_mid": "0",
        "sdp_mline_index": 0,
    }
    before, after = encode(kind, message).split(b"@SEQ@")
    return before, after


def seq_of(payload: bytes) -> int:
    start = payload.find(b"candidate:") + 10
    return int(payload[start : payload.find(b" ", start)])


class Flow:
    """One sender -> receiver stream of candidates with a window of ``WINDOW``."""

    def __init__(self, kind: str, src: Peer, dst: Peer, room: str) -> None:
        self.src, self.dst = src, dst
        self.before, self.after = candidate_template(kind, room, dst.pid)
        self.sent = self.received = 0
        self.running = False

    def pump(self) -> None:
        send, before, after = self.src.send, self.before, self.after
        while self.running and self.sent - self.received < WINDOW:
            self.sent += 1
            send(before + str(self.sent).encode() + after)

    def on_text(self, payload: bytes) -> None:
        if b"candidate:" in payload:
            self.received += 1
            self.pump()


async def saturate(kind: str, flows: list[Flow], seconds: float, pid: int) -> dict[str, Any]:
    for flow in flows:
        flow.dst.keep = False
        flow.dst.on_text = flow.on_text
        flow.running = True
        flow.pump()
    await asyncio.sleep(0.5)  # warm up
    rates, gen_util = [], []
    cpu0, total0, wall0 = server_cpu(pid), sum(f.received for f in flows), time.perf_counter()
    windows = max(1, round(seconds))
    for _ in range(windows):
        before, t0, p0 = sum(f.received for f in flows), time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds / windows)
        elapsed = time.perf_counter() - t0
        rates.append((sum(f.received for f in flows) - before) / elapsed)
        gen_util.append((time.process_time() - p0) / elapsed)
    relayed = sum(f.received for f in flows) - total0
    cpu = server_cpu(pid) - cpu0
    wall = time.perf_counter() - wall0
    for flow in flows:
        flow.running = False
    return {
        "rate_median": statistics.median(rates),
        "rates": rates,
        "server_cpu_per_100k": cpu / relayed * 100_000 if relayed else None,
        "server_util": cpu / wall,
        "generator_util": statistics.median(gen_util),
    }


async def _pairs(kind: str, ports: list[int], n: int, prefix: str) -> list[Peer]:
    """``2 n`` peers: each pair's first on ``ports[0]``, its second on ``ports[-1]`` (two
    instances of a cluster: every relay crosses)."""
    firsts = await open_peers(kind, ports[0], n, prefix + "a")
    seconds = await open_peers(kind, ports[-1], n, prefix + "b")
    return [peer for pair in zip(firsts, seconds, strict=True) for peer in pair]


async def scenario_pairs(kind: str, ports: list[int], pid: str, n: int, seconds: float) -> Any:
    peers = await _pairs(kind, ports, n, "p")
    flows = []
    for i in range(n):
        a, b = peers[2 * i], peers[2 * i + 1]
        await join(kind, [a, b], f"pair{i:04d}")
        await negotiate(kind, a, b, f"pair{i:04d}")
        flows.append(Flow(kind, a, b, f"pair{i:04d}"))
    result = await saturate(kind, flows, seconds, pid)
    for peer in peers:
        peer.close()
    return result


async def scenario_room(kind: str, port: int, pid: int, n: int, seconds: float) -> Any:
    peers = await open_peers(kind, port, n, "r")
    await join(kind, peers, "bigroom")
    flows = []
    for i in range(n):
        a, b = peers[i], peers[(i + 1) % n]
        await negotiate(kind, a, b, "bigroom")
        flows.append(Flow(kind, a, b, "bigroom"))
    for peer in peers:
        peer.inbox.clear()
    # each peer receives from its predecessor only, so each flow owns its receiver
    result = await saturate(kind, flows, seconds, pid)
    for peer in peers:
        peer.close()
    return result


async def scenario_latency(
    kind: str, ports: list[int], pid: str, n: int, rate: float, seconds: float
) -> Any:
    peers = await _pairs(kind, ports, n, "l")
    flows = []
    for i in range(n):
        a, b = peers[2 * i], peers[2 * i + 1]
        await join(kind, [a, b], f"lat{i:04d}")
        await negotiate(kind, a, b, f"lat{i:04d}")
        flows.append(Flow(kind, a, b, f"lat{i:04d}"))
    sent_at: dict[int, float] = {}
    latencies: list[float] = []

    def received(payload: bytes) -> None:
        if b"candidate:" in payload:
            t = sent_at.pop(seq_of(payload), None)
            if t is not None:
                latencies.append(time.perf_counter() - t)

    for flow in flows:
        flow.dst.keep = False
        flow.dst.on_text = received
    tick = 0.005
    per_tick = rate * tick
    owed, seq, end = 0.0, 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        owed += per_tick
        while owed >= 1:
            owed -= 1
            seq += 1
            flow = flows[seq % n]
            sent_at[seq] = time.perf_counter()
            flow.src.send(flow.before + str(seq).encode() + flow.after)
        await asyncio.sleep(tick)
    await asyncio.sleep(0.5)  # let the last ones arrive
    for peer in peers:
        peer.close()
    latencies.sort()
    return {
        "sent": seq,
        "received": len(latencies),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


async def scenario_idle(kind: str, port: int, pid: int, counts: list[int]) -> Any:
    await asyncio.sleep(0.5)
    base = server_rss(pid)
    peers: list[Peer] = []
    result = {}
    for count in counts:
        peers += await open_peers(kind, port, count - len(peers), f"i{len(peers)}-")
        for peer in peers:
            peer.keep = False
            peer.inbox.clear()
        await asyncio.sleep(1.0)  # let the server settle
        result[str(count)] = (server_rss(pid) - base) / count
    for peer in peers:
        peer.close()
    return result


async def scenario_storm(kind: str, port: int, pid: int, n: int) -> Any:
    peers = await open_peers(kind, port, n, "s")
    done = asyncio.Event()
    finished = 0

    def watcher(peer: Peer) -> Callable[[bytes], None]:
        state = {"replied": False, "seen": 0}

        def on_text(payload: bytes) -> None:
            nonlocal finished
            if payload.startswith(b"431") or _answers(payload, 2):
                state["replied"] = True
                state["seen"] += _peers_in_reply(kind, payload)
            elif b"participant_joined" in payload:
                state["seen"] += 1
            if state["replied"] and state["seen"] == n - 1:
                state["seen"] += 1  # count once
                finished += 1
                if finished == n:
                    done.set()

        return on_text

    for peer in peers:
        peer.keep = False
        peer.on_text = watcher(peer)
    frame = encode(kind, {"type": "join", "room": "storm", "id": 2}, ack=1)
    start = time.perf_counter()
    for peer in peers:
        peer.send(frame)
    await asyncio.wait_for(done.wait(), SETUP_TIMEOUT)
    elapsed = time.perf_counter() - start
    for peer in peers:
        peer.close()
    return {"seconds": elapsed}


def _peers_in_reply(kind: str, payload: bytes) -> int:
    if kind == "socketio":
        return len(json.loads(payload[3:])[0]["peers"])
    if kind == "bare":
        return len(json.loads(payload)["peers"])
    return len(json.loads(payload)["result"]["participants"]) - 1  # minus oneself


def main() -> None:
    kind, port, pid, scenario, *args = sys.argv[1:]
    kind = kind.split("-")[0]  # "rtcsignal-redis" speaks rtcsignal's protocol
    ports = [int(p) for p in port.split(",")]
    runs = {
        "pairs": lambda: scenario_pairs(kind, ports, pid, int(args[0]), float(args[1])),
        "room": lambda: scenario_room(kind, int(port), int(pid), int(args[0]), float(args[1])),
        "latency": lambda: scenario_latency(
            kind, ports, pid, int(args[0]), float(args[1]), float(args[2])
        ),
        "idle": lambda: scenario_idle(
            kind, int(port), int(pid), [int(a) for a in args[0].split(",")]
        ),
        "storm": lambda: scenario_storm(kind, int(port), int(pid), int(args[0])),
    }
    result = asyncio.run(runs[scenario]())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
