"""One layer's loop for ``bench_instructions``: ``python -m benchmarks.instr LAYER N``.

Sets up two peers in a room with a completed offer/answer (as ``bench_core`` does), then
runs ``LAYER`` ``N`` times on the same candidate frame (``fanoutK``: a chat message to a
room of ``1 + K`` peers instead). Nothing is printed or timed.
"""

from __future__ import annotations

import json
import sys

import msgspec

from benchmarks.bench_core import _pair
from rtcsignal import protocol as p
from rtcsignal._demo import CANDIDATE
from rtcsignal.core import Identity, Server
from rtcsignal.testing import CountingIds


def main() -> None:
    layer, n = sys.argv[1], int(sys.argv[2])
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
    msg = p.decode_client(frame)
    assert isinstance(msg, p.Candidate)
    clock = now
    if layer == "relay":
        receive = server.receive
        for _ in range(n):
            clock += 0.05  # the per-kind limits never deny: the allowed path
            receive(a, frame, clock)
    elif layer == "decode":
        decode = p.decode_client
        for _ in range(n):
            decode(frame)
    elif layer == "limiter":
        edge = server._edge
        conn = edge.conns[a]
        check = edge.limiter.check
        user, address = conn.identity.user, conn.identity.address
        for _ in range(n):
            clock += 0.05
            check(
                kind="candidate", now=clock, connection=a, user=user, address=address, room="bench"
            )
    elif layer == "encode":
        stamped = msgspec.structs.replace(msg, from_="p1", seq=7)
        encode = p.encoder(p.Format.JSON)
        for _ in range(n):
            encode(stamped)
    elif layer.startswith("fanout"):  # fanoutK: a chat to a room of 1 + K peers
        server, sender = _room(int(layer.removeprefix("fanout")))
        receive = server.receive
        chat = '{"type":"chat","room":"fan","text":"hello, everyone"}'
        for _ in range(n):
            clock += 1.0  # the per-kind limits never deny: the allowed path
            receive(sender, chat, clock)
    else:
        raise SystemExit(f"unknown layer {layer}")


def _room(recipients: int) -> tuple[Server, str]:
    """A server with one room of ``1 + recipients`` JSON peers; returns the first's
    connection."""
    server = Server(id_factory=CountingIds())
    conns = []
    for i in range(1 + recipients):
        conn = server.connect(Identity(user=f"u{i}", address=f"127.0.0.{i + 1}"), 1.0)
        server.receive(conn, '{"type":"hello","version":1}', 1.0)
        server.receive(conn, '{"type":"join","room":"fan","id":1}', 1.0)
        conns.append(conn)
    return server, conns[0]


if __name__ == "__main__":
    main()
