"""The RFC 8866 parser and the model: syntax, round trips, typed views, hostile input."""

from __future__ import annotations

import pytest
from sdp_samples import ALL_TEXTS, join, lines_of, sample

from rtcsignal import sdp

MINIMAL = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize("name", sorted(ALL_TEXTS))
def test_round_trip(name: str) -> None:
    text = ALL_TEXTS[name]
    desc = sdp.parse(text)
    assert desc.to_sdp() == text
    assert str(desc) == text
    assert sdp.parse(text.encode("utf-8")) == desc


@pytest.mark.parametrize("name", sorted(ALL_TEXTS))
def test_lf_only_is_tolerated_and_round_trips(name: str) -> None:
    text = ALL_TEXTS[name].replace("\r\n", "\n")
    desc = sdp.parse(text)
    assert desc.eol == "\n"
    assert desc.to_sdp() == text


def test_mixed_endings_are_tolerated_and_normalised() -> None:
    text = sample("datachannel_offer")
    mixed = text.replace("s=-\r\n", "s=-\n")
    desc = sdp.parse(mixed)
    assert desc.to_sdp() == text
    assert desc == sdp.parse(text)


def test_missing_final_line_ending_round_trips() -> None:
    text = sample("datachannel_offer")[:-2]
    desc = sdp.parse(text)
    assert not desc.final_eol
    assert desc.to_sdp() == text


def test_trailing_garbage_is_a_syntax_error() -> None:
    for garbage in ("x", "garbage\r\n", "\r\n", "a\x00b"):
        with pytest.raises(sdp.SdpSyntaxError):
            sdp.parse(sample("chrome_offer") + garbage)


def test_model_fields() -> None:
    desc = sdp.parse(sample("chrome_offer"))
    assert desc.version == 0
    assert desc.origin == sdp.Origin(
        username="-",
        session_id="8403615332048243445",
        session_version="2",
        nettype="IN",
        addrtype="IP4",
        address="127.0.0.1",
    )
    assert desc.session_name == "-"
    assert desc.lines == (sdp.Line("t", "0 0"),)
    assert desc.bundle_groups() == (sdp.Group(semantics="BUNDLE", mids=("0", "1", "2")),)
    assert desc.mids() == ("0", "1", "2")
    audio, video, data = desc.media
    assert (audio.kind, audio.port, audio.proto) == ("audio", 54400, "UDP/TLS/RTP/SAVPF")
    assert audio.formats == ("111", "63", "9", "0", "8", "13", "110", "126")
    assert audio.lines[0] == sdp.Line("c", "IN IP4 203.0.113.7")
    assert audio.mid == "0" and audio.rtcp_mux and audio.rtcp_rsize and not audio.bundle_only
    assert audio.direction == "sendrecv" and audio.setup == "actpass"
    assert (audio.ice_ufrag, audio.ice_pwd) == ("EsAw", "P2uYro0UCOQ4zxjKXaWCBui1")
    assert audio.ice_options == ("trickle",)
    assert audio.rtpmaps()[0] == sdp.Rtpmap(
        payload_type=111, encoding="opus", clock_rate=48000, channels=2
    )
    assert audio.fmtps()[0].pairs() == (("minptime", "10"), ("useinbandfec", "1"))
    assert audio.rtcp_fbs()[0] == sdp.RtcpFb(
        payload_type="111", type="transport-cc", parameters=None
    )
    assert audio.extmaps()[0].uri == "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    assert audio.ssrcs()[0] == sdp.Ssrc(ssrc=1001, attribute="cname", value="t5Yx7Kq1mZ2vB8wN")
    assert audio.msids()[0].track_id == "7d1c0e2f-55aa-4c1b-8f2e-1a2b3c4d5e6f"
    assert [c.type for c in audio.candidates()] == ["host", "host", "srflx", "relay"]
    assert audio.fingerprints()[0].hash_function == "sha-256"
    assert video.ssrc_groups() == (sdp.SsrcGroup(semantics="FID", ssrcs=(2001, 2002)),)
    assert video.simulcast() is None and video.rids() == ()
    assert data.sctp_port == 5000 and data.max_message_size == 262144 and not data.is_rtp
    assert desc.media_by_mid("2") is data and desc.media_by_mid("9") is None
    assert audio.get("nothing") is None and audio.get("rtcp-mux") == ""
    assert audio.get_all("rtcp-mux") == ("",)
    assert sdp.attribute_to_sdp(("rtcp-mux", None)) == "a=rtcp-mux"
    assert sdp.attribute_to_sdp(("mid", "0")) == "a=mid:0"
    assert desc.attributes[1] == ("extmap-allow-mixed", None)


