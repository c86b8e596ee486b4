"""The conformance suite: every adapter, over real sockets on loopback, behaves the same.

Each test runs once per adapter (the ``served`` fixture). The client is the plain
``websockets`` library sending raw frames.
"""

from __future__ import annotations

import json
import socket

import msgspec
import pytest

from harness_adapters import (
    MAX_CONNECTIONS_PER_USER,
    SECRET,
    Served,
    hello,
    open_client,
)
from rtcsignal._demo import ANSWER, CANDIDATE, OFFER
from rtcsignal.auth import mint_token
from rtcsignal.protocol import MAX_FRAME_BYTES


def test_handshake_and_protocol_version(served: Served) -> None:
    client = open_client(served, "alice")
    welcome = hello(client)
    assert welcome["version"] == 1
    assert welcome["user"] == "alice"
    assert len(welcome["session"]) >= 22  # 128-bit ids from secrets
    assert welcome["resume_token"] != welcome["session"]
    again = client.request({"type": "hello", "version": 1})
    assert again["code"] == "already_welcomed"
    other = open_client(served, "bob")
    refused = other.request({"type": "hello", "version": 99})
    assert refused["code"] == "unsupported_version"
    assert refused["details"] == {"supported": [1]}
    client.close()
    other.close()


def test_messagepack_binary_frames(served: Served) -> None:
    client = open_client(served, "alice")
    client.send(msgspec.msgpack.encode({"type": "hello", "version": 1, "id": 7}))
    reply = msgspec.msgpack.decode(client.recv())
    assert reply["type"] == "welcome"
    assert reply["id"] == 7
    client.close()


@pytest.mark.parametrize(
    ("user", "origin", "reason"),
    [
        (None, "http://good.example", "no token"),
        ("alice", "http://evil.example", "origin http://evil.example is not allowed"),
    ],
)
def test_auth_rejection_closes_4003_with_reason(
    served: Served, user: str | None, origin: str, reason: str
) -> None:
    client = open_client(served, user, origin=origin)
    assert client.closed() == (4003, reason)
    assert served.runtime.health().connections == 0
    assert served.metrics.total("rtcsignal_handshake_refused_total", reason="unauthorized") == 1


def test_bad_and_expired_tokens_are_refused(served: Served) -> None:
    from websockets.sync.client import connect

    from harness_adapters import GOOD_ORIGIN, Client

    forged = mint_token("x" * 32, user="mallory", ttl=60, now=0.0)
    expired = mint_token(SECRET, user="alice", ttl=1, now=1_000.0)
    for bad, reason in [(forged, "bad token signature"), (expired, "token expired")]:
        url = f"{served.url}?token={bad}"
        client = Client(connect(url, origin=GOOD_ORIGIN, open_timeout=5, legacy=True))
        served.clients.append(client)
        assert client.closed() == (4003, reason)
    assert served.runtime.health().connections == 0


