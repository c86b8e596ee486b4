"""The rules closed after an independent invalid-input corpus found gaps (issue 15):
each rule accepted where the RFCs and browsers allow it, refused where they forbid it,
in the full check and the fast path alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sdp_samples import sample

from rtcsignal import sdp

CORPUS = Path(__file__).resolve().parent / "corpus"
HOST = "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host"
SRFLX = "candidate:2 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0"
ORIGIN = "o=- 8403615332048243445 2 IN IP4 127.0.0.1"
TRICKLE = {"sdp_mid": "0", "sdp_mline_index": 0, "username_fragment": None}


def _rule(function: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(sdp.SdpError) as info:
        function(*args, **kwargs)  # type: ignore[operator]
    return info.value.rule


# ---------------------------------------------------------------- RFC 8839 §5.1 raddr
@pytest.mark.parametrize(
    "text",
    [
        SRFLX,
        "candidate:3 1 udp 41885439 198.51.100.20 3478 typ relay raddr 203.0.113.7 rport 5",
        "candidate:4 1 udp 1 192.0.2.9 9 typ prflx raddr 192.0.2.1 rport 1",
        "candidate:5 1 udp 1 192.0.2.9 9 typ srflx",  # omitted for privacy: accepted
        HOST + " generation 0",
    ],
)
def test_related_address_where_allowed(text: str) -> None:
    assert sdp.parse_candidate(text).to_sdp() == text
    assert sdp.check_candidate(text, description=None, **TRICKLE) is None


@pytest.mark.parametrize(
    "text",
    [
        HOST.replace("typ host", "typ host raddr 192.0.2.1 rport 54400"),
        HOST.replace("typ host", "typ host raddr 0.0.0.0 rport 0") + " generation 0",
        "candidate:1 1 tcp 1518280447 192.0.2.1 9 typ host raddr 0.0.0.0 rport 0 tcptype active",
    ],
)
def test_related_address_on_a_host_candidate_is_refused(text: str) -> None:
    assert _rule(sdp.parse_candidate, text) == "candidate.related"
    # the fast path of relays gives the same verdict
    assert _rule(sdp.check_candidate, text, description=None, **TRICKLE) == "candidate.related"
    offer = sample("chrome_offer").replace(
        "a=ice-ufrag:EsAw", "a=" + text + "\r\na=ice-ufrag:EsAw", 1
    )
    assert _rule(sdp.validate_offer, offer) == "candidate.related"


# --------------------------------------------------- trickle framing (RTCIceCandidate)
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a=" + HOST, "candidate.framing"),  # an SDP line, not RTCIceCandidate.candidate
        (HOST.removeprefix("candidate:"), "candidate.framing"),  # a bare value
        (" " + HOST, "candidate.framing"),
        ("Candidate:" + HOST.removeprefix("candidate:"), "candidate.framing"),
        (HOST + "\r\n", "candidate.syntax"),  # a line end: not printable
    ],
)
def test_trickled_candidate_framing(text: str, rule: str) -> None:
    assert _rule(sdp.validate_candidate, text, description=None, **TRICKLE) == rule
    assert _rule(sdp.check_candidate, text, description=None, **TRICKLE) == rule


def test_every_trickled_candidate_of_the_browsers_is_framed_so() -> None:
    """Chromium's, Firefox's and aiortc's trickled candidates (the corpus) are all
    ``candidate:...`` and all accepted."""
    seen = 0
    for path in sorted(CORPUS.glob("*.candidates.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            text = item["candidate"]
            if text:  # "" is end-of-candidates
                assert text.startswith("candidate:"), text
                sdp.check_candidate(text, sdp_mid=None, sdp_mline_index=None,
                                    username_fragment=None, description=None)  # fmt: skip
                seen += 1
    assert seen > 50


# ------------------------------------------------------- the description as SDP text
@pytest.mark.parametrize("form", ["str", "bytes", "parsed"])
def test_description_may_be_sdp_text(form: str) -> None:
    text = sample("chrome_offer")
    description = {"str": text, "bytes": text.encode(), "parsed": sdp.parse(text)}[form]
    kwargs = {"sdp_mid": "0", "sdp_mline_index": None, "username_fragment": "EsAw"}
    result = sdp.validate_candidate(SRFLX, description=description, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, sdp.Candidate)
    assert sdp.check_candidate(SRFLX, description=description, **kwargs) is None  # type: ignore[arg-type]
    assert _rule(sdp.validate_candidate, SRFLX, description=description,
                 **{**kwargs, "sdp_mid": "9"}) == "candidate.unknown_mid"  # fmt: skip
    stale = {**kwargs, "username_fragment": "Old1"}
    with pytest.raises(sdp.CandidateDropped):
        sdp.check_candidate(SRFLX, description=description, **stale)  # type: ignore[arg-type]


@pytest.mark.parametrize("description", [42, ["v=0"], object()])
def test_description_of_another_type_is_a_clear_error(description: object) -> None:
    for function in (sdp.validate_candidate, sdp.check_candidate):
        rule = _rule(function, SRFLX, description=description, **TRICKLE)
        assert rule == "candidate.description"


def test_description_text_that_does_not_parse_raises_its_syntax_rule() -> None:
    rule = _rule(sdp.check_candidate, SRFLX, description="v=1\r\n", **TRICKLE)
    assert rule.startswith("syntax.")


# ------------------------------------------- RFC 8843 §7.1.3 credentials in one BUNDLE
def test_bundle_sections_share_their_ice_credentials() -> None:
    offer = sample("chrome_offer")
    assert offer.count("a=ice-ufrag:EsAw") >= 2
    sdp.validate_offer(offer)
    # not repeated on the other sections (credentials on the tagged section only): fine
    first = offer.index("a=ice-pwd:") + 1  # after the first section's credentials
    head, tail = offer[:first], offer[first:]
    trimmed = head + tail.replace("a=ice-ufrag:EsAw\r\n", "").replace(
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n", ""
    )
    sdp.validate_offer(trimmed)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a=ice-ufrag:EsAw", "a=ice-ufrag:Diff"),
        ("a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1", "a=ice-pwd:Zzzzzzzzzzzzzzzzzzzzzzzz"),
    ],
)
def test_bundle_sections_with_different_credentials_are_refused(old: str, new: str) -> None:
    offer = sample("chrome_offer")
    second = offer.index(old, offer.index(old) + 1)
    changed = offer[:second] + new + offer[second + len(old) :]
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(changed)
    assert info.value.rule == "ice.bundle_credentials"
    assert changed.splitlines()[info.value.line - 1] == new  # type: ignore[operator]
    # without BUNDLE, separate transports may have separate credentials
    unbundled = changed.replace("a=group:BUNDLE 0 1 2\r\n", "")
    sdp.validate_offer(unbundled)


# ------------------------------------- RFC 8839 §5.1 a candidate's ufrag in its section
def test_a_candidate_s_ufrag_extension_is_its_section_s() -> None:
    offer = sample("chrome_offer")
    line = "a=" + HOST + " generation 0 ufrag {}\r\na=ice-ufrag:EsAw"
    sdp.validate_offer(offer.replace("a=ice-ufrag:EsAw", line.format("EsAw"), 1))
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(offer.replace("a=ice-ufrag:EsAw", line.format("OldU"), 1))
    assert info.value.rule == "candidate.ufrag_mismatch"
    assert info.value.field == "a=candidate"


# ------------------------------------------------------- RFC 8866 §9 token fields
@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        (ORIGIN, "o=- 1 2 I\u00d1 IP4 127.0.0.1", "syntax.origin"),
        (ORIGIN, "o=- 1 2 IN IP(4) 127.0.0.1", "syntax.origin"),
        (ORIGIN, "o=- 1 \u0662 IN IP4 127.0.0.1", "syntax.origin"),
        ("c=IN IP4 203.0.113.7", "c=IN IP[4] 203.0.113.7", "syntax.connection"),
        ("c=IN IP4 203.0.113.7", "c=\u00cfN IP4 203.0.113.7", "syntax.connection"),
    ],
)  # fmt: skip
def test_nettype_and_addrtype_are_tokens(old: str, new: str, rule: str) -> None:
    text = sample("chrome_offer")
    assert old in text
    assert _rule(sdp.parse, text.replace(old, new, 1)) == rule
    # the same fields as tokens other than IN/IP4 still parse (RFC 8866 is extensible)
    sdp.parse(text.replace(old, new.replace("\u00d1", "N").replace("(4)", "6")
                           .replace("[4]", "6").replace("\u0662", "2")
                           .replace("\u00cf", "I"), 1))  # fmt: skip