def test_session_level_transport_firefox() -> None:
    desc = sdp.parse(sample("firefox_offer"))
    assert desc.fingerprints()[0].hash_function == "sha-256"
    assert desc.media[0].fingerprints() == ()
    assert desc.ice_options == ("trickle",)
    assert desc.ice_ufrags() == frozenset({"8f1c2d3e"})


def test_rid_and_simulcast_views() -> None:
    text = sample("aiortc_offer").replace(
        "a=mid:1\r\n",
        "a=mid:1\r\na=rid:h send max-width=1280\r\na=rid:l send\r\n"
        "a=simulcast:send h;~l recv x,y\r\n",
    )
    video = sdp.validate_offer(text).media[1]
    assert video.rids()[0] == sdp.Rid(id="h", direction="send", restrictions="max-width=1280")
    assert video.simulcast() == sdp.Simulcast(send=(("h",), ("~l",)), recv=(("x", "y"),))
    spaced = sdp.validate_offer(text.replace("a=simulcast:send", "a=simulcast: send"))
    assert spaced.media[1].simulcast() == video.simulcast()
    assert spaced.media[1].get("simulcast") == " send h;~l recv x,y"


def test_typed_view_errors_carry_the_line() -> None:
    text = sample("aiortc_offer").replace("a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus")
    desc = sdp.parse(text)
    with pytest.raises(sdp.SdpSyntaxError) as info:
        desc.media[0].rtpmaps()
    assert info.value.rule == "attr.rtpmap"
    assert lines_of(text)[info.value.line - 1] == "a=rtpmap:96 opus"  # type: ignore[operator]


def test_minimal_description() -> None:
    desc = sdp.parse(MINIMAL)
    assert desc.media == () and desc.attributes == ()
    assert desc.ice_ufrags() == frozenset()
    assert desc.to_sdp() == MINIMAL


def test_session_lines_in_order_and_t_r_repeat() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\ni=info\r\nu=http://x\r\ne=a@b\r\ne=c@d\r\n"
        "p=+1\r\nc=IN IP4 0.0.0.0\r\nb=AS:10\r\nt=0 0\r\nr=7d 1h 0\r\nt=1 2\r\nz=0 0\r\n"
        "k=prompt\r\na=x\r\nm=audio 9/2 RTP/AVP 0\r\ni=m\r\nc=IN IP4 0.0.0.0\r\n"
        "c=IN IP4 0.0.0.1\r\nb=AS:1\r\nk=clear\r\na=y\r\n"
    )
    desc = sdp.parse(text)
    assert [line.type for line in desc.lines] == list("iueepcbtrtzk")
    assert desc.media[0].port_count == 2
    assert desc.to_sdp() == text


@pytest.mark.parametrize(
    ("text", "rule", "line"),
    [
        ("", "syntax.empty", None),
        (b"v=0\r\n\xff", "syntax.encoding", None),
        ("v=0\r\n\udc80", "syntax.encoding", None),
        (12, "syntax.encoding", None),
        ("x", "syntax.line_format", 1),
        ("q=0\r\n", "syntax.unknown_type", 1),
        ("o=- 1 1 IN IP4 0.0.0.0\r\n", "syntax.missing_line", 1),
        ("v=0\r\n", "syntax.missing_line", 1),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n", "syntax.missing_line", 3),
        ("v=0\r\no=- x 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "syntax.origin", 2),
        (MINIMAL + "u=late\r\n", "syntax.line_order", 5),
        (MINIMAL + "a=x\r\nt=0 0\r\n", "syntax.line_order", 6),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\nt=0 0\r\n", "syntax.line_order", 6),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\nq=0\r\n", "syntax.unknown_type", 6),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\nk=a\r\nk=b\r\n", "syntax.repeated_line", 7),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\na=x\r\ni=late\r\n", "syntax.line_order", 7),
        (MINIMAL + "m=audio 9 RTP/AVP\r\n", "syntax.media", 5),
        (MINIMAL + "m=audio 09 RTP/AVP 0\r\n", "syntax.media", 5),
        (MINIMAL + "m=audio 9/0 RTP/AVP 0\r\n", "syntax.media", 5),
        (MINIMAL + "m=au:dio 9 RTP/AVP 0\r\n", "syntax.media", 5),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\nbroken\r\n", "syntax.line_format", 6),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\n=x\r\n", "syntax.line_format", 6),
        (MINIMAL + "a=:x\r\n", "syntax.attribute", 5),
        (MINIMAL.replace("t=0 0", "t=0 x"), "syntax.timing", 4),
        (MINIMAL + "m=audio 9 RTP/AVP 0\r\nb=AS\r\n", "syntax.bandwidth", 6),
    ],
)
def test_syntax_errors(text: str, rule: str, line: int | None) -> None:
    with pytest.raises(sdp.SdpSyntaxError) as info:
        sdp.parse(text)  # type: ignore[arg-type]
    assert info.value.rule == rule, str(info.value)
    assert info.value.line == line


