"""Hypothesis strategies for :mod:`rtcsignal.sdp`: valid descriptions and candidates, and
invalid ones paired with the rule they break."""

from __future__ import annotations

import string

from hypothesis import strategies as st

ICE_CHARS = string.ascii_letters + string.digits + "+/"
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`{|}~"
# Attribute names the validator checks; generated unknown attributes avoid them.
HANDLED = {
    "mid", "ice-ufrag", "ice-pwd", "ice-options", "setup", "fingerprint", "rtpmap", "fmtp",
    "rtcp-fb", "extmap", "ssrc", "ssrc-group", "msid", "rid", "simulcast", "candidate",
    "group", "bundle-only", "sctp-port", "max-message-size", "rtcp-mux", "rtcp-rsize",
    "end-of-candidates", "extmap-allow-mixed", "sendrecv", "sendonly", "recvonly", "inactive",
}  # fmt: skip
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


def ice_chars(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Strings of RFC 8839 ice-chars."""
    return st.text(ICE_CHARS, min_size=min_size, max_size=max_size)


def tokens(max_size: int = 12) -> st.SearchStrategy[str]:
    """RFC 8866 tokens."""
    return st.text(TOKEN_CHARS, min_size=1, max_size=max_size)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """Connection addresses: IPv4, IPv6, mDNS names or host names."""
    kind = draw(st.sampled_from(["v4", "v6", "mdns", "fqdn"]))
    if kind == "v4":
        return str(draw(st.ip_addresses(v=4)))
    if kind == "v6":
        return str(draw(st.ip_addresses(v=6)))
    label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
    if kind == "mdns":
        return str(draw(st.uuids())) + ".local"
    return ".".join(draw(st.lists(label, min_size=1, max_size=3))) + ".example"


@st.composite
def candidate_texts(draw: st.DrawFn) -> str:
    """Valid ``candidate:...`` strings (RFC 8839 §5.1, RFC 6544 §4.5)."""
    transport = draw(st.sampled_from(["udp", "UDP", "tcp", "TCP"]))
    cand_type = draw(st.sampled_from(["host", "srflx", "prflx", "relay"]))
    parts = [
        "candidate:" + draw(ice_chars(1, 32)),
        str(draw(st.integers(1, 256))),
        transport,
        str(draw(st.integers(1, 2**31 - 1))),
        draw(addresses()),
        str(draw(st.integers(0, 65535))),
        "typ",
        cand_type,
    ]
    if cand_type != "host" and draw(st.booleans()):  # RFC 8839 §5.1: never on host
        parts += ["raddr", draw(addresses()), "rport", str(draw(st.integers(0, 65535)))]
    if transport.upper() == "TCP" and draw(st.booleans()):
        parts += ["tcptype", draw(st.sampled_from(["active", "passive", "so"]))]
    names = tokens().filter(lambda n: n not in {"raddr", "rport", "tcptype", "typ"})
    values = st.text(string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=10)
    for name, value in draw(st.lists(st.tuples(names, values), max_size=4)):
        parts += [name, value]
    return " ".join(parts)


def _fingerprint(data: bytes) -> str:
    return "sha-256 " + ":".join(f"{b:02X}" for b in data)


@st.composite
def unknown_attributes(draw: st.DrawFn) -> list[str]:
    """Attributes the validator does not interpret: preserved verbatim."""
    names = tokens().filter(lambda n: n not in HANDLED)
    values = st.one_of(st.none(), st.text(PRINTABLE, max_size=30))
    out = []
    for name, value in draw(st.lists(st.tuples(names, values), max_size=3)):
        out.append(f"a={name}" if value is None else f"a={name}:{value}")
    return out


@st.composite
def offers(draw: st.DrawFn) -> str:
    """Valid WebRTC offers: 1-4 m-sections, BUNDLE, credentials at session or media level,
    payload types with rtpmaps, candidates and unknown attributes."""
    count = draw(st.integers(1, 4))
    mids = draw(st.lists(tokens(4), min_size=count, max_size=count, unique=True))
    ufrag = draw(ice_chars(4, 12))
    pwd = draw(ice_chars(22, 32))
    fingerprint = _fingerprint(draw(st.binary(min_size=32, max_size=32)))
    at_session = draw(st.booleans())
    lines = [
        "v=0",
        f"o=- {draw(st.integers(0, 2**63))} {draw(st.integers(0, 99))} IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(mids),
    ]
    transport = [
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        f"a=fingerprint:{fingerprint}",
        "a=setup:actpass",
    ]
    if at_session:
        lines += transport
    lines += draw(unknown_attributes())
    for mid in mids:
        kind = draw(st.sampled_from(["audio", "video", "application"]))
        port = draw(st.integers(1, 65535))
        if kind == "application":
            lines += [f"m=application {port} UDP/DTLS/SCTP webrtc-datachannel"]
        else:
            pts = draw(st.lists(st.integers(0, 127), min_size=1, max_size=6, unique=True))
            lines += [f"m={kind} {port} UDP/TLS/RTP/SAVPF " + " ".join(map(str, pts))]
        lines += ["c=IN IP4 0.0.0.0"]
        if not at_session:
            lines += transport
        lines += [f"a=mid:{mid}"]
        if kind != "application":
            lines += ["a=rtcp-mux", draw(st.sampled_from(["a=sendrecv", "a=recvonly"]))]
            for pt in pts:
                lines += [f"a=rtpmap:{pt} {draw(tokens(8))}/90000"]
                if draw(st.booleans()):
                    lines += [f"a=rtcp-fb:{pt} nack pli", f"a=fmtp:{pt} apt={pt}"]
        else:
            lines += ["a=sctp-port:5000", "a=max-message-size:262144"]
        lines += ["a=" + c for c in draw(st.lists(candidate_texts(), max_size=2))]
        lines += draw(unknown_attributes())
    return "\r\n".join(lines) + "\r\n"


# Text mutations of any offer from ``offers()`` and the rule each must trigger.
MUTATIONS: list[tuple[str, str, str]] = [
    ("a=setup:actpass", "a=setup:passive", "dtls.setup_offer"),
    ("a=setup:actpass", "a=setup:sideways", "attr.setup"),
    ("a=fingerprint:sha-256 ", "a=fingerprint:sha-999 ", "dtls.fingerprint_hash"),
    ("a=ice-pwd:", "a=ice-pwd:!", "ice.pwd_charset"),
    ("a=ice-ufrag:", "a=ice-ufrag:-", "ice.ufrag_charset"),
    ("a=group:BUNDLE ", "a=group:BUNDLE nonexistent-mid ", "bundle.unknown_mid"),
    ("v=0\r\n", "v=2\r\n", "syntax.version"),
    ("s=-\r\n", "s=-\r\ns=again\r\n", "syntax.repeated_line"),
    ("t=0 0\r\n", "t=0 0\r\n\r\n", "syntax.empty_line"),
    ("c=IN IP4 0.0.0.0\r\n", "c=IN IP4 0.0.0.0\r\nq=1\r\n", "syntax.unknown_type"),
    ("a=mid:", "a=mid:two words ", "attr.mid"),
]


@st.composite
def invalid_offers(draw: st.DrawFn) -> tuple[str, str]:
    """(offer text, rule id): a valid offer with one mutation applied (first occurrence)."""
    text = draw(offers())
    old, new, rule = draw(st.sampled_from(MUTATIONS))
    return text.replace(old, new, 1), rule
