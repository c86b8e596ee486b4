"""The validator's fast pass against its precise pass.

``validate_offer``/``validate_answer`` run a fast pass (whole-line tables, no line
numbers) and fall back to the precise pass when it finds anything; the precise pass alone
decides what is an error. These tests check that the two agree: the same acceptance, and
on rejection the same rule, line, field and message, on every corpus description, on
every line-level edit of them hypothesis makes, and on generated descriptions.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdp_samples import ANSWERS, OFFERS, join, lines_of
from strategies_sdp import invalid_offers, offers

from rtcsignal import sdp
from rtcsignal.sdp import _attributes, _validate

Outcome = str | tuple[str, int | None, str | None, str]

# Lines worth splicing into a description: table lines, their near misses, and the
# attributes the fast pass records.
SPLICES = [
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack ",
    "a=rtcp-fb:128 nack",
    "a=rtcp-fb:* transport-cc",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:111 opus/48000/2",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:96 VP8/90001",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:15 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:0 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=fmtp:96 apt=100",
    "a=fmtp:96 ",
    "a=rtcp-mux",
    "a=rtcp-mux:1",
    "a=sendrecv",
    "a=inactive",
    "a=bundle-only",
    "a=end-of-candidates",
    "a=mid:0",
    "a=mid:9",
    "a=setup:active",
    "a=setup:actpass",
    "a=ice-ufrag:abcd",
    "a=ice-ufrag:abc",
    "a=ice-pwd:abcdefghijklmnopqrstuv",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 00:11",
    "a=group:BUNDLE 0 1",
    "a=group:BUNDLE 7",
    "a=candidate:1 1 udp 2122194687 192.0.2.2 60456 typ host",
    "a=candidate:1 1 udp 2122194687 192.0.2.2 99999 typ host",
    "a=ssrc:1 cname:x",
    "a=ssrc:x cname:x",
    "a=msid:a b c",
    "a=sctp-port:5000",
    "a=max-message-size:x",
]


def _outcome(check: object) -> Outcome:
    assert callable(check)
    try:
        check()
    except sdp.SdpError as err:
        return (err.rule, err.line, err.field, str(err))
    return "valid"


def _compare_offer(text: str) -> Outcome:
    try:
        desc = sdp.parse(text)
    except sdp.SdpError:
        return "unparsed"
    policy = sdp.SdpPolicy()
    both = _outcome(lambda: sdp.validate_offer(desc))
    precise = _outcome(lambda: _validate.validate_precisely(desc, policy, "offer"))
    assert both == precise
    return both


@pytest.mark.parametrize("name", sorted(OFFERS))
def test_fast_pass_accepts_every_real_offer(name: str) -> None:
    desc = sdp.parse(OFFERS[name])
    policy = sdp.SdpPolicy()
    session = _validate._fast_scan(desc.attribute_lines)
    scopes = [_validate._fast_scan(m.attribute_lines) for m in desc.media]
    # The fast pass alone accepts real offers (else it would only cost time).
    assert session is not None and None not in scopes
    _validate._cross_check(desc, session, [s for s in scopes if s], policy, "offer")
    assert _compare_offer(OFFERS[name]) == "valid"


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_answers_agree(name: str) -> None:
    offer, answer = ANSWERS[name]
    desc = sdp.parse(answer)
    both = _outcome(lambda: sdp.validate_answer(desc, offer=offer))
    precise = _outcome(lambda: _validate.validate_precisely(desc, sdp.SdpPolicy(), "answer"))
    assert both == precise == "valid"


@st.composite
def edited_offers(draw: st.DrawFn) -> str:
    """A real offer with one to three line edits: delete, duplicate, move, splice a
    line (from :data:`SPLICES` or another offer), or change one character."""
    text = OFFERS[draw(st.sampled_from(sorted(OFFERS)))]
    lines = lines_of(text)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(3, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "move", "splice", "char"]))
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(draw(st.integers(3, len(lines))), lines[index])
        elif action == "move":
            line = lines.pop(index)
            lines.insert(draw(st.integers(3, len(lines))), line)
        elif action == "splice":
            other = lines_of(OFFERS[draw(st.sampled_from(sorted(OFFERS)))])
            new = draw(st.sampled_from(SPLICES) | st.sampled_from(other))
            lines.insert(index, new)
        else:
            line = lines[index]
            if len(line) > 2:
                at = draw(st.integers(2, len(line) - 1))
                char = draw(st.sampled_from(" :/0179*-aZ\t"))
                lines[index] = line[:at] + char + line[at + 1 :]
    return join(lines)


@given(edited_offers())
def test_edited_real_offers_agree(text: str) -> None:
    _compare_offer(text)


@given(offers())
def test_generated_valid_offers_agree(text: str) -> None:
    assert _compare_offer(text) == "valid"


@given(invalid_offers())
def test_generated_invalid_offers_agree(case: tuple[str, str]) -> None:
    text, _rule = case
    assert _compare_offer(text) != "valid"


def test_table_lines_are_valid_on_their_own() -> None:
    """Every whole line of the tables passes its attribute's own grammar."""
    checks = _validate._CHECKS
    for line in _attributes.CONTEXT_FREE_LINES:
        head, sep, value = line.partition(":")
        if sep:
            checks[head](value)
        else:
            assert head[2:] in _validate._FLAGS
    for line, (pt, encoding) in _attributes.RTPMAP_LINES.items():
        assert _attributes.scan_rtpmap(line.partition(":")[2])[:2] == (pt, encoding)