def test_limits_apply_before_parsing() -> None:
    text = sample("chrome_offer")
    with pytest.raises(sdp.SdpSyntaxError) as info:
        sdp.parse(text, policy=sdp.SdpPolicy(max_bytes=100))
    assert info.value.rule == "limit.bytes"
    with pytest.raises(sdp.SdpSyntaxError) as info:
        sdp.parse(text.encode(), policy=sdp.SdpPolicy(max_bytes=100))
    assert info.value.rule == "limit.bytes"
    # Multi-byte characters count as UTF-8 bytes.
    wide = MINIMAL.replace("s=-", "s=" + "é" * 60)
    with pytest.raises(sdp.SdpSyntaxError) as info:
        sdp.parse(wide, policy=sdp.SdpPolicy(max_bytes=len(wide) + 10))
    assert info.value.rule == "limit.bytes"
    assert sdp.parse(wide).session_name == "é" * 60
    with pytest.raises(sdp.SdpSyntaxError) as info:
        sdp.parse(text, policy=sdp.SdpPolicy(max_media_sections=1))
    assert (info.value.rule, info.value.line) == (
        "limit.media_sections",
        sdp.parse(text).media[1].line,
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "v=0\r\n" + "a" * 1_000_000,
        "v=0\r\n" + "a=" + "x:" * 500_000,
        "\r\n" * 500_000,
        "v=0\r\no=" + " " * 1_000_000,
        MINIMAL + "m=audio 9 RTP/AVP " + "0 " * 400_000 + "\r\n",
        MINIMAL + "a=candidate:" + "1 " * 400_000 + "\r\n",
    ],
)
def test_hostile_megabyte_inputs_raise_typed_errors(hostile: str) -> None:
    with pytest.raises(sdp.SdpSyntaxError) as info:
        sdp.parse(hostile)
    assert info.value.rule == "limit.bytes"
    # Even with limits lifted, the result is a typed error or a model: never another exception.
    big = sdp.SdpPolicy(max_bytes=10_000_000, max_line_length=10_000_000, max_media_sections=10**6)
    with pytest.raises(sdp.SdpError) as info:
        sdp.validate_offer(hostile, policy=big)
    assert info.value.rule in sdp.RULES


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        sdp.SdpPolicy(max_bytes=0)
    assert sdp.SdpPolicy(allowed_codecs=frozenset({"VP8"})).allowed_codecs == frozenset({"vp8"})
    assert sdp.SdpPolicy().max_bytes == sdp.DEFAULT_MAX_BYTES == 65_536


def test_error_shape() -> None:
    with pytest.raises(sdp.SdpError) as info:
        sdp.validate_offer(sample("chrome_offer").replace("a=ice-ufrag:EsAw", "a=ice-ufrag:E!"))
    err = info.value
    assert err.to_dict() == {
        "rule": "ice.ufrag_charset",
        "line": 15,
        "field": "a=ice-ufrag",
        "ref": "RFC 8839 §5.4",
        "message": err.message,
    }
    assert str(err).startswith("line 15: a=ice-ufrag has characters")
    assert str(err).endswith("[ice.ufrag_charset, RFC 8839 §5.4]")
    assert "ice.ufrag_charset" in repr(err)
    assert isinstance(err, sdp.SdpSyntaxError)
    no_line = sdp.SdpValidationError("answer.mid", "x")
    assert str(no_line) == "x [answer.mid, RFC 8829 §5.3.1]"


def test_rejected_section_needs_no_transport() -> None:
    lines = lines_of(sample("aiortc_offer"))
    # Reject the video section: port 0, no bundle-only, no credentials (RFC 3264 §6).
    start = next(i for i, line in enumerate(lines) if line.startswith("m=video"))
    end = next(i for i, line in enumerate(lines) if line.startswith("m=application"))
    section = [
        line.replace("m=video 58006", "m=video 0")
        for line in lines[start:end]
        if not line.startswith(("a=ice-", "a=fingerprint", "a=candidate", "a=setup", "a=rtpmap"))
    ]
    text = join(lines[:start] + section + lines[end:]).replace(
        "a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 2"
    )
    assert sdp.validate_offer(text).media[1].port == 0


def test_bundle_only_must_be_bundled() -> None:
    text = sample("maxbundle_offer").replace("a=group:BUNDLE a1 v1 d1", "a=group:BUNDLE a1 v1")
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(text)
    assert info.value.rule == "bundle.only_not_bundled"


def test_validate_accepts_a_parsed_model() -> None:
    desc = sdp.parse(sample("chrome_offer"))
    assert sdp.validate_offer(desc) is desc
    too_many = sdp.SdpPolicy(max_media_sections=2)
    with pytest.raises(sdp.SdpValidationError) as info:
        sdp.validate_offer(desc, policy=too_many)
    assert info.value.rule == "limit.media_sections"
