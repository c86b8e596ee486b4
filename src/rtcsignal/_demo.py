"""``python -m rtcsignal demo``: two participants negotiating through the core, in process.

It runs the real :class:`~rtcsignal.core.Server` on the embedded in-memory default, feeds
it the frames two browsers would send (hello, join, offer, answer, trickled candidates,
chat, a flood, a leave) and prints every frame in and out, so a newcomer sees the whole
protocol without a browser. Ids come from :mod:`secrets`, as in production.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any, TextIO

import msgspec

from rtcsignal.core import Close, Identity, Send, Server

__all__ = ["ANSWER", "OFFER", "register", "run_demo"]

# A data-channel offer/answer pair as Chromium produces them (RFC 8829 §5.2/§5.3).
OFFER = (
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Fv3U\r\n"
    "a=ice-pwd:xXk7sWwMUQvEc2FkqTfM0W3y\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:"
    "DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n"
)
ANSWER = (
    "v=0\r\n"
    "o=- 7362529938371455227 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:aB9z\r\n"
    "a=ice-pwd:Qm2pX8v1LrT5nYc3ZkW7hJ0d\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00:"
    "11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01\r\n"
    "a=setup:active\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n"
)
CANDIDATE = "candidate:842163049 1 udp 2122260223 127.0.0.1 54400 typ host generation 0"


class _Demo:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.now = 0.0
        self.server = Server(id_factory=lambda: secrets.token_urlsafe(12))
        self.names: dict[str, str] = {}
        self.sent = 0

    def say(self, text: str) -> None:
        print(f"\n# {text}", file=self.out)

    def connect(self, user: str) -> str:
        conn = self.server.connect(Identity(user=user, name=user.title()), self.now)
        self.names[conn] = user
        return conn

    def send(self, conn: str, message: dict[str, Any], *, quiet: bool = False) -> list[Any]:
        self.now += 0.01
        frame = json.dumps(message)
        if not quiet:
            print(f"{self.names[conn]:>5} -> server  {_short(frame)}", file=self.out)
        effects = self.server.receive(conn, frame, self.now)
        self.sent += 1
        replies = []
        for effect in effects:
            if isinstance(effect, Send):
                text = effect.data.decode()
                replies.append(json.loads(text))
                if not quiet:
                    print(f"server -> {self.names[effect.conn]:<5} {_short(text)}", file=self.out)
            elif isinstance(effect, Close):
                print(
                    f"server closes {self.names[effect.conn]} ({effect.code} {effect.reason})",
                    file=self.out,
                )
        return replies


def _ok(replies: list[Any]) -> Any:
    return next(r for r in replies if r["type"] == "ok")


def _short(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the scripted two-party negotiation and print the frames. Returns 0."""
    d = _Demo(out)
    d.say("Two browsers connect and say hello (protocol v1).")
    alice, bob = d.connect("alice"), d.connect("bob")
    d.send(alice, {"type": "hello", "version": 1, "id": 1})
    d.send(bob, {"type": "hello", "version": 1, "id": 1})
    d.say("Both join room 'demo'. The first joiner becomes host; bob's join is announced to alice.")
    a_join = d.send(alice, {"type": "join", "room": "demo", "id": 2})
    b_join = d.send(bob, {"type": "join", "room": "demo", "id": 2})
    a_pid = _ok(a_join)["result"]["you"]
    b_pid = _ok(b_join)["result"]["you"]
    d.say("Bob joined later, so bob is the polite peer; he offers to alice (SDP validated first).")
    d.send(bob, {"type": "offer", "room": "demo", "to": a_pid, "sdp": OFFER, "id": 3})
    d.say("A candidate before alice has answered is fine: bob's offer already went first.")
    d.send(
        bob,
        {
            "type": "candidate",
            "room": "demo",
            "to": a_pid,
            "candidate": CANDIDATE,
            "sdp_mid": "0",
            "sdp_mline_index": 0,
            "username_fragment": "Fv3U",
        },
    )
    d.send(alice, {"type": "answer", "room": "demo", "to": b_pid, "sdp": ANSWER, "id": 3})
    d.say("Bad input gets a typed error and changes nothing:")
    d.send(alice, {"type": "answer", "room": "demo", "to": b_pid, "sdp": ANSWER, "id": 4})
    d.send(alice, {"type": "offer", "room": "demo", "to": b_pid, "sdp": "v=0\r\nnonsense", "id": 5})
    d.send(bob, {"type": "kick", "room": "demo", "target": a_pid, "id": 6})
    d.send(bob, {"type": "join", "room": "no", "id": 7})
    d.say("Chat is relayed to the others, never echoed; the sender gets its ok.")
    d.send(alice, {"type": "chat", "room": "demo", "text": "<b>hi</b> (text, never HTML)", "id": 8})
    d.say("A typing flood from bob: the limiter drops what is over the limit, silently.")
    delivered = 0
    for _ in range(20):
        delivered += sum(
            1 for r in d.send(bob, {"type": "typing", "room": "demo", "typing": True}, quiet=True)
        )
    print(f"  20 typing frames from bob, {delivered} reached alice", file=out)
    d.say("Bob's socket drops: not a leave. Alice sees him 'reconnecting'.")
    d.now += 1
    for effect in d.server.disconnect(bob, d.now):
        if isinstance(effect, Send):
            print(f"server -> {d.names[effect.conn]:<5} {_short(effect.data.decode())}", file=out)
    d.say("30 s later his grace period ends: he leaves for real.")
    d.now += 31
    for effect in d.server.tick(d.now):
        if isinstance(effect, Send):
            print(f"server -> {d.names[effect.conn]:<5} {_short(effect.data.decode())}", file=out)
    stats = d.server.stats()
    print(f"\nserver state: {msgspec.json.encode(stats).decode()}", file=out)
    return 0


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run a scripted two-party negotiation through the core, in process"
    )
    parser.set_defaults(handler=lambda _args: run_demo())
