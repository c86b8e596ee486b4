"""Rate limits over a real socket (the websockets adapter on loopback): a client that
waits every ``retry_after`` is never closed; one that ignores them is closed 1008."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness_adapters import Served, hello, open_client, serve_adapter, settings
from rtcsignal.ratelimit import RatePolicy

STRIKES = 3
CHAT_BURST = 2


@pytest.fixture
def chatty() -> Iterator[Served]:
    """Chat limited to 50/s with a burst of 2; three strikes close."""
    policy = RatePolicy.from_dict(
        {
            "strikes": STRIKES,
            "strike_window": 10.0,
            "kinds": {"chat": {"limit": {"rate": 50, "burst": CHAT_BURST}, "per": "user"}},
        }
    )
    served = serve_adapter("websockets", settings(rate=policy))
    try:
        yield served
    finally:
        served.stop()


def test_a_client_that_waits_every_retry_after_is_never_closed(chatty: Served) -> None:
    """Issue 17: one chat in flight, retried after each ``retry_after`` as told, many more
    denials than ``strikes``: every message gets through and the socket stays open."""
    alice = open_client(chatty, "alice")
    hello(alice)
    alice.request({"type": "join", "room": "lobby"})
    delivered, denials = 0, 0
    while delivered < 40:
        reply = alice.request({"type": "chat", "room": "lobby", "text": f"m{delivered}"})
        if reply["type"] == "error":
            assert reply["code"] == "rate_limited", reply
            denials += 1
            time.sleep(reply["retry_after"])  # as told; the same message again after
        else:
            assert reply["type"] == "ok", reply
            delivered += 1
    assert denials > STRIKES * 3
    assert alice.request({"type": "ping"})["type"] == "pong"
    alice.close()


def test_a_client_that_ignores_retry_after_is_closed_1008(chatty: Served) -> None:
    bob = open_client(chatty, "bob")
    hello(bob)
    bob.request({"type": "join", "room": "lobby"})
    for i in range(CHAT_BURST + STRIKES + 1):  # the burst, the wait told, the strikes
        bob.send({"type": "chat", "room": "lobby", "text": "spam", "id": 100 + i})
    code, reason = bob.closed()
    assert code == 1008, reason