def test_relay_between_two_clients(served: Served) -> None:
    alice, bob = open_client(served, "alice"), open_client(served, "bob")
    hello(alice)
    hello(bob)
    a_pid = alice.request({"type": "join", "room": "standup"})["result"]["you"]
    b_pid = bob.request({"type": "join", "room": "standup"})["result"]["you"]
    joined = alice.expect("participant_joined")
    assert joined["participant"]["id"] == b_pid
    bob.request({"type": "offer", "room": "standup", "to": a_pid, "sdp": OFFER})
    offer = alice.expect("offer")
    assert (offer["from"], offer["sdp"]) == (b_pid, OFFER)
    ok = alice.request({"type": "answer", "room": "standup", "to": b_pid, "sdp": ANSWER})
    assert ok["type"] == "ok"
    assert bob.expect("answer")["sdp"] == ANSWER
    candidate = {
        "type": "candidate",
        "room": "standup",
        "to": a_pid,
        "candidate": CANDIDATE,
        "sdp_mid": "0",
        "sdp_mline_index": 0,
    }
    for _ in range(20):
        bob.send(candidate)
    seqs = [alice.expect("candidate")["seq"] for _ in range(20)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 20
    alice.close()
    bob.close()


def test_typed_errors(served: Served) -> None:
    client = open_client(served, "alice")
    client.send("{not json")
    assert client.recv()["code"] == "malformed_frame"
    assert client.request({"type": "join", "room": "standup"})["code"] == "hello_required"
    hello(client)
    assert client.request({"type": "teleport"})["code"] == "unknown_type"
    reply = client.request({"type": "offer", "room": "standup", "to": "x" * 22, "sdp": OFFER})
    assert reply["code"] == "not_in_room"
    client.request({"type": "join", "room": "standup"})
    client.send(json.dumps({"type": "join", "room": "a"}))
    assert client.recv()["code"] == "invalid_message"
    missing = client.request({"type": "join"})  # issue 17: the absent field is named
    assert (missing["code"], missing["details"]) == ("invalid_message", {"field": "room"})
    client.send({"type": "ping", "id": ""})  # the empty string is an id (issue 17)
    assert client.recv() == {"type": "pong", "id": ""}
    client.close()


def test_oversize_frame_is_refused_with_1009(served: Served) -> None:
    client = open_client(served, "alice")
    hello(client)
    client.send("x" * (MAX_FRAME_BYTES + 1))
    error = client.recv()
    assert error["code"] == "frame_too_large"
    assert client.closed()[0] == 1009


def test_frame_over_the_transport_limit_is_refused_with_1009(served: Served) -> None:
    client = open_client(served, "alice")
    hello(client)
    client.send("x" * (served.runtime.max_frame_bytes + 1))
    assert client.closed()[0] == 1009


def test_policy_close_1008_over_the_connection_limit(served: Served) -> None:
    clients = [open_client(served, "alice") for _ in range(MAX_CONNECTIONS_PER_USER)]
    for client in clients:
        hello(client)
    extra = open_client(served, "alice")
    code, reason = extra.closed()
    assert code == 1008
    assert "too many connections" in reason
    assert served.runtime.health().connections == MAX_CONNECTIONS_PER_USER
    clients[0].close()
    # the slot is released when a connection ends: a new one is admitted
    for _ in range(100):
        if served.runtime.health().connections < MAX_CONNECTIONS_PER_USER:
            break
        served.call(_pause)
    hello(open_client(served, "alice"))


async def _pause() -> None:
    import anyio

    await anyio.sleep(0.01)


def test_resume_after_a_dropped_socket(served: Served) -> None:
    alice, bob = open_client(served, "alice"), open_client(served, "bob")
    welcome = hello(alice)
    assert (welcome["resumed"], welcome["seq"], welcome["gap"]) == (False, 0, False)
    hello(bob)
    snapshot = alice.request({"type": "join", "room": "standup"})["result"]
    assert (snapshot["join_policy"], snapshot["recording"], snapshot["locked"]) == (
        "open",
        "idle",
        False,
    )
    assert snapshot["participants"][0]["state"] == "connected"
    bob.request({"type": "join", "room": "standup"})
    last_seq = alice.expect("participant_joined")["seq"]
    # the TCP connection dies without a close frame
    alice.ws.socket.shutdown(socket.SHUT_RDWR)
    alice.ws.socket.close()
    presence = bob.expect("participant_updated")
    assert presence["participant"]["state"] == "reconnecting"
    bob.request({"type": "chat", "room": "standup", "text": "are you there?"})
    again = open_client(served, "alice")
    resumed = hello(again, resume=welcome["resume_token"], last_seq=last_seq)
    assert resumed["resumed"] is True
    assert resumed["gap"] is False
    assert resumed["session"] == welcome["session"]
    assert again.expect("chat")["text"] == "are you there?"
    back = bob.expect("participant_updated")["participant"]
    assert back["state"] == "connected"  # issue 17: on the wire, though the default
    assert served.metrics.total("rtcsignal_resumes_total", gap="false") == 1
    again.close()
    bob.close()


def test_graceful_shutdown_sends_going_away_and_1001(served: Served) -> None:
    alice, bob = open_client(served, "alice"), open_client(served, "bob")
    hello(alice)
    hello(bob)
    alice.request({"type": "join", "room": "standup"})
    served.call(served.runtime.shutdown)
    for client in (alice, bob):
        going = client.expect("going_away")
        assert "reconnect" in going["reason"]
        assert client.closed()[0] == 1001
    assert served.runtime.health().connections == 0
    late = open_client(served, "carol")
    assert late.closed()[0] == 1001


def test_bans_profiles_and_hidden_members_on_the_wire(served: Served) -> None:
    # Issue 16, as raw JSON frames through every adapter.
    host, bob, rec = (
        open_client(served, "host"),
        open_client(served, "bob"),
        open_client(served, "rec", hidden=True),
    )
    for client in (host, bob, rec):
        hello(client)
    host_pid = host.request({"type": "join", "room": "pub-room"})["result"]["you"]
    bob_pid = bob.request({"type": "join", "room": "pub-room"})["result"]["you"]
    assert host.expect("participant_joined")["participant"]["id"] == bob_pid
    snap = rec.request({"type": "join", "room": "pub-room"})["result"]
    assert snap["participants"][-1] == {
        "id": snap["you"],
        "user": "rec",
        "role": "participant",
        "order": 3,
        "state": "connected",
        "audio": False,
        "video": False,
        "screen": False,
        "hand": False,
        "hidden": True,
    }
    assert host.expect("participant_joined")["participant"]["hidden"] is True
    update = {"type": "update_me", "room": "pub-room", "name": "Bo", "metadata": {"k": [1]}}
    assert bob.request(update)["type"] == "ok"
    updated = host.expect("participant_updated")["participant"]
    assert (updated["id"], updated["name"], updated["metadata"]) == (bob_pid, "Bo", {"k": [1]})
    kick = {"type": "kick", "room": "pub-room", "target": bob_pid, "ban": True, "duration": 60}
    assert host.request(kick)["type"] == "ok"
    removed = bob.expect("removed")
    assert (removed["reason"], removed["by"]) == ("banned", host_pid)
    refused = bob.request({"type": "join", "room": "pub-room"})
    assert refused["code"] == "banned" and 0 < refused["retry_after"] <= 60
    assert host.request({"type": "unban", "room": "pub-room", "user": "bob"})["type"] == "ok"
    back = bob.request({"type": "join", "room": "pub-room"})["result"]
    # bob (not a moderator) sees neither the recorder nor a ban list
    assert {p["user"] for p in back["participants"]} == {"host", "bob"}
    assert "bans" not in back
    for client in (host, bob, rec):
        client.close()
