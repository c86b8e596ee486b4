"""Fuzz targets: one function per target, ``bytes -> None``, raising only on a bug.

Each target feeds its input to one part of rtcsignal and checks the contract that part
documents: bad input gets a typed error (and nothing else escapes), good input keeps its
invariants. The same functions serve three drivers:

* ``fuzz/atheris_fuzz.py`` runs them under atheris (coverage-guided, libFuzzer-style
  corpora in ``fuzz/corpus/<target>/``); ``nox -s fuzz`` gives each a fixed budget;
* ``tests/test_fuzz_corpus.py`` replays every committed corpus file through them in the
  normal test suite, so a crasher once found stays fixed;
* a developer replays one input by hand: ``python fuzz/targets.py <target> <file>``.

Targets:

``protocol_json`` / ``protocol_msgpack``
    :func:`rtcsignal.protocol.decode_client` on a text / binary frame: a message or a
    :class:`~rtcsignal.protocol.ProtocolError`; a message re-encodes and decodes equal.
``sdp``
    :func:`rtcsignal.sdp.parse`, :func:`~rtcsignal.sdp.validate_offer` and
    :func:`~rtcsignal.sdp.validate_answer` (against a real offer): a description or an
    :class:`~rtcsignal.sdp.SdpError` whose rule is in ``RULES``; a parse serializes back.
``candidate``
    :func:`~rtcsignal.sdp.parse_candidate`, :func:`~rtcsignal.sdp.validate_candidate`
    and :func:`~rtcsignal.sdp.check_candidate` (same verdict from both), the first bytes
    choosing ``sdpMid``/``sdpMLineIndex``/``usernameFragment``.
``settings``
    :meth:`rtcsignal.runtime.RuntimeSettings.from_toml`: settings or a ``SettingsError``.
``server``
    the whole :class:`rtcsignal.core.Server`: the input is a program of steps (connect,
    a frame from one of several connections, drop, tick). After every step: no
    exception escaped and no internal error was reported; a request with an ``id`` got
    exactly one reply; a refused frame sent nothing to any other connection and changed
    no room, session or call; every frame sent decodes as a server message; the rooms
    and sessions agree both ways.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from rtcsignal import protocol as p
from rtcsignal import sdp
from rtcsignal.core import Close, Identity, JoinPolicy, RoomPolicy, Send, Server, ServerConfig
from rtcsignal.core import events as ev
from rtcsignal.ratelimit import RatePolicy
from rtcsignal.runtime import RuntimeSettings, SettingsError
from rtcsignal.testing import CountingIds

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
SAMPLES = ROOT / "tests" / "sdp" / "samples"

_OFFER = sdp.validate_offer((SAMPLES / "chrome_offer.sdp").read_bytes())


# ---------------------------------------------------------------------- decoders
def protocol_json(data: bytes) -> None:
    _decode(data.decode("utf-8", "replace"), p.Format.JSON)


def protocol_msgpack(data: bytes) -> None:
    _decode(data, p.Format.MSGPACK)


def _decode(frame: bytes | str, fmt: p.Format) -> None:
    try:
        msg = p.decode_client(frame)
    except p.ProtocolError as err:
        _check_code(err)
        return
    again = p.encode(msg, fmt)
    assert p.decode_client(again.decode() if fmt is p.Format.JSON else again) == msg


def _check_code(err: p.ProtocolError) -> None:
    assert err.code in set(p.ErrorCode), err.code


def _check_rule(err: sdp.SdpError) -> str:
    assert err.rule in sdp.RULES, err.rule
    assert str(err) and err.to_dict()["rule"] == err.rule
    return err.rule


def _typed_sdp(function: Callable[[], object]) -> object | None:
    try:
        return function()
    except sdp.SdpError as err:
        _check_rule(err)
        return None


def sdp_target(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    parsed = _typed_sdp(lambda: sdp.parse(data))
    if isinstance(parsed, sdp.SessionDescription):
        assert sdp.parse(parsed.to_sdp()).to_sdp() == parsed.to_sdp()
    _typed_sdp(lambda: sdp.validate_offer(text))
    _typed_sdp(lambda: sdp.validate_answer(text, offer=_OFFER))


def candidate(data: bytes) -> None:
    head, text = data[:2], data[2:].decode("utf-8", "replace")
    choice = head[0] if head else 0
    mid = (None, "0", "1", "x")[choice % 4]
    index = (None, 0, 1, 7)[(choice >> 2) % 4]
    ufrag = (None, _OFFER.ice_ufrag_of(0), "zz")[(choice >> 4) % 3]
    description = _OFFER if len(head) < 2 or head[1] % 2 == 0 else None
    _typed_sdp(lambda: sdp.parse_candidate(text))
    kwargs: dict[str, Any] = {
        "sdp_mid": mid,
        "sdp_mline_index": index,
        "username_fragment": ufrag,
        "description": description,
    }
    slow = _verdict(lambda: sdp.validate_candidate(text, **kwargs))
    fast = _verdict(lambda: sdp.check_candidate(text, **kwargs))
    assert slow == fast, (slow, fast)


def _verdict(function: Callable[[], object]) -> str | None:
    try:
        function()
    except sdp.SdpError as err:
        return _check_rule(err)
    return None


def settings(data: bytes) -> None:
    try:
        RuntimeSettings.from_toml(data.decode("utf-8", "replace"))
    except SettingsError as err:
        message = str(err)
    else:
        return
    assert message


# ---------------------------------------------------------------------- the server
USERS = ("ann", "ben", "cat")
ROOMS = ("room1", "room2", "lobby")
MAX_CONNECTIONS = 5
MAX_STEPS = 64
_WIDE = {"rate": 1e6, "burst": 1e6}


def _wide_policy() -> RatePolicy:
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


_CANDIDATE = (
    "candidate:842163049 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0 "
    "generation 0 ufrag " + str(_OFFER.ice_ufrag_of(0)) + " network-cost 999"
)
_OFFER_TEXT = (SAMPLES / "chrome_offer.sdp").read_text(encoding="utf-8")
_ANSWER_TEXT = (SAMPLES / "chrome_answer.sdp").read_text(encoding="utf-8")

# Templates of every client message; "$p" is a known id (participant, session, call),
# "$r" a room, "$u" a user, "$t" a resume token, "$i" the request id.
TEMPLATES: tuple[dict[str, Any], ...] = (
    {"type": "hello", "version": 1},
    {"type": "hello", "version": 1, "resume": "$t", "last_seq": 0},
    {"type": "ping"},
    {"type": "join", "room": "$r", "name": "N"},
    {"type": "leave", "room": "$r"},
    {"type": "media_state", "room": "$r", "audio": True, "hand": False},
    {"type": "mute", "room": "$r", "target": "$p"},
    {"type": "kick", "room": "$r", "target": "$p", "reason": "x"},
    {"type": "transfer_host", "room": "$r", "target": "$p"},
    {"type": "set_role", "room": "$r", "target": "$p", "role": "moderator"},
    {"type": "lock", "room": "$r", "locked": True},
    {"type": "admit", "room": "$r", "target": "$p"},
    {"type": "set_layout", "room": "$r", "layout": "grid"},
    {"type": "recording", "room": "$r", "action": "start"},
    {"type": "offer", "room": "$r", "to": "$p", "sdp": _OFFER_TEXT},
    {"type": "answer", "room": "$r", "to": "$p", "sdp": _ANSWER_TEXT},
    {"type": "candidate", "room": "$r", "to": "$p", "candidate": _CANDIDATE, "sdp_mid": "0"},
    {"type": "end_of_candidates", "room": "$r", "to": "$p"},
    {"type": "chat", "room": "$r", "text": "hi"},
    {"type": "reaction", "room": "$r", "emoji": "+1"},
    {"type": "typing", "room": "$r", "typing": True},
    {"type": "app", "room": "$r", "app_type": "acme.board", "payload": {"a": [1, 2]}},
    {"type": "stats", "room": "$r", "report": {"rtt": 0.1}},
    {"type": "call_invite", "to": ["$u"], "media": "audio"},
    {"type": "call_accept", "call": "$p"},
    {"type": "call_decline", "call": "$p"},
    {"type": "call_cancel", "call": "$p"},
    {"type": "call_hangup", "call": "$p"},
)


class _Program:
    """Reads the input as a sequence of small choices (bounded: it only shrinks)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def chunk(self) -> bytes:
        size = self.byte()
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def done(self) -> bool:
        return self.pos >= len(self.data)


