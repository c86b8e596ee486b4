"""ICE candidates: the RFC 8839 §5.1 grammar, trickle checks, generations and policy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdp_samples import sample

from rtcsignal import sdp
from rtcsignal.sdp._candidate import _is_plain_ipv6, is_valid_address

MDNS = "b2d4c1e5-7f3a-4b6c-9d8e-0a1b2c3d4e5f.local"
REAL = [
    # Chromium: mDNS host, TCP active with port 9, srflx with raddr 0.0.0.0 rport 0 under
    # mDNS, relay, vendor extensions.
    f"candidate:3345412921 1 udp 2122260223 {MDNS} 54400 typ host generation 0 "
    "ufrag EsAw network-id 1 network-cost 10",
    f"candidate:1510613869 1 tcp 1518280447 {MDNS} 9 typ host tcptype active generation 0 "
    "network-id 1",
    "candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0 "
    "generation 0 network-id 1 network-cost 10",
    "candidate:2157334355 1 udp 41885439 198.51.100.20 3478 typ relay raddr 203.0.113.7 "
    "rport 54400 generation 0",
    # Firefox: upper-case transport, IPv6, tcptype passive.
    "candidate:0 1 UDP 2122252543 2001:db8::5 49203 typ host",
    "candidate:2 1 TCP 2105524479 192.0.2.10 9 typ host tcptype active",
    "candidate:3 1 TCP 2105458943 192.0.2.10 60000 typ host tcptype passive",
    # aiortc: 32-character foundation (the maximum).
    "candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 192.0.2.2 52122 typ host",
    # RTCP component, FQDN, prflx, simultaneous-open TCP.
    "candidate:a+/b 2 udp 1 turn.example.com 65535 typ prflx raddr 192.0.2.1 rport 1",
    "candidate:x 1 tcp 2147483647 192.0.2.1 0 typ host tcptype so",
]


@pytest.mark.parametrize("text", REAL)
def test_real_candidates_parse_and_round_trip(text: str) -> None:
    candidate = sdp.parse_candidate(text)
    assert candidate.to_sdp() == text
    assert str(candidate) == text
    assert sdp.parse_candidate("a=" + text) == candidate
    assert sdp.parse_candidate(text.removeprefix("candidate:")) == candidate


def test_fields() -> None:
    c = sdp.parse_candidate(REAL[1])
    assert (c.foundation, c.component, c.transport, c.priority) == (
        "1510613869",
        1,
        "tcp",
        1518280447,
    )
    assert (c.address, c.port, c.type, c.tcptype) == (MDNS, 9, "host", "active")
    assert c.extensions == (("generation", "0"), ("network-id", "1"))
    assert c.extension("network-id") == "1"
    assert c.extension("nope") is None
    s = sdp.parse_candidate(REAL[2])
    assert (s.related_address, s.related_port) == ("0.0.0.0", 0)
    assert sdp.parse_candidate(REAL[0]).ufrag == "EsAw"


BASE = "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host"
INVALID = [
    ("", "candidate.syntax"),
    ("candidate:1 1 udp 1 192.0.2.1 9", "candidate.syntax"),
    ("candidate:1 1 udp 1 192.0.2.1 9 type host", "candidate.syntax"),
    (BASE + "\r\na=evil", "candidate.syntax"),
    (BASE.replace("typ host", "typ host é x"), "candidate.syntax"),
    ("candidate:1  1 udp 1 192.0.2.1 9 typ host", "candidate.syntax"),
    ("candidate:" + "a" * 33 + " 1 udp 1 192.0.2.1 9 typ host", "candidate.foundation"),
    ("candidate:a-b 1 udp 1 192.0.2.1 9 typ host", "candidate.foundation"),
    ("candidate:1 0 udp 1 192.0.2.1 9 typ host", "candidate.component"),
    ("candidate:1 257 udp 1 192.0.2.1 9 typ host", "candidate.component"),
    ("candidate:1 01 udp 1 192.0.2.1 9 typ host", "candidate.component"),
    ("candidate:1 1 sctp 1 192.0.2.1 9 typ host", "candidate.transport"),
    ("candidate:1 1 udp 0 192.0.2.1 9 typ host", "candidate.priority"),
    ("candidate:1 1 udp 2147483648 192.0.2.1 9 typ host", "candidate.priority"),
    ("candidate:1 1 udp 99999999999999999999 192.0.2.1 9 typ host", "candidate.priority"),
    ("candidate:1 1 udp 1 192.0.2.256 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 192.0.02.1 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 1.2.3 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 fe80::1%eth0 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 2001:db8:::1 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 -bad-.local 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 a..b 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 " + "a" * 64 + ".local 9 typ host", "candidate.address"),
    ("candidate:1 1 udp 1 192.0.2.1 65536 typ host", "candidate.port"),
    ("candidate:1 1 udp 1 192.0.2.1 -1 typ host", "candidate.port"),
    ("candidate:1 1 udp 1 192.0.2.1 9 typ local", "candidate.type"),
    (BASE.replace("host", "srflx raddr 0.0.0.0"), "candidate.related"),
    (BASE.replace("host", "srflx rport 0"), "candidate.related"),
    (BASE.replace("host", "srflx raddr 0.0.0.0 port 0"), "candidate.related"),
    (BASE.replace("host", "srflx raddr nope! rport 0"), "candidate.related"),
    (BASE.replace("host", "srflx raddr 0.0.0.0 rport 70000"), "candidate.related"),
    (BASE + " tcptype active", "candidate.tcptype"),
    (BASE.replace("udp", "tcp") + " tcptype sideways", "candidate.tcptype"),
    (BASE + " generation", "candidate.extension"),
    (BASE + " generation 0 raddr 1.2.3.4", "candidate.extension"),
    (BASE + " gen@ 0", "candidate.extension"),
]


@pytest.mark.parametrize(("text", "rule"), INVALID)
def test_invalid_candidates(text: str, rule: str) -> None:
    with pytest.raises(sdp.CandidateError) as info:
        sdp.parse_candidate(text)
    assert info.value.rule == rule, str(info.value)
    assert info.value.to_dict()["rule"] == rule


def test_parse_candidate_refuses_non_text() -> None:
    with pytest.raises(sdp.CandidateError) as info:
        sdp.parse_candidate(b"candidate:1")  # type: ignore[arg-type]
    assert info.value.rule == "candidate.syntax"


# -- trickle: validate_candidate against the sender's description --


@pytest.fixture
def offer() -> sdp.SessionDescription:
    return sdp.validate_offer(sample("chrome_offer"))


def _check(offer: sdp.SessionDescription | None, **kw: object) -> object:
    args: dict[str, object] = {
        "sdp_mid": "0",
        "sdp_mline_index": 0,
        "username_fragment": "EsAw",
        "description": offer,
    }
    args.update(kw)
    candidate = args.pop("candidate", REAL[2])
    return sdp.validate_candidate(candidate, **args)  # type: ignore[arg-type]


def test_trickled_candidate_for_current_generation(offer: sdp.SessionDescription) -> None:
    result = _check(offer)
    assert isinstance(result, sdp.Candidate)
    assert result.to_sdp() == REAL[2]
    assert _check(offer, sdp_mid=None) == result  # index alone
    assert _check(offer, sdp_mline_index=None, sdp_mid="2") == result  # mid alone
    assert _check(offer, username_fragment=None) == result  # no generation given
    assert _check(offer, candidate=result) == result  # already parsed
    with pytest.raises(sdp.CandidateError, match="candidate:") as info:  # an SDP line
        _check(offer, candidate="a=" + REAL[2])
    assert info.value.rule == "candidate.framing"


def test_sdp_mid_wins_over_the_index(offer: sdp.SessionDescription) -> None:
    # W3C addIceCandidate: sdpMid is used when present, the index is then ignored.
    assert isinstance(_check(offer, sdp_mid="1", sdp_mline_index=2), sdp.Candidate)


@pytest.mark.parametrize(
    ("kw", "rule"),
    [
        ({"sdp_mid": None, "sdp_mline_index": None}, "candidate.no_target"),
        ({"sdp_mid": "7", "sdp_mline_index": None}, "candidate.unknown_mid"),
        ({"sdp_mid": None, "sdp_mline_index": 3}, "candidate.mline_index"),
        ({"sdp_mid": None, "sdp_mline_index": -1}, "candidate.mline_index"),
        ({"sdp_mid": None, "sdp_mline_index": True}, "candidate.mline_index"),
        ({"candidate": REAL[0], "username_fragment": "OTHER"}, "candidate.ufrag_mismatch"),
        ({"candidate": 42}, "candidate.syntax"),
        ({"candidate": BASE + " x" * 3000}, "limit.line_length"),
    ],
)
def test_trickle_errors(offer: sdp.SessionDescription, kw: dict[str, object], rule: str) -> None:
    with pytest.raises(sdp.CandidateError) as info:
        _check(offer, **kw)
    assert info.value.rule == rule, str(info.value)


def test_previous_generation_is_dropped_not_invalid(offer: sdp.SessionDescription) -> None:
    with pytest.raises(sdp.CandidateDropped) as info:
        _check(offer, username_fragment="OldU")
    err = info.value
    assert err.rule == "ice.stale_generation"
    assert not isinstance(err, sdp.CandidateError)
    assert isinstance(err, sdp.SdpError)
    assert err.to_dict()["field"] == "usernameFragment"
    # The ufrag extension identifies the generation when usernameFragment is absent.
    stale = REAL[0].replace("ufrag EsAw", "ufrag OldU")
    with pytest.raises(sdp.CandidateDropped):
        _check(offer, candidate=stale, username_fragment=None)


def test_ice_restart_moves_the_generation() -> None:
    old = sdp.validate_offer(sample("chrome_offer"))
    new = sdp.validate_offer(sample("chrome_offer").replace("a=ice-ufrag:EsAw", "a=ice-ufrag:R3st"))
    assert old.ice_ufrags() == frozenset({"EsAw"})
    assert new.ice_ufrags() == frozenset({"R3st"})
    assert isinstance(_check(new, username_fragment="R3st"), sdp.Candidate)
    with pytest.raises(sdp.CandidateDropped):
        _check(new, username_fragment="EsAw")


def test_bundled_section_takes_the_generation_of_its_group() -> None:
    desc = sdp.validate_offer(sample("maxbundle_offer"))
    assert desc.ice_ufrag_of(1) == "ETEn"  # bundle-only video, credentials on the tag
    result = sdp.validate_candidate(
        "candidate:1 1 udp 2113929471 203.0.113.100 10000 typ host",
        sdp_mid="v1",
        sdp_mline_index=None,
        username_fragment="ETEn",
        description=desc,
    )
    assert isinstance(result, sdp.Candidate)


def test_end_of_candidates(offer: sdp.SessionDescription) -> None:
    result = _check(offer, candidate="")
    assert result == sdp.EndOfCandidates(sdp_mid="0", sdp_mline_index=0, username_fragment="EsAw")
    with pytest.raises(sdp.CandidateDropped):
        _check(offer, candidate="", username_fragment="OldU")
    assert isinstance(
        _check(None, candidate="", sdp_mid=None, sdp_mline_index=None), sdp.EndOfCandidates
    )


def test_without_description_only_grammar_and_policy() -> None:
    assert isinstance(_check(None, sdp_mid="zz", sdp_mline_index=99), sdp.Candidate)


POLICY_CASES = [
    ("127.0.0.1", "allow_loopback", "loopback"),
    ("::1", "allow_loopback", "ipv6_loopback"),
    ("169.254.10.1", "allow_link_local", "link_local"),
    ("fe80::1", "allow_link_local", "ipv6_link_local"),
    ("10.1.2.3", "allow_private", "private"),
    ("192.168.1.10", "allow_private", "private"),
    ("100.64.0.1", "allow_private", "private"),
    ("fd00::2", "allow_private", "ipv6_private"),
    (MDNS, "allow_mdns", "mdns"),
    ("turn.example.com", "allow_fqdn", "fqdn"),
    ("2001:4860::1", "allow_ipv6", "ipv6_public"),
]


@pytest.mark.parametrize(("address", "flag", "kind"), POLICY_CASES)
def test_address_policy(address: str, flag: str, kind: str) -> None:
    assert sdp.classify_address(address) == kind
    text = f"candidate:1 1 udp 1 {address} 9 typ host"
    assert isinstance(_check(None, candidate=text), sdp.Candidate)  # default allows all
    refuse = sdp.SdpPolicy(candidate_address_policy=sdp.CandidateAddressPolicy(**{flag: False}))
    with pytest.raises(sdp.CandidateError) as info:
        _check(None, candidate=text, policy=refuse)
    assert info.value.rule == "policy.candidate_address"


def test_public_only_policy() -> None:
    policy = sdp.SdpPolicy(candidate_address_policy=sdp.CandidateAddressPolicy.public_only())
    for address in ("8.8.8.8", MDNS):
        assert isinstance(
            _check(None, candidate=f"candidate:1 1 udp 1 {address} 9 typ host", policy=policy),
            sdp.Candidate,
        )
    for address in ("127.0.0.1", "10.0.0.1", "169.254.1.1", "example.com"):
        with pytest.raises(sdp.CandidateError):
            _check(None, candidate=f"candidate:1 1 udp 1 {address} 9 typ host", policy=policy)


def test_unspecified_and_multicast_are_refused_by_any_policy() -> None:
    assert sdp.classify_address("0.0.0.0") == "invalid"
    assert sdp.classify_address("224.0.0.1") == "invalid"
    assert sdp.classify_address("no pe") == "invalid"
    with pytest.raises(sdp.CandidateError):
        _check(None, candidate="candidate:1 1 udp 1 0.0.0.0 9 typ host")


@given(st.text(alphabet="0aF:.1", max_size=40))
def test_ipv6_fast_path_accepts_only_what_ipaddress_accepts(text: str) -> None:
    # The call-free IPv6 check is a strict subset of ipaddress; is_valid_address agrees
    # with ipaddress on every text with a colon.
    try:
        ipaddress.IPv6Address(text)
        valid = True
    except ValueError:
        valid = False
    if _is_plain_ipv6(text):
        assert valid, text
    if ":" in text:
        assert is_valid_address(text) == valid, text


@pytest.mark.parametrize(
    "text",
    ["1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "::", "fd00::2", "Fa::1F:a:f:0a:1:a:fa", "1::2::3"],
)
def test_ipv6_fast_path_edges(text: str) -> None:
    try:
        ipaddress.IPv6Address(text)
        valid = True
    except ValueError:
        valid = False
    assert is_valid_address(text) == valid


_KINDS = ["loopback", "link_local", "private", "mdns", "fqdn", "public", "invalid"]
_ADDRESSES = {
    "loopback": ["127.0.0.1", "::1"],
    "link_local": ["169.254.3.4", "fe80::1"],
    "private": ["10.1.2.3", "100.64.0.1", "fd00::1"],
    "mdns": ["0b7a3c9e-1f2d-4e5f-8a9b-0c1d2e3f4a5b.local"],
    "fqdn": ["turn.example.com"],
    "public": ["8.8.8.8", "2001:4860:4860::8888"],
    "invalid": ["0.0.0.0", "224.0.0.1", "ff02::1"],
}


@pytest.mark.parametrize("bits", range(64))
def test_address_policy_matches_its_definition(bits: int) -> None:
    """Every one of the 64 policies lets through exactly the kinds its flags name."""
    flags = [bool(bits >> i & 1) for i in range(6)]
    policy = sdp.CandidateAddressPolicy(
        allow_loopback=flags[0],
        allow_link_local=flags[1],
        allow_private=flags[2],
        allow_mdns=flags[3],
        allow_fqdn=flags[4],
        allow_ipv6=flags[5],
    )
    allowed = dict(zip(_KINDS, [*flags[:5], True, False], strict=True))
    for kind, addresses in _ADDRESSES.items():
        for address in addresses:
            ipv6 = ":" in address
            expect = allowed[kind] and (policy.allow_ipv6 or not ipv6)
            line = f"candidate:1 1 udp 1 {address} 9 typ host"
            if expect:
                sdp.validate_candidate(
                    line, sdp_mid=None, sdp_mline_index=None, username_fragment=None,
                    description=None, policy=sdp.SdpPolicy(candidate_address_policy=policy),
                )  # fmt: skip
            else:
                with pytest.raises(sdp.CandidateError) as err:
                    sdp.validate_candidate(
                        line, sdp_mid=None, sdp_mline_index=None, username_fragment=None,
                        description=None, policy=sdp.SdpPolicy(candidate_address_policy=policy),
                    )  # fmt: skip
                assert err.value.rule == "policy.candidate_address"
            assert sdp.classify_address(address) == sdp.classify_address(address)
