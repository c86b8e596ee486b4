"""Mutations of real descriptions, one per rule, each asserting the specific rule id.

Every offer (our fixtures and, when present, ``tests/sdp_corpus``) first validates as it
is; then each mutation below is applied to every offer it fits, and validation must
fail with exactly that rule.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sdp_samples import ANSWERS, OFFERS, join, lines_of, sample

from rtcsignal import sdp

Mutation = Callable[[str], str | None]


def _replace_values(text: str, prefix: str, new: Callable[[str], str]) -> str | None:
    lines = lines_of(text)
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if not hits:
        return None
    for i in hits:
        lines[i] = prefix + new(lines[i][len(prefix) :])
    return join(lines)


def _drop(text: str, prefix: str) -> str | None:
    lines = lines_of(text)
    kept = [line for line in lines if not line.startswith(prefix)]
    return join(kept) if len(kept) != len(lines) else None


def _insert_after(text: str, prefix: str, new_line: str) -> str | None:
    lines = lines_of(text)
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            lines.insert(i + 1, new_line)
            return join(lines)
    return None


def _first_replace(text: str, old: str, new: str) -> str | None:
    return text.replace(old, new, 1) if old in text else None


def _dup_mid(text: str) -> str | None:
    desc = sdp.parse(text)
    mids = [m.mid for m in desc.media if m.mid is not None]
    if len(mids) < 2:
        return None
    return text.replace(f"a=mid:{mids[1]}\r\n", f"a=mid:{mids[0]}\r\n", 1)


def _drop_first_mid(text: str) -> str | None:
    desc = sdp.parse(text)
    mid = desc.media[0].mid
    return text.replace(f"a=mid:{mid}\r\n", "", 1) if mid is not None else None


def _drop_dynamic_rtpmap(text: str) -> str | None:
    desc = sdp.parse(text)
    for media in desc.media:
        if media.is_rtp and media.port != 0:
            for fmt in media.formats:
                if int(fmt) >= 35:
                    return _first_replace(text, f"a=rtpmap:{fmt} ", "a=x-removed:")
    return None


def _first_rtp_m_line(text: str, change: Callable[[list[str]], list[str]]) -> str | None:
    lines = lines_of(text)
    for i, line in enumerate(lines):
        if line.startswith("m=") and "RTP/" in line:
            parts = line.split(" ")
            lines[i] = " ".join(change(parts))
            return join(lines)
    return None


GENERIC: dict[str, tuple[str, Mutation]] = {
    "ufrag charset": (
        "ice.ufrag_charset",
        lambda t: _replace_values(t, "a=ice-ufrag:", lambda v: v[:-1] + "!"),
    ),
    "ufrag short": (
        "ice.ufrag_length",
        lambda t: _replace_values(t, "a=ice-ufrag:", lambda v: "abc"),
    ),
    "ufrag long": (
        "ice.ufrag_length",
        lambda t: _replace_values(t, "a=ice-ufrag:", lambda v: "a" * 257),
    ),
    "pwd charset": (
        "ice.pwd_charset",
        lambda t: _replace_values(t, "a=ice-pwd:", lambda v: v[:-1] + "-"),
    ),
    "pwd short": ("ice.pwd_length", lambda t: _replace_values(t, "a=ice-pwd:", lambda v: v[:21])),
    "no ufrag": ("ice.missing_ufrag", lambda t: _drop(t, "a=ice-ufrag:")),
    "no pwd": ("ice.missing_pwd", lambda t: _drop(t, "a=ice-pwd:")),
    "no fingerprint": ("dtls.missing_fingerprint", lambda t: _drop(t, "a=fingerprint:")),
    "md5 fingerprint": (
        "dtls.fingerprint_hash",
        lambda t: _first_replace(t, "a=fingerprint:sha-256 ", "a=fingerprint:md5 "),
    ),
    "short fingerprint": (
        "dtls.fingerprint_value",
        lambda t: _replace_values(t, "a=fingerprint:sha-256 ", lambda v: v[:-3]),
    ),
    "non-hex fingerprint": (
        "dtls.fingerprint_value",
        lambda t: _replace_values(t, "a=fingerprint:sha-256 ", lambda v: "ZZ" + v[2:]),
    ),
    "setup active": (
        "dtls.setup_offer",
        lambda t: _replace_values(t, "a=setup:", lambda v: "active"),
    ),
    "setup missing": ("dtls.setup_offer", lambda t: _drop(t, "a=setup:")),
    "setup bogus": ("attr.setup", lambda t: _replace_values(t, "a=setup:", lambda v: "bogus")),
    "duplicate mid": ("media.duplicate_mid", _dup_mid),
    "missing mid": ("media.missing_mid", _drop_first_mid),
    "bundle unknown mid": (
        "bundle.unknown_mid",
        lambda t: _replace_values(t, "a=group:BUNDLE", lambda v: v + " zz9"),
    ),
    "bundle twice": (
        "bundle.duplicate_mid",
        lambda t: _insert_after(t, "a=group:BUNDLE", "a=group:BUNDLE " + sdp.parse(t).media[0].mid),
    ),  # type: ignore[operator]
    "group unknown mid": ("group.unknown_mid", lambda t: _insert_after(t, "t=", "a=group:LS zz9")),
    "version": ("syntax.version", lambda t: _first_replace(t, "v=0\r\n", "v=1\r\n")),
    "no t=": ("syntax.missing_line", lambda t: _drop(t, "t=")),
    "empty s=": ("syntax.session_name", lambda t: _replace_values(t, "s=", lambda v: "")),
    "repeated s=": ("syntax.repeated_line", lambda t: _insert_after(t, "s=", "s=again")),
    "bad o=": ("syntax.origin", lambda t: _replace_values(t, "o=", lambda v: v.rsplit(" ", 1)[0])),
    "bad t=": ("syntax.timing", lambda t: _replace_values(t, "t=", lambda v: "0")),
    "unknown type": ("syntax.unknown_type", lambda t: _insert_after(t, "t=", "x=1")),
    "empty line": ("syntax.empty_line", lambda t: _insert_after(t, "t=", "")),
    "garbage line": ("syntax.line_format", lambda t: _insert_after(t, "t=", "garbage")),
    "lone CR": ("syntax.line_ending", lambda t: _first_replace(t, "s=-", "s=\r-")),
    "NUL": ("syntax.encoding", lambda t: _first_replace(t, "s=-", "s=\x00")),
    "c= after a=": (
        "syntax.line_order",
        lambda t: _insert_after(t, "a=mid:", "c=IN IP4 0.0.0.0"),
    ),
    "bad c=": ("syntax.connection", lambda t: _replace_values(t, "c=", lambda v: "IN IP4")),
    "bad b=": ("syntax.bandwidth", lambda t: _insert_after(t, "c=", "b=AS:lots")),
    "bad port": ("syntax.media", lambda t: _first_rtp_m_line(t, lambda p: [p[0], "70000", *p[2:]])),
    "bad attribute name": ("syntax.attribute", lambda t: _insert_after(t, "a=mid:", "a=x@y:1")),
    "duplicate attribute": ("attr.duplicate", lambda t: _insert_after(t, "a=mid:", "a=mid:zz9")),
    "two directions": (
        "attr.direction",
        lambda t: _insert_after(t, "a=mid:", "a=inactive\r\na=recvonly"),
    ),
    "flag with value": ("attr.flag", lambda t: _insert_after(t, "a=mid:", "a=rtcp-mux:yes")),
    "bad mid": ("attr.mid", lambda t: _replace_values(t, "a=mid:", lambda v: v + " x")),
    "bad group": ("attr.group", lambda t: _replace_values(t, "a=group:BUNDLE", lambda v: "/x")),
    "bad ice-options": (
        "attr.ice_options",
        lambda t: (
            _replace_values(t, "a=ice-options:", lambda v: "tr!ckle")
            or _insert_after(t, "a=mid:", "a=ice-options:tr!ckle")
        ),
    ),
    "payload type 128": ("rtp.payload_type", lambda t: _first_rtp_m_line(t, lambda p: [*p, "128"])),
    "payload type twice": (
        "rtp.duplicate_payload_type",
        lambda t: _first_rtp_m_line(t, lambda p: [*p, p[3]]),
    ),
    "missing rtpmap": ("rtp.missing_rtpmap", _drop_dynamic_rtpmap),
    "plain RTP": ("dtls.proto", lambda t: _first_replace(t, "UDP/TLS/RTP/SAVPF", "RTP/AVPF")),
    "bad rtpmap": ("attr.rtpmap", lambda t: _insert_after(t, "a=mid:", "a=rtpmap:96 VP8")),
    "bad fmtp": ("attr.fmtp", lambda t: _insert_after(t, "a=mid:", "a=fmtp:96")),
    "bad rtcp-fb": ("attr.rtcp_fb", lambda t: _insert_after(t, "a=mid:", "a=rtcp-fb:300 nack")),
    "bad extmap": ("attr.extmap", lambda t: _insert_after(t, "a=mid:", "a=extmap:0 urn:x")),
    "bad ssrc": ("attr.ssrc", lambda t: _insert_after(t, "a=mid:", "a=ssrc:x cname:y")),
    "bad ssrc-group": (
        "attr.ssrc_group",
        lambda t: _insert_after(t, "a=mid:", "a=ssrc-group:FID 1 x"),
    ),
    "bad msid": ("attr.msid", lambda t: _insert_after(t, "a=mid:", "a=msid:a b c")),
    "bad rid": ("attr.rid", lambda t: _insert_after(t, "a=mid:", "a=rid:h sendrecv")),
    "bad simulcast": ("attr.simulcast", lambda t: _insert_after(t, "a=mid:", "a=simulcast:up h")),
    "bad sctp-port": ("attr.sctp_port", lambda t: _insert_after(t, "a=mid:", "a=sctp-port:70000")),
    "bad max-message-size": (
        "attr.max_message_size",
        lambda t: _insert_after(t, "a=mid:", "a=max-message-size:-1"),
    ),
    "bad candidate type": (
        "candidate.type",
        lambda t: _insert_after(t, "a=mid:", "a=candidate:1 1 udp 1 192.0.2.1 9 typ hots"),
    ),
    "bad candidate address": (
        "candidate.address",
        lambda t: _insert_after(t, "a=mid:", "a=candidate:1 1 udp 1 300.0.2.1 9 typ host"),
    ),
}

CASES = [
    pytest.param(offer_name, rule, mutate, id=f"{offer_name}-{label}")
    for offer_name in OFFERS
    for label, (rule, mutate) in GENERIC.items()
]


@pytest.mark.parametrize("name", sorted(OFFERS))
def test_every_offer_is_valid_as_is(name: str) -> None:
    desc = sdp.validate_offer(OFFERS[name])
    assert desc.to_sdp() == OFFERS[name]


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_every_answer_is_valid_against_its_offer(name: str) -> None:
    offer, answer = ANSWERS[name]
    assert sdp.validate_answer(answer, offer=offer).to_sdp() == answer
    assert sdp.validate_answer(answer, offer=sdp.parse(offer)).to_sdp() == answer


@pytest.mark.parametrize(("offer_name", "rule", "mutate"), CASES)
def test_mutation_raises_its_rule(offer_name: str, rule: str, mutate: Mutation) -> None:
    mutated = mutate(OFFERS[offer_name])
    if mutated is None:
        # The mutation does not fit this offer (e.g. no second m-section); the offer
        # must then lack the feature, which the assertion below checks is really so.
        assert rule in NOT_APPLICABLE_OK, f"{rule} should apply to {offer_name}"
        return
    with pytest.raises(sdp.SdpError) as info:
        sdp.validate_offer(mutated)
    assert info.value.rule == rule, str(info.value)
    assert info.value.ref == sdp.RULES[rule][0]
    if not rule.startswith("limit."):
        assert info.value.line is not None or rule in ("syntax.empty", "syntax.encoding")


# Mutations that only fit offers with the feature (a second m-section, an RTP section,
# a session-level line ...). Every other mutation must apply to every offer.
NOT_APPLICABLE_OK = {
    "media.duplicate_mid",
    "rtp.payload_type",
    "rtp.duplicate_payload_type",
    "rtp.missing_rtpmap",
    "dtls.proto",
    "syntax.media",
    "dtls.fingerprint_value",
    "dtls.fingerprint_hash",
    "attr.group",
    "bundle.unknown_mid",
    "bundle.duplicate_mid",
}


def test_generic_mutations_cover_every_sample_feature() -> None:
    # The Chromium-shaped offer has every feature: no mutation may skip it.
    text = sample("chrome_offer")
    for label, (_, mutate) in GENERIC.items():
        assert mutate(text) is not None, label


# -- answers --


def _answer_case(mutate: Callable[[str, str], tuple[str, str]], rule: str) -> None:
    for offer, answer in ANSWERS.values():
        new_offer, new_answer = mutate(offer, answer)
        with pytest.raises(sdp.SdpError) as info:
            sdp.validate_answer(new_answer, offer=new_offer)
        assert info.value.rule == rule, str(info.value)


def test_answer_with_fewer_sections() -> None:
    def drop_last(offer: str, answer: str) -> tuple[str, str]:
        cut = answer.rindex("\r\nm=") + 2
        return offer, answer[:cut]

    _answer_case(drop_last, "answer.media_count")


def test_answer_with_other_kind() -> None:
    def swap(offer: str, answer: str) -> tuple[str, str]:
        kind = sdp.parse(answer).media[0].kind
        return offer, answer.replace(f"m={kind} ", "m=text ", 1)

    _answer_case(swap, "answer.media_kind")


def test_answer_with_other_mid() -> None:
    def remid(offer: str, answer: str) -> tuple[str, str]:
        mid = sdp.parse(answer).media[0].mid
        new = answer.replace(f"a=mid:{mid}\r\n", "a=mid:zz9\r\n", 1)
        return offer, new

    _answer_case(remid, "answer.mid")


def test_answer_with_actpass() -> None:
    def actpass(offer: str, answer: str) -> tuple[str, str]:
        return offer, answer.replace("a=setup:active", "a=setup:actpass").replace(
            "a=setup:passive", "a=setup:actpass"
        )

    _answer_case(actpass, "dtls.setup_answer")


def test_answer_setup_checked_where_it_applies() -> None:
    offer, answer = ANSWERS[next(iter(ANSWERS))]
    sdp.validate_answer(answer, offer=offer)
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(answer)
    assert info.value.rule == "dtls.setup_offer"


# -- policy mutations --


def test_policy_limits() -> None:
    text = sample("chrome_offer")
    cases = [
        (sdp.SdpPolicy(max_bytes=len(text) - 1), "limit.bytes"),
        (sdp.SdpPolicy(max_line_length=60), "limit.line_length"),
        (sdp.SdpPolicy(max_media_sections=2), "limit.media_sections"),
        (sdp.SdpPolicy(max_candidates=3), "limit.candidates"),
        (sdp.SdpPolicy(allowed_codecs=frozenset({"VP8"})), "policy.codec"),
        (
            sdp.SdpPolicy(candidate_address_policy=sdp.CandidateAddressPolicy(allow_mdns=False)),
            "policy.candidate_address",
        ),
    ]
    for policy, rule in cases:
        with pytest.raises(sdp.SdpError) as info:
            sdp.validate_offer(text, policy=policy)
        assert info.value.rule == rule, str(info.value)


def test_limit_candidates_points_at_the_first_candidate_over() -> None:
    text = sample("chrome_offer")
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(text, policy=sdp.SdpPolicy(max_candidates=1))
    assert lines_of(text)[info.value.line - 1].startswith("a=candidate:1510613869")  # type: ignore[operator]


def test_allowed_codecs_accepts_when_every_codec_is_listed() -> None:
    text = sample("aiortc_offer")
    policy = sdp.SdpPolicy(
        allowed_codecs=frozenset({"opus", "G722", "PCMU", "PCMA", "vp8", "h264"})
    )
    assert sdp.validate_offer(text, policy=policy)
    with pytest.raises(sdp.SdpValidationError, match="G722"):
        sdp.validate_offer(text, policy=sdp.SdpPolicy(allowed_codecs=frozenset({"opus"})))


def test_static_payload_type_without_rtpmap_names_its_codec_for_policy() -> None:
    text = sample("aiortc_offer").replace("a=rtpmap:0 PCMU/8000\r\n", "")
    policy = sdp.SdpPolicy(allowed_codecs=frozenset({"opus", "g722", "pcma", "vp8", "h264"}))
    with pytest.raises(sdp.SdpValidationError, match=r"PCMU|pcmu"):
        sdp.validate_offer(text, policy=policy)


def test_require_dtls_off_admits_plain_rtp_without_fingerprint() -> None:
    text = sample("aiortc_offer").replace("UDP/TLS/RTP/SAVPF", "RTP/AVPF")
    text = "\r\n".join(line for line in text.split("\r\n") if not line.startswith("a=fingerprint"))
    with pytest.raises(sdp.SdpValidationError):
        sdp.validate_offer(text)
    assert sdp.validate_offer(text, policy=sdp.SdpPolicy(require_dtls=False))
