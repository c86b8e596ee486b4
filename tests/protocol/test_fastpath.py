"""The decoder's fast path (``protocol/_fastpath.py``) says "accept, with this value"
only when the strict decoder would, with the same value; everything else goes to the
strict decoder, which alone produces errors."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcsignal import protocol as p
from rtcsignal._demo import CANDIDATE, OFFER
from rtcsignal.protocol import _codec
from rtcsignal.protocol._fastpath import FAST_TAGS, fast_decode

_TRICKY = st.sampled_from(
    [
        "",
        "ab",
        "abc",
        "a" * 64,
        "a" * 65,
        "a-b_c",
        "---",
        "abc\n",
        "é",
        "a b",
        "\x7f",
        "\x9f",
        "ok\x00",
        "\t",
        "0",
        "Fv3U",
    ]
)
_TEXT = st.one_of(_TRICKY, st.text(max_size=80), st.text(alphabet="ab-_ \n\x1f\x7fé", max_size=70))
_VALUE = st.one_of(_TEXT, st.integers(-2, 2**70), st.none(), st.booleans(), st.floats())


def _strict(frame: str) -> Any:
    try:
        return _codec._CLIENT_JSON.decode(frame)
    except msgspec.ValidationError:
        return "invalid"
    except msgspec.DecodeError:
        return "malformed"


@given(
    kind=st.sampled_from(["candidate", "offer", "answer", "end_of_candidates", "chat"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "room",
                "to",
                "candidate",
                "sdp_mid",
                "sdp_mline_index",
                "username_fragment",
                "id",
                "from",
                "seq",
                "sdp",
                "negotiation",
                "extra",
            ]
        ),
        _VALUE,
        max_size=9,
    ),
    compact=st.booleans(),
)
def test_the_fast_path_accepts_only_what_the_strict_decoder_accepts(
    kind: str, fields: dict[str, Any], compact: bool
) -> None:
    frame = json.dumps({"type": kind, **fields}, separators=(",", ":") if compact else None)
    fast = fast_decode(frame)
    if fast is not None:
        assert _strict(frame) == fast
        assert type(fast) is type(_strict(frame))


@pytest.mark.parametrize("compact", [True, False])
def test_the_hot_messages_take_the_fast_path(compact: bool) -> None:
    sep = (",", ":") if compact else None
    frames = [
        {
            "type": "candidate",
            "room": "bench",
            "to": "p1",
            "candidate": CANDIDATE,
            "sdp_mid": "0",
            "sdp_mline_index": 0,
            "username_fragment": "Fv3U",
            "id": 4,
        },
        {"type": "offer", "room": "bench", "to": "p1", "sdp": OFFER, "negotiation": "n-1"},
        {"type": "answer", "room": "bench", "to": "p1", "sdp": OFFER, "id": "x"},
        {"type": "end_of_candidates", "room": "bench", "to": "p1"},
    ]
    assert {f["type"] for f in frames} == {c.__struct_config__.tag for c in FAST_TAGS}
    for message in frames:
        frame = json.dumps(message, separators=sep)
        fast = fast_decode(frame)
        assert fast is not None, frame[:80]
        assert fast == _codec._CLIENT_JSON.decode(frame) == p.decode_client(frame)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"candidate","room":"b","to":"p1","candidate":"c"}',  # room too short
        '{"type":"candidate","room":"bench","to":"p 1","candidate":"c"}',
        '{"type":"candidate","room":"bench","to":"p1","candidate":"c\\u0001"}',
        '{"type":"candidate","type":"offer","room":"bench","to":"p1","candidate":"c"}',
        '{"type":"candidate","room":"bench","to":"p1","candidate":"c","sdp_mline_index":-1}',
        '{"type":"candidate","room":"bench","to":"p1"}',
        '{"type":"candidate",',
    ],
)
def test_a_refusal_is_the_strict_decoders_own(frame: str) -> None:
    assert fast_decode(frame) is None
    with pytest.raises(p.ProtocolError) as fast:
        p.decode_client(frame)
    with pytest.raises(msgspec.MsgspecError) as strict:
        _codec._CLIENT_JSON.decode(frame)
    if isinstance(strict.value, msgspec.ValidationError):
        assert _codec._validation_error(strict.value, frame).message == fast.value.message
    else:
        assert fast.value.code == "malformed_frame"
