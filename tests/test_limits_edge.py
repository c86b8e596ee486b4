"""Every documented limit at its edge, over a real socket, through every adapter.

Each limit of ``rtcsignal.protocol`` (``_limits.py``, listed in ``docs/protocol.md``)
and of the server config is driven at exactly the limit (accepted, and delivered where
it is relayed) and one past it (the documented error code, or close code 1009 for the
frame size); after the refusal the sender's state is intact (it is still in its room and
its next request works) and the other client received nothing of it. One server per
adapter serves the whole module; each test opens its own two connections.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness_adapters import ADAPTERS, Served, hello, open_client, serve_adapter, settings
from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, OFFER
from rtcsignal.core import ServerConfig
from rtcsignal.ratelimit import RatePolicy

_WIDE = {"rate": 1e6, "burst": 1e6}
_COUNTER = itertools.count(1)


def _wide_rates() -> RatePolicy:
    """Limits this module does not test (the rate limiter) opened wide."""
    return RatePolicy.from_dict(
        {
            **RatePolicy.default().to_dict(),
            "connection": _WIDE,
            "user": _WIDE,
            "address": _WIDE,
            "room": _WIDE,
            "kinds": {},
            "default_kind": {"limit": _WIDE, "on_deny": "reject"},
        }
    )


@pytest.fixture(scope="module", params=ADAPTERS)
def edge(request: pytest.FixtureRequest) -> Iterator[Served]:
    server = serve_adapter(request.param, settings(server=ServerConfig(), rate=_wide_rates()))
    yield server
    server.stop()


class Pair:
    """Two users in one fresh room: ``a`` (joined first: the host) and ``b``."""

    def __init__(self, served: Served) -> None:
        n = next(_COUNTER)
        self.room = f"edge-{n}"
        self.a = open_client(served, f"a{n}")
        self.b = open_client(served, f"b{n}")
        hello(self.a)
        hello(self.b)
        self.a_id = self.a.request({"type": "join", "room": self.room})["result"]["you"]
        self.b_id = self.b.request({"type": "join", "room": self.room})["result"]["you"]
        self.a.expect("participant_joined")

    def refused(self, message: dict[str, Any], code: str, field: str | None = None) -> None:
        """``a`` sends ``message``: refused with ``code`` (naming ``field``); then ``a``
        is still in the room and ``b`` saw nothing of the refused frame."""
        reply = self.a.request(message)
        assert reply["type"] == "error", reply
        assert reply["code"] == code, reply
        if field is not None:
            assert (reply.get("details") or {}).get("field") == field, reply
        self.untouched()

    def untouched(self) -> None:
        marker = f"still-{next(_COUNTER)}"
        assert self.a.request({"type": "chat", "room": self.room, "text": marker})["type"] == "ok"
        while True:  # b's next frame is a's marker: nothing of the refused frame before it
            frame = self.b.recv()
            if frame["type"] == "chat":
                assert frame["text"] == marker, frame
                break
            assert frame["type"] not in _RELAYED, frame
        assert self.b.request({"type": "ping"})["type"] == "pong"


_RELAYED = {"chat", "reaction", "app", "offer", "answer", "candidate", "room_updated"}


@pytest.fixture
def pair(edge: Served) -> Pair:
    return Pair(edge)


# ------------------------------------------------------------------------- frames
def _padded(size: int) -> str:
    """A valid ``ping`` JSON text frame of exactly ``size`` bytes (JSON whitespace)."""
    body = '{"type":"ping","id":1}'
    return body[:-1] + " " * (size - len(body)) + "}"


def test_frame_size(pair: Pair) -> None:
    pair.a.send(_padded(p.MAX_FRAME_BYTES))
    assert pair.a.recv() == {"type": "pong", "id": 1}
    pair.untouched()
    pair.a.send(_padded(p.MAX_FRAME_BYTES + 1))
    code, _ = pair.a.closed()
    assert code == p.CloseCode.MESSAGE_TOO_BIG
    assert pair.b.request({"type": "ping"})["type"] == "pong"  # b is unaffected


# ------------------------------------------------------------------- field lengths
# (limit, field as the error names it, the message at a given length)
FIELDS: dict[str, tuple[int, str, Any]] = {
    "name": (p.MAX_NAME_CHARS, "name", lambda r, n: {"type": "join", "room": r, "name": "n" * n}),
    "chat": (p.MAX_CHAT_CHARS, "text", lambda r, n: {"type": "chat", "room": r, "text": "c" * n}),
    "reaction": (
        p.MAX_REACTION_CHARS,
        "emoji",
        lambda r, n: {"type": "reaction", "room": r, "emoji": "e" * n},
    ),
    "layout": (
        p.MAX_LAYOUT_CHARS,
        "layout",
        lambda r, n: {"type": "set_layout", "room": r, "layout": "l" * n},
    ),
    "app_type": (
        p.MAX_APP_TYPE_CHARS,
        "app_type",
        lambda r, n: {"type": "app", "room": r, "app_type": "t." + "t" * (n - 2), "payload": 1},
    ),
    "room_id": (64, "room", lambda r, n: {"type": "join", "room": (r + "-" * 64)[:n]}),
    "request_id": (
        p.MAX_REQUEST_ID_CHARS,
        "id",
        lambda r, n: {"type": "chat", "room": r, "text": "i", "id": "i" * n},
    ),
}


@pytest.mark.parametrize("limit", sorted(FIELDS))
def test_field_length(pair: Pair, limit: str) -> None:
    size, field, build = FIELDS[limit]
    at = build(pair.room, size)
    if limit == "name":  # in another room (joining the same one again is already_in_room)
        at["room"] = past_room = f"{pair.room}-n"
    if limit == "request_id":
        pair.a.send(at)
        reply = pair.a.recv()
        assert (reply["type"], reply["id"]) == ("ok", "i" * size), reply
    else:
        reply = pair.a.request(at)
        assert reply["type"] == "ok", reply
    relayed_as = {"layout": "room_updated", "app_type": "app", "request_id": "chat"}
    if limit in ("chat", "reaction", "app_type", "layout", "request_id"):
        relayed = pair.b.expect(relayed_as.get(limit, limit))
        key = "text" if limit == "request_id" else field
        assert relayed[key] == at[key]
    past = build(pair.room, size + 1)
    if limit == "name":
        past["room"] = past_room + "x"
    if limit == "request_id":
        pair.a.send(past)
        reply = pair.a.recv()
        assert reply["type"] == "error" and reply["code"] == "invalid_message", reply
        pair.untouched()
    elif limit == "room_id":
        pair.refused(past, "invalid_message", "room")
    else:
        pair.refused(past, "invalid_message", field)


def test_numeric_request_id(pair: Pair) -> None:
    """Integer ids are exact in JSON up to 2**53-1 (JavaScript's safe integers)."""
    chat = {"type": "chat", "room": pair.room, "text": "n"}
    pair.a.send({**chat, "id": p.MAX_REQUEST_ID_INT})
    assert pair.a.recv() == {"type": "ok", "id": p.MAX_REQUEST_ID_INT}
    pair.b.expect("chat")
    pair.a.send({**chat, "id": p.MAX_REQUEST_ID_INT + 1})
    reply = pair.a.recv()
    assert (reply["type"], reply["code"]) == ("error", "invalid_message"), reply
    pair.untouched()


def test_resume_token_length(edge: Served) -> None:
    """A token of the maximum length is read (and is unknown); one longer is refused."""
    n = next(_COUNTER)
    client = open_client(edge, f"t{n}")
    at = "t" * p.MAX_TOKEN_CHARS
    reply = client.request({"type": "hello", "version": 1, "resume": at, "last_seq": 0})
    assert (reply["type"], reply["code"]) == ("error", "resume_failed"), reply
    reply = client.request({"type": "hello", "version": 1, "resume": at + "t", "last_seq": 0})
    assert (reply["type"], reply["code"]) == ("error", "invalid_message"), reply
    assert reply["details"]["field"] == "resume"
    hello(client)  # the connection is still waiting for its handshake, and completes it


# ------------------------------------------------------------------ rooms, invitees
def test_rooms_per_session(pair: Pair) -> None:
    limit = ServerConfig().max_rooms_per_session
    for i in range(limit - 1):  # a is in pair.room already
        assert pair.a.request({"type": "join", "room": f"{pair.room}-r{i}"})["type"] == "ok"
    pair.refused({"type": "join", "room": f"{pair.room}-over"}, "too_many_rooms")
    assert pair.a.request({"type": "leave", "room": f"{pair.room}-r0"})["type"] == "ok"
    assert pair.a.request({"type": "join", "room": f"{pair.room}-over"})["type"] == "ok"


def test_invitees(pair: Pair) -> None:
    users = [f"nobody-{i}" for i in range(p.MAX_INVITEES)]
    reply = pair.a.request({"type": "call_invite", "to": users, "media": "audio"})
    assert reply["type"] == "ok", reply
    call = reply["result"]["id"]
    assert pair.a.request({"type": "call_cancel", "call": call})["type"] == "ok"
    pair.refused(
        {"type": "call_invite", "to": [*users, "one-more"], "media": "audio"},
        "invalid_message",
        "to",
    )
    long_user = "u" * p.MAX_USER_ID_CHARS
    reply = pair.a.request({"type": "call_invite", "to": [long_user], "media": "audio"})
    assert reply["type"] == "ok", reply
    assert pair.a.request({"type": "call_cancel", "call": reply["result"]["id"]})["type"] == "ok"
    too_long = {"type": "call_invite", "to": [long_user + "u"], "media": "audio"}
    pair.refused(too_long, "invalid_message", "to[0]")


# ------------------------------------------------------------- SDP and candidates
def _sdp_of(size: int) -> str:
    """The demo offer padded with ``a=x-pad`` lines to exactly ``size`` bytes."""
    text = OFFER
    lines: list[str] = []
    room = size - len(text)
    while room > 0:
        chunk = min(room, 1000)
        if chunk < len("a=x-pad:x\r\n"):
            lines[-1] = lines[-1][:-2] + "y" * chunk + "\r\n"
            break
        lines.append("a=x-pad:" + "p" * (chunk - len("a=x-pad:\r\n")) + "\r\n")
        room -= chunk
    padded = text + "".join(lines)
    assert len(padded.encode()) == size
    return padded


def test_sdp_size(pair: Pair) -> None:
    at = _sdp_of(p.MAX_SDP_BYTES)
    offer = {"type": "offer", "room": pair.room, "to": pair.b_id, "sdp": at}
    reply = pair.a.request(offer)
    assert reply["type"] == "ok", reply
    assert pair.b.expect("offer")["sdp"] == at
    past = {**offer, "sdp": _sdp_of(p.MAX_SDP_BYTES + 1)}
    pair.refused(past, "invalid_message", "sdp")
    # the negotiation the first offer opened is intact: b's answer goes through
    answer = {"type": "answer", "room": pair.room, "to": pair.a_id, "sdp": ANSWER}
    assert pair.b.request(answer)["type"] == "ok"
    assert pair.a.expect("answer")["sdp"] == ANSWER


def _candidate_of(size: int) -> str:
    head = "candidate:1 1 udp 2122260223 203.0.113.7 54400 typ host generation 0 x-pad "
    return head + "p" * (size - len(head))


def test_candidate_size(pair: Pair) -> None:
    offer = {"type": "offer", "room": pair.room, "to": pair.b_id, "sdp": OFFER}
    assert pair.a.request(offer)["type"] == "ok"
    pair.b.expect("offer")
    answer = {"type": "answer", "room": pair.room, "to": pair.a_id, "sdp": ANSWER}
    assert pair.b.request(answer)["type"] == "ok"
    at = _candidate_of(p.MAX_CANDIDATE_CHARS)
    assert len(at) == p.MAX_CANDIDATE_CHARS
    message = {"type": "candidate", "room": pair.room, "to": pair.b_id, "sdp_mid": "0"}
    reply = pair.a.request({**message, "candidate": at})
    assert reply["type"] == "ok", reply
    assert pair.b.expect("candidate")["candidate"] == at
    past = {**message, "candidate": _candidate_of(p.MAX_CANDIDATE_CHARS + 1)}
    pair.refused(past, "invalid_message", "candidate")


# ------------------------------------------------------------ app payload, stats
def test_app_payload(pair: Pair) -> None:
    payload = "x" * (p.MAX_APP_PAYLOAD_BYTES - 2)  # a JSON string: two quotes
    assert len(json.dumps(payload)) == p.MAX_APP_PAYLOAD_BYTES
    message = {"type": "app", "room": pair.room, "app_type": "edge.test", "payload": payload}
    assert pair.a.request(message)["type"] == "ok"
    assert pair.b.expect("app")["payload"] == payload
    pair.refused({**message, "payload": payload + "x"}, "invalid_message", "payload")


def test_stats_keys(pair: Pair) -> None:
    report = {f"k{i}": i for i in range(p.MAX_STATS_KEYS)}
    message = {"type": "stats", "room": pair.room, "report": report}
    assert pair.a.request(message)["type"] == "ok"
    pair.refused({**message, "report": {**report, "over": 1}}, "invalid_message", "report")


# -------------------------------------------------------------------- chat history
def test_chat_history(edge: Served, pair: Pair) -> None:
    """The join snapshot carries the last ``chat_history`` messages: all of them at the
    limit, the oldest dropped one past it."""
    limit = ServerConfig().default_room.chat_history
    for i in range(1, limit + 1):
        assert pair.a.request({"type": "chat", "room": pair.room, "text": f"m{i}"})["type"] == "ok"

    def joiner_sees() -> list[str]:
        n = next(_COUNTER)
        client = open_client(edge, f"c{n}")
        hello(client)
        snapshot = client.request({"type": "join", "room": pair.room})["result"]
        client.close()
        return [chat["text"] for chat in snapshot["chat"]]

    assert joiner_sees() == [f"m{i}" for i in range(1, limit + 1)]
    assert pair.a.request({"type": "chat", "room": pair.room, "text": "over"})["type"] == "ok"
    assert joiner_sees() == [*(f"m{i}" for i in range(2, limit + 1)), "over"]


def test_every_limit_here_is_a_documented_one() -> None:
    """The limits this module drives are the protocol's (names and values in the docs)."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text("utf-8")
    for name in (
        "MAX_FRAME_BYTES", "MAX_SDP_BYTES", "MAX_CANDIDATE_CHARS", "MAX_NAME_CHARS",
        "MAX_CHAT_CHARS", "MAX_REACTION_CHARS", "MAX_LAYOUT_CHARS", "MAX_APP_TYPE_CHARS",
        "MAX_APP_PAYLOAD_BYTES", "MAX_INVITEES", "MAX_STATS_KEYS", "MAX_REQUEST_ID_CHARS",
        "MAX_TOKEN_CHARS", "MAX_USER_ID_CHARS", "MAX_REQUEST_ID_INT",
    ):  # fmt: skip
        value = getattr(p, name)
        assert f"{value:,}" in docs, name
    assert f"| {ServerConfig().max_rooms_per_session} (" in docs
