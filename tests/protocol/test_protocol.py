"""Wire protocol: codecs, round trips, limits, and typed errors for every bad frame."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal.protocol import ErrorCode, ProtocolError

ROOT = Path(__file__).resolve().parents[2]

# One example per client message: shared by the encoder and decoder tests.
CLIENT_EXAMPLES: list[p.Request] = [
    p.Hello(version=1),
    p.Hello(version=1, resume="tok", last_seq=3, id=1),
    p.Ping(id="x"),
    p.Join(room="standup", name="Alice", invite="inv"),
    p.Leave(room="standup"),
    p.MediaState(room="standup", audio=True, hand=False),
    p.Mute(room="standup", target="p1", video=True),
    p.Kick(room="standup", target="p1", reason="spam"),
    p.Kick(room="standup", target="p1", ban=True, duration=600.0),
    p.Unban(room="standup", user="mallory"),
    p.UpdateMe(room="standup", name="Alice B.", metadata={"avatar": "https://x.test/a.png"}),
    p.TransferHost(room="standup", target="p1"),
    p.SetRole(room="standup", target="p1", role="moderator"),
    p.Lock(room="standup", locked=True),
    p.Admit(room="standup", target="p1", allow=False),
    p.SetLayout(room="standup", layout="speaker"),
    p.Recording(room="standup", action="start"),
    p.Offer(room="standup", to="p1", sdp="v=0\r\n"),
    p.Answer(room="standup", to="p1", sdp="v=0\r\n"),
    p.Candidate(
        room="standup",
        to="p1",
        candidate="candidate:1 1 udp 1 1.2.3.4 5 typ host",
        sdp_mid="0",
        sdp_mline_index=0,
        username_fragment="abcd",
    ),
    p.EndOfCandidates(room="standup", to="p1"),
    p.Chat(room="standup", text="hello\nworld"),
    p.Reaction(room="standup", emoji="👍"),
    p.Typing(room="standup", typing=True),
    p.App(room="standup", app_type="acme.board", payload={"a": [1, None, "x"]}),
    p.Stats(room="standup", report={"rtt": 0.05, "codec": "opus"}),
    p.CallInvite(to=("bob", "carol"), media="audio"),
    p.CallAccept(call="c1"),
    p.CallDecline(call="c1"),
    p.CallCancel(call="c1"),
    p.CallHangup(call="c1"),
]


def test_every_client_message_has_an_example() -> None:
    tags = {m.__struct_config__.tag for m in CLIENT_EXAMPLES}
    union = {t.__struct_config__.tag for t in p.ClientMessage.__args__}  # type: ignore[attr-defined]
    assert tags == union


@pytest.mark.parametrize("message", CLIENT_EXAMPLES, ids=lambda m: m.__struct_config__.tag)
@pytest.mark.parametrize("fmt", list(p.Format))
def test_round_trip(message: p.Request, fmt: p.Format) -> None:
    data = p.encode(message, fmt)
    frame: bytes | str = data.decode() if fmt is p.Format.JSON else data
    assert p.decode_client(frame) == message


def error_of(frame: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        p.decode_client(frame)
    return info.value


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("{", ErrorCode.MALFORMED_FRAME),
        ("", ErrorCode.MALFORMED_FRAME),
        (b"\xc1", ErrorCode.MALFORMED_FRAME),
        ("[]", ErrorCode.INVALID_MESSAGE),
        ('{"type": "teleport"}', ErrorCode.UNKNOWN_TYPE),
        ('{"id": 1}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "join", "room": "a"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "join", "room": "ab cd"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "join", "room": "' + "x" * 65 + '"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "join", "room": "abc", "name": "a\\u0007b"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "join", "room": "abc", "name": "a\\u0085b"}', ErrorCode.INVALID_MESSAGE),
        (
            '{"type": "chat", "room": "abc", "text": "' + "x" * 2001 + '"}',
            ErrorCode.INVALID_MESSAGE,
        ),
        ('{"type": "hello", "version": "1"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "hello", "version": 1, "id": -1}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "app", "room": "abc", "app_type": "nodot"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "call_invite", "to": []}', ErrorCode.INVALID_MESSAGE),
        ("[" * 100_000 + "]" * 100_000, ErrorCode.FRAME_TOO_LARGE),
        (
            '{"type":"app","room":"abc","app_type":"a.b","payload":'
            + "[" * 5000
            + "]" * 5000
            + "}",
            ErrorCode.MALFORMED_FRAME,
        ),
    ],
)
def test_bad_frames_get_typed_errors(frame: bytes | str, expected: ErrorCode) -> None:
    assert error_of(frame).code is expected


def test_request_id_recovered_from_invalid_message() -> None:
    err = error_of('{"type": "join", "id": 42, "room": "x"}')
    assert err.request_id == 42 and err.details == {"field": "room"}
    err = error_of(msgspec.msgpack.encode({"type": "warp", "id": "abc"}))
    assert err.code is ErrorCode.UNKNOWN_TYPE and err.request_id == "abc"


def test_frame_too_large_closes_with_1009() -> None:
    err = error_of("x" * (p.MAX_FRAME_BYTES + 1))
    assert err.close is p.CloseCode.MESSAGE_TOO_BIG
    # multi-byte text is measured in bytes
    err = error_of('{"type":"chat","room":"abc","text":"' + "é" * 40_000 + '"}')
    assert err.code is ErrorCode.FRAME_TOO_LARGE


def test_text_is_carried_verbatim() -> None:
    text = '<script>alert(1)</script> & "quotes" \t tab'
    msg = p.decode_client(json.dumps({"type": "chat", "room": "abc", "text": text}))
    assert isinstance(msg, p.Chat) and msg.text == text


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        p.decode_client(data)


@given(st.text(max_size=2048))
def test_arbitrary_text_only_typed_errors(data: str) -> None:
    with contextlib.suppress(ProtocolError):
        p.decode_client(data)


def test_error_codes_are_documented() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    codes = {c.value for c in ErrorCode}
    assert codes <= documented, codes - documented


def test_every_message_type_is_documented_with_valid_json_example() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    seen: set[str] = set()
    client = msgspec.json.Decoder(p.ClientMessage)
    server = msgspec.json.Decoder(p.ServerMessage)
    for block in blocks:
        data = json.loads(block)
        kind = data["type"]
        seen.add(kind)
        try:
            client.decode(block)
        except msgspec.ValidationError:
            server.decode(block)
    every = {t.__struct_config__.tag for t in p.ClientMessage.__args__}  # type: ignore[attr-defined]
    every |= {t.__struct_config__.tag for t in p.ServerMessage.__args__}  # type: ignore[attr-defined]
    assert every <= seen, every - seen


@pytest.mark.parametrize("message", CLIENT_EXAMPLES, ids=lambda m: m.__struct_config__.tag)
@pytest.mark.parametrize("fmt", list(p.Format))
def test_a_missing_required_field_is_named(message: p.Request, fmt: p.Format) -> None:
    """Issue 17: ``details.field`` names each absent required field (it was ``null``)."""
    tag = message.__struct_config__.tag
    required = [f.encode_name for f in msgspec.structs.fields(message) if f.required]
    for name in required:
        whole = msgspec.to_builtins(message)
        del whole[name]
        whole["id"] = 4
        frame: bytes | str = (
            json.dumps(whole) if fmt is p.Format.JSON else msgspec.msgpack.encode(whole)
        )
        err = error_of(frame)
        assert (err.code, err.details, err.request_id) == (
            ErrorCode.INVALID_MESSAGE,
            {"field": name},
            4,
        ), (tag, name)


def test_a_missing_nested_field_is_named_with_its_path() -> None:
    snapshot = {
        "type": "room_snapshot",
        "room": "standup",
        "you": "p1",
        "capacity": 4,
        "locked": False,
        "join_policy": "open",
        "recording": "idle",
        "participants": [
            {
                "id": "p1",
                "user": "u",
                "role": "host",
                "order": 0,
                "state": "connected",
                "audio": False,
                "video": False,
                "screen": False,
                "hand": False,
            },
            {"id": "p2"},
        ],
    }
    with pytest.raises(ProtocolError) as info:
        p.decode_server(json.dumps(snapshot))
    assert info.value.details is not None
    assert info.value.details["field"] == "participants[1].user"


SERVER_TAGS = {t.__struct_config__.tag for t in p.ServerMessage.__args__}  # type: ignore[attr-defined]
CLIENT_TAGS = {t.__struct_config__.tag for t in p.ClientMessage.__args__}  # type: ignore[attr-defined]
# Lists left out when empty (docs/protocol.md, "Fields on the wire"): nothing else with a
# value is ever left out of a server message.
OMITTED_WHEN_EMPTY = {
    ("Welcome", "ice_servers"),
    ("RoomSnapshot", "chat"),
    ("RoomSnapshot", "lobby"),
    ("RoomSnapshot", "bans"),
    ("CallInfo", "answered_by"),
}


def _server_examples() -> list[str]:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    examples = []
    for block in re.findall(r"```json\n(.*?)```", doc, re.S):
        data = json.loads(block)
        relayed = data["type"] in CLIENT_TAGS and ("from" in data or "seq" in data)
        if data["type"] in SERVER_TAGS - CLIENT_TAGS or relayed:
            examples.append(block)  # not a client's request: what a server sends
    return examples


@pytest.mark.parametrize("block", _server_examples(), ids=lambda b: json.loads(b)["type"])
def test_documented_server_messages_are_what_the_encoder_puts_on_the_wire(block: str) -> None:
    """Issue 17: every field a server message's example shows is on the wire, and the
    example shows every field the encoder writes for those values (both codecs)."""
    example = json.loads(block)
    message = p.decode_server(block)
    assert json.loads(p.encode(message)) == example
    assert msgspec.msgpack.decode(p.encode(message, p.Format.MSGPACK)) == example


def _structs(tp: Any, seen: set[type]) -> None:
    for arg in getattr(tp, "__args__", ()):
        _structs(arg, seen)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and tp not in seen:
        seen.add(tp)
        for field in msgspec.structs.fields(tp):
            _structs(field.type, seen)
    origin = getattr(tp, "__origin__", None)
    if origin is not None:
        _structs(origin, seen)
    meta = getattr(tp, "__metadata__", None)
    if meta is not None:
        _structs(tp.__origin__, seen)


def test_a_server_message_leaves_out_only_fields_without_a_value() -> None:
    """The rule of "Fields on the wire": every field of a server-only message (and of what
    it nests) is on the wire unless it is ``null`` (absent) or one of the few lists left
    out when empty. A field with any other default would vanish when it holds it."""
    seen: set[type] = set()
    server_only = [
        t
        for t in p.ServerMessage.__args__  # type: ignore[attr-defined]
        if t.__struct_config__.tag not in CLIENT_TAGS
    ]
    for tp in server_only:
        _structs(tp, seen)
    offenders = [
        (tp.__name__, f.name, f.default)
        for tp in seen
        for f in msgspec.structs.fields(tp)
        if not f.required
        and f.default is not None
        and (tp.__name__, f.name) not in OMITTED_WHEN_EMPTY
    ]
    assert offenders == []
    assert {"Welcome", "RoomSnapshot", "ParticipantInfo", "CallInfo"} <= {t.__name__ for t in seen}


@pytest.mark.parametrize("rid", ["", 0, "x" * p.MAX_REQUEST_ID_CHARS, p.MAX_REQUEST_ID_INT])
def test_the_edges_of_a_request_id_are_ids(rid: int | str) -> None:
    """Issue 17: the empty string (and 0) is an id, echoed like any other."""
    msg = p.decode_client(json.dumps({"type": "ping", "id": rid}))
    assert msg.id == rid and msg.id is not None
    assert json.loads(p.encode(p.Pong(id=rid))) == {"type": "pong", "id": rid}


@pytest.mark.parametrize("rid", ["x" * (p.MAX_REQUEST_ID_CHARS + 1), -1, "a\nb", 1.5, True])
def test_request_ids_out_of_range_are_invalid(rid: object) -> None:
    err = error_of(json.dumps({"type": "ping", "id": rid}))
    assert (err.code, err.details) == (ErrorCode.INVALID_MESSAGE, {"field": "id"})


NON_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (lambda v: v, "payload"),
        (lambda v: {"points": [[0, 0], [10, v]]}, "payload.points[1][1]"),
        (lambda v: [1.5, {"a": {"b": v}}], "payload[1].a.b"),
    ],
)
def test_non_finite_numbers_in_a_messagepack_payload_are_refused(
    value: float, payload: Any, field: str
) -> None:
    """Issue 17: JSON has no NaN or infinity, so a MessagePack ``app`` payload holding one
    would reach a JSON peer as ``null``; it is refused at decode, naming where."""
    frame = msgspec.msgpack.encode(
        {"type": "app", "room": "abc", "app_type": "a.b", "id": 7, "payload": payload(value)}
    )
    err = error_of(frame)
    assert (err.code, err.details, err.request_id) == (
        ErrorCode.INVALID_MESSAGE,
        {"field": field},
        7,
    )


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
def test_non_finite_numbers_in_a_stats_report_are_refused(value: float) -> None:
    frame = msgspec.msgpack.encode({"type": "stats", "room": "abc", "report": {"rtt": value}})
    assert error_of(frame).details == {"field": "report.rtt"}


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({1: "a"}, "payload", "map key 1 is not a string"),
        ([0, {"x": {float("nan"): 1}}], "payload[1].x", "map key nan is not a string"),
        ({"b": b"raw"}, "payload.b", "bytes is not a JSON value"),
        ([msgspec.msgpack.Ext(5, b"x")], "payload[0]", "Ext is not a JSON value"),
        (
            {"t": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},
            "payload.t",
            "datetime is not a JSON value",
        ),
    ],
    ids=["int-key", "nan-key", "bin", "ext", "timestamp"],
)
def test_messagepack_values_json_cannot_carry_are_refused(
    payload: Any, field: str, words: str
) -> None:
    """Found by the protocol_msgpack fuzzer (fuzz/corpus/protocol_msgpack/regression-nan-key):
    an ``app`` payload is a JSON value in either format. A MessagePack map key that is not a
    string, binary, a timestamp or an extension type would reach a JSON peer changed, or
    fail to encode for it, so it is refused at decode, naming where."""
    frame = msgspec.msgpack.encode(
        {"type": "app", "room": "abc", "app_type": "a.b", "id": 3, "payload": payload}
    )
    err = error_of(frame)
    assert (err.code, err.details, err.request_id) == (
        ErrorCode.INVALID_MESSAGE,
        {"field": field},
        3,
    )
    assert words in str(err)


def test_finite_floats_in_a_messagepack_payload_pass() -> None:
    payload = {"x": [0.5, -1e308, 5e-324], "y": {"z": 1.0}}
    frame = msgspec.msgpack.encode(
        {"type": "app", "room": "abc", "app_type": "a.b", "payload": payload}
    )
    msg = p.decode_client(frame)
    assert isinstance(msg, p.App) and msg.payload == payload


def test_json_has_no_non_finite_numbers_to_refuse() -> None:
    for literal in ("NaN", "Infinity", "1e999"):
        frame = '{"type": "app", "room": "abc", "app_type": "a.b", "payload": ' + literal + "}"
        assert error_of(frame).code in (ErrorCode.MALFORMED_FRAME, ErrorCode.INVALID_MESSAGE)
