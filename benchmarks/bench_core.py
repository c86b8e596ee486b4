"""The core alone, in process: candidate relay cost, joins per second, memory per idle
participant. Anchors measured in the same run: ``json.loads`` + ``json.dumps`` of the
same frame (the floor any relay pays) and a bare dict-of-rooms relay without validation.

What is measured for one candidate relay: ``Server.receive`` of a JSON text frame =
decode + validation, the rate-limit check across every scope, membership and negotiation
checks, candidate grammar validation, stamping ``from``/``seq``, encoding, and the
replay-buffer append. No sockets: a WebSocket frame costs far more than this.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable

from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, CANDIDATE, OFFER
from rtcsignal.core import Identity, Server
from rtcsignal.testing import CountingIds


def _median_us(fn: Callable[[], object], *, rounds: int, inner: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter_ns() - start) / inner / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def _pair() -> tuple[Server, str, str, str, float]:
    server = Server(id_factory=CountingIds())
    now = 1.0
    a = server.connect(Identity(user="a", address="127.0.0.1"), now)
    b = server.connect(Identity(user="b", address="127.0.0.2"), now)
    pids = []
    for conn in (a, b):
        server.receive(conn, '{"type":"hello","version":1}', now)
        effects = server.receive(conn, '{"type":"join","room":"bench","id":1}', now)
        reply = p.decode_server(effects[0].data.decode())  # type: ignore[union-attr]
        assert isinstance(reply, p.Ok)
        assert isinstance(reply.result, p.RoomSnapshot)
        pids.append(reply.result.you)
    server.receive(
        a, json.dumps({"type": "offer", "room": "bench", "to": pids[1], "sdp": OFFER}), now
    )
    server.receive(
        b, json.dumps({"type": "answer", "room": "bench", "to": pids[0], "sdp": ANSWER}), now
    )
    return server, a, b, pids[1], now


def bench_candidate_relay(quick: bool) -> dict[str, tuple[float, float]]:
    server, a, _, to_b, now = _pair()
    frame = json.dumps(
        {
            "type": "candidate",
            "room": "bench",
            "to": to_b,
            "candidate": CANDIDATE,
            "sdp_mid": "0",
            "sdp_mline_index": 0,
            "username_fragment": "Fv3U",
        }
    )
    clock = [now]

    def relay() -> object:
        # advance time so the per-kind limits never deny: this measures the allowed path
        clock[0] += 0.05
        effects = server.receive(a, frame, clock[0])
        assert len(effects) == 1
        return effects

    def floor() -> object:
        return json.dumps(json.loads(frame)).encode()

    rooms: dict[str, list[str]] = {"bench": ["a", "b"]}
    sent: list[bytes] = []

    def bare() -> object:
        msg = json.loads(frame)
        for peer in rooms[msg["room"]]:
            if peer != "a":
                msg["from"] = "a"
                sent.append(json.dumps(msg).encode())
        sent.clear()
        return None

    rounds, inner = (15, 2000) if quick else (41, 10000)
    out: dict[str, tuple[float, float]] = {}
    # interleave so noise hits every candidate equally
    results: dict[str, list[tuple[float, float]]] = {
        "rtcsignal": [],
        "json floor": [],
        "bare relay": [],
    }
    for _ in range(3):
        results["rtcsignal"].append(_median_us(relay, rounds=rounds, inner=inner))
        results["json floor"].append(_median_us(floor, rounds=rounds, inner=inner))
        results["bare relay"].append(_median_us(bare, rounds=rounds, inner=inner))
    for name, runs in results.items():
        out[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    return out


def bench_joins(quick: bool) -> float:
    n = 2000 if quick else 10000
    server = Server(id_factory=CountingIds())
    conns = []
    for i in range(n):
        conn = server.connect(Identity(user=f"u{i}", address=f"127.0.{i // 250}.{i % 250}"), 1.0)
        server.receive(conn, '{"type":"hello","version":1}', 1.0)
        conns.append(conn)
    frames = [f'{{"type":"join","room":"r{i // 40:05d}","id":1}}' for i in range(n)]
    start = time.perf_counter()
    for conn, frame in zip(conns, frames, strict=True):
        server.receive(conn, frame, 2.0)
    return n / (time.perf_counter() - start)


def bench_idle_memory(quick: bool) -> float:
    n = 1000 if quick else 5000
    gc.collect()
    tracemalloc.start()
    server = Server(id_factory=CountingIds())
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        conn = server.connect(Identity(user=f"u{i}", address="127.0.0.1"), 1.0)
        server.receive(conn, '{"type":"hello","version":1}', 1.0)
        server.receive(conn, f'{{"type":"join","room":"r{i // 10:05d}","id":1}}', 1.0)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


def main(quick: bool) -> str:
    relay = bench_candidate_relay(quick)
    joins = bench_joins(quick)
    memory = bench_idle_memory(quick)
    ours = relay["rtcsignal"][0]
    lines = [
        "## Core, in process (`benchmarks/bench_core.py`)",
        "",
        "| candidate relay via `Server.receive` | median us | p90 us | relays/s | vs rtcsignal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, (med, p90) in relay.items():
        lines.append(f"| {name} | {med:.2f} | {p90:.2f} | {1e6 / med:,.0f} | {med / ours:.2f}x |")
    lines += [
        "",
        f"- joins/s (new participant in a room of up to 40, snapshot reply): **{joins:,.0f}**",
        f"- memory per idle participant (session + connection + membership, tracemalloc): "
        f"**{memory:,.0f} bytes**",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick=True))