class ServerRun:
    """One server, a few connections, and the checks made after every step."""

    def __init__(self, wide: bool) -> None:
        config = ServerConfig(ring_timeout=20, reconnect_grace=15, max_sessions_per_user=3)
        kwargs: dict[str, Any] = {"rate_policy": _wide_policy()} if wide else {}
        self.server = Server(config, id_factory=CountingIds(), **kwargs)
        self.now = 1000.0
        self.conns: list[str] = []
        self.known: list[str] = ["nobody"]
        self.tokens: list[str] = ["bad-token"]
        self.next_id = 0
        lobby = RoomPolicy(join=JoinPolicy.LOBBY)
        self._apply(self.server.create_room("lobby", lobby, self.now), None)

    # ------------------------------------------------------------------ steps
    def step(self, prog: _Program) -> None:
        op = prog.byte() % 8
        if op == 0 and len(self.conns) < MAX_CONNECTIONS:
            user = USERS[prog.byte() % len(USERS)]
            conn = self.server.connect(Identity(user=user, address="127.0.0.1"), self.now)
            self.conns.append(conn)
        elif op == 1 and self.conns:
            conn = self.conns.pop(prog.byte() % len(self.conns))
            self._apply(self.server.disconnect(conn, self.now), None)
        elif op == 2:
            self.now += prog.byte() * 0.5
            deadline = self.server.next_deadline()
            while deadline is not None and deadline <= self.now:  # bounded: it must advance
                self._apply(self.server.tick(deadline), None)
                nxt = self.server.next_deadline()
                # a tick handles every timer due by then: a runtime re-arming on a deadline
                # that did not move would spin
                assert nxt is None or nxt > deadline, ("the deadline did not advance", nxt)
                deadline = nxt
        elif self.conns:
            conn = self.conns[prog.byte() % len(self.conns)]
            self._frame(conn, prog, raw=op == 7)

    def _frame(self, conn: str, prog: _Program, *, raw: bool) -> None:
        binary = prog.byte() % 2 == 1
        if raw:
            chunk = prog.chunk()
            frame: bytes | str = chunk if binary else chunk.decode("utf-8", "replace")
        else:
            message = self._fill(TEMPLATES[prog.byte() % len(TEMPLATES)], prog)
            mutate = prog.byte()
            if mutate % 4 == 0:  # one field dropped, retyped or renamed
                keys = sorted(message)
                key = keys[prog.byte() % len(keys)]
                value = message.pop(key)
                if mutate % 3 == 1:
                    message[key] = [value]
                elif mutate % 3 == 2:
                    message[key + "_"] = value
            frame = msgspec.msgpack.encode(message) if binary else json.dumps(message)
        before = self._observable()
        fx = self.server.receive(conn, frame, self.now)
        self._check_reply(conn, frame, fx, before)
        self._apply(fx, conn)

    def _fill(self, template: dict[str, Any], prog: _Program) -> dict[str, Any]:
        def value(v: Any) -> Any:
            if v == "$p":
                return self.known[prog.byte() % len(self.known)]
            if v == "$r":
                return ROOMS[prog.byte() % len(ROOMS)]
            if v == "$u":
                return USERS[prog.byte() % len(USERS)]
            if v == "$t":
                return self.tokens[prog.byte() % len(self.tokens)]
            if isinstance(v, list):
                return [value(x) for x in v]
            return v

        self.next_id += 1
        message = {k: value(v) for k, v in template.items()}
        if prog.byte() % 8 != 0:
            message["id"] = self.next_id
        return message

    # ------------------------------------------------------------------ checks
    def _observable(self) -> tuple[Any, ...]:
        rooms = []
        for room_id in self.server.room_ids():
            room = self.server.room(room_id)
            assert room is not None
            members = tuple((m.session, m.info()) for m in room.participants.values())
            rooms.append((room_id, room.host, room.locked, room.layout, room.recording, members))
        sessions = tuple(
            (sid, tuple(sorted(s.rooms.items()))) for sid, s in self.server._edge.sessions.items()
        )
        return (self.server.stats(), tuple(rooms), sessions)

    def _check_reply(
        self, conn: str, frame: bytes | str, fx: list[Any], before: tuple[Any, ...]
    ) -> None:
        try:
            request_id = p.decode_client(frame).id
        except p.ProtocolError as err:
            request_id = err.request_id
        replies: list[Any] = []
        others = []
        closed = any(isinstance(e, Close) and e.conn == conn for e in fx)
        for effect in fx:
            if isinstance(effect, Send):
                message = p.decode_server(effect.data.decode() if effect.text else effect.data)
                if effect.conn != conn:
                    others.append(message)
                elif (
                    isinstance(message, p.Ok | p.Error | p.Welcome | p.Pong)
                    and request_id is not None
                    and message.id == request_id
                ):
                    replies.append(message)
        if request_id is not None:
            assert len(replies) == 1 or (closed and len(replies) < 2), (request_id, replies)
        refused = [r for r in replies if isinstance(r, p.Error)]
        if refused and not closed:
            assert not others, ("a refused frame reached others", refused, others)
            assert self._observable() == before, ("a refused frame changed state", refused)

    def _apply(self, fx: list[Any], sender: str | None, *, check: bool = True) -> None:
        for effect in fx:
            assert not isinstance(effect, ev.InternalError), effect
            if isinstance(effect, Send):
                message = p.decode_server(effect.data.decode() if effect.text else effect.data)
                self._learn(message)
            elif isinstance(effect, Close) and effect.conn in self.conns:
                self.conns.remove(effect.conn)
                self._apply(self.server.disconnect(effect.conn, self.now), None, check=False)
        if check:
            self._invariants()

    def _learn(self, message: Any) -> None:
        """Keep the ids the server hands out (sessions, participants, calls: every
        ``i<n>`` of CountingIds) and the resume tokens, for later frames to name."""
        token = getattr(message, "resume_token", None)
        if isinstance(token, str) and len(self.tokens) < 8:
            self.tokens.append(token)
        stack, budget = [msgspec.to_builtins(message)], 256
        while stack and budget:
            budget -= 1
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif (
                isinstance(value, str)
                and value[:1] == "i"
                and value[1:].isdigit()
                and value not in self.known
                and value != token
                and len(self.known) < 32
            ):
                self.known.append(value)

    def _invariants(self) -> None:
        server = self.server
        sessions = server._edge.sessions
        for room_id in server.room_ids():
            room = server.room(room_id)
            assert room is not None
            members = list(room.participants.values())
            hosts = [m for m in members if m.role is p.Role.HOST]
            assert len(hosts) <= 1 and (len(hosts) == 1) == bool(members), (room_id, members)
            assert not hosts or room.host == hosts[0].id
            assert len(members) <= room.policy.capacity
            assert len({m.session for m in members}) == len(members)
            for sid, pid in room.seats():
                assert sessions[sid].rooms.get(room_id) == pid, (room_id, sid)
        for sid, session in sessions.items():
            for room_id, pid in session.rooms.items():
                room = server.room(room_id)
                assert room is not None and room.seat_of(sid) == pid, (sid, room_id)
            assert session.conn is not None or session.grace_deadline is not None
        assert set(server.connections) >= set(self.conns)


def server(data: bytes) -> None:
    prog = _Program(data)
    run = ServerRun(wide=prog.byte() % 4 != 0)
    for _ in range(MAX_STEPS):
        if prog.done():
            break
        run.step(prog)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "protocol_json": protocol_json,
    "protocol_msgpack": protocol_msgpack,
    "sdp": sdp_target,
    "candidate": candidate,
    "settings": settings,
    "server": server,
}


if __name__ == "__main__":  # replay one input: python fuzz/targets.py TARGET FILE...
    for name in sys.argv[2:]:
        TARGETS[sys.argv[1]](Path(name).read_bytes())
        print("ok", name)
