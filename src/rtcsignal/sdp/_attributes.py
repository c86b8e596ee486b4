"""Typed values of the attributes WebRTC relies on, and their grammars.

Each ``parse_*`` function takes the attribute value (the text after ``a=name:``) and
returns a frozen value or raises :class:`SdpSyntaxError` with the attribute's rule id
(no line number: the caller that knows the line adds it). They are linear in the input
and use ``str`` methods only (no regular expressions).
"""

from __future__ import annotations

from typing import Final

import attrs

from ._errors import SdpSyntaxError

__all__ = [
    "CONTEXT_FREE_LINES",
    "FEEDBACK_TYPES",
    "KNOWN_CODECS",
    "KNOWN_LINES",
    "PAYLOAD_TYPES",
    "RTPMAP_LINES",
    "Extmap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "Msid",
    "Rid",
    "RtcpFb",
    "Rtpmap",
    "Simulcast",
    "Ssrc",
    "SsrcGroup",
    "is_ice_chars",
    "is_token",
    "parse_extmap",
    "parse_fingerprint",
    "parse_fmtp",
    "parse_group",
    "parse_int",
    "parse_msid",
    "parse_rid",
    "parse_rtcp_fb",
    "parse_rtpmap",
    "parse_simulcast",
    "parse_ssrc",
    "parse_ssrc_group",
    "scan_extmap",
    "scan_fmtp",
    "scan_rtcp_fb",
    "scan_rtpmap",
    "scan_ssrc",
]

# RFC 8866 §9 token: visible ASCII except the separators below.
_TOKEN_EXCLUDED: Final = frozenset(' "(),/:;<=>?@[\\]')
# RFC 8839 §5.1 ice-char = ALPHA / DIGIT / "+" / "/"
_ICE_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_HEX: Final = frozenset("0123456789ABCDEFabcdef")
# RFC 8851 §10 rid-id = 1*(alpha-numeric / "-" / "_")
_RID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

MAX_INT_DIGITS: Final = 10
"""Every integer field in these grammars fits in 32 bits (10 digits); longer digit runs
are refused before conversion, so a hostile million-digit number costs nothing."""


MAX_MSID_LENGTH: Final = 64  # RFC 8830 §2: 1*64token-char


def is_token(text: str) -> bool:
    """Return whether ``text`` is a non-empty RFC 8866 token."""
    return bool(text) and text.isascii() and text.isprintable() and _TOKEN_EXCLUDED.isdisjoint(text)


def is_ice_chars(text: str) -> bool:
    """Return whether every character of ``text`` is an RFC 8839 ice-char."""
    return _ICE_CHARS.issuperset(text)


def parse_int(text: str, low: int, high: int) -> int | None:
    """Return ``text`` as a decimal integer in ``[low, high]``, or ``None``."""
    if len(text) > MAX_INT_DIGITS or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if low <= number <= high else None


# Payload types as text: a dict lookup is the fastest exact check (no sign, no leading
# zero, 0-127; RFC 3551 §6).
PAYLOAD_TYPES: Final = {str(pt): pt for pt in range(128)}


def _fail(rule: str, name: str, value: str, why: str) -> SdpSyntaxError:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return SdpSyntaxError(rule, f"a={name}:{shown} {why}", field=f"a={name}")


@attrs.frozen(kw_only=True)
class Rtpmap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None


# The "<encoding>/<clock rate>[/<channels>]" texts WebRTC stacks emit, pre-parsed: a fast
# path only (any other well-formed value takes the general path below).
KNOWN_CODECS: Final = {
    text: (text.split("/")[0], int(text.split("/")[1]),
           int(text.split("/")[2]) if text.count("/") == 2 else None)
    for text in (
        "opus/48000/2", "red/48000/2", "G722/8000", "G722/8000/1", "PCMU/8000", "PCMA/8000",
        "CN/8000", "telephone-event/48000", "telephone-event/8000", "telephone-event/8000/1",
        "VP8/90000", "VP9/90000", "H264/90000", "H265/90000", "AV1/90000", "rtx/90000",
        "red/90000", "ulpfec/90000", "flexfec-03/90000",
    )
}  # fmt: skip


def scan_rtpmap(value: str) -> tuple[int, str, int, int | None]:
    """Check an ``a=rtpmap`` value; return (payload type, encoding, clock rate, channels).

    Raises:
        SdpSyntaxError: ``attr.rtpmap``.
    """
    pt_text, sep, rest = value.partition(" ")
    pt = PAYLOAD_TYPES.get(pt_text)
    known = KNOWN_CODECS.get(rest)
    if known is not None and pt is not None:
        return pt, known[0], known[1], known[2]
    parts = rest.split("/")
    if pt is None or not sep or len(parts) > 3 or not is_token(parts[0]):
        raise _fail("attr.rtpmap", "rtpmap", value, "is not '<pt> <encoding>/<clock rate>'")
    clock = parse_int(parts[1], 1, 0xFFFFFFFF) if len(parts) > 1 else None
    channels = parse_int(parts[2], 1, 255) if len(parts) == 3 else None
    if clock is None or (len(parts) == 3 and channels is None):
        raise _fail("attr.rtpmap", "rtpmap", value, "has a bad clock rate or channel count")
    return pt, parts[0], clock, channels


def parse_rtpmap(value: str) -> Rtpmap:
    """Parse an ``a=rtpmap`` value. Raises: SdpSyntaxError (``attr.rtpmap``)."""
    pt, encoding, clock, channels = scan_rtpmap(value)
    return Rtpmap(payload_type=pt, encoding=encoding, clock_rate=clock, channels=channels)


@attrs.frozen(kw_only=True)
class Fmtp:
    """``a=fmtp:<format> <parameters>`` (RFC 8866 §6.15); parameters kept verbatim."""

    format: str
    parameters: str

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Return the ``;``-separated ``key=value`` parameters (value ``""`` if bare)."""
        out = []
        for item in self.parameters.split(";"):
            key, _, val = item.strip().partition("=")
            if key:
                out.append((key, val))
        return tuple(out)


def scan_fmtp(value: str) -> tuple[str, str]:
    """Check an ``a=fmtp`` value; return (format, parameters). Raises: SdpSyntaxError."""
    fmt, _, params = value.partition(" ")
    if not params or (fmt not in PAYLOAD_TYPES and not is_token(fmt)):
        raise _fail("attr.fmtp", "fmtp", value, "is not '<format> <parameters>'")
    return fmt, params


def parse_fmtp(value: str) -> Fmtp:
    """Parse an ``a=fmtp`` value. Raises: SdpSyntaxError (``attr.fmtp``)."""
    fmt, params = scan_fmtp(value)
    return Fmtp(format=fmt, parameters=params)


# RFC 4585 §4.2, RFC 5104 §7.1, RFC 8888: the feedback types stacks emit (fast path).
FEEDBACK_TYPES: Final = frozenset({"nack", "ccm", "goog-remb", "transport-cc", "trr-int", "ack"})


_COMMON_FEEDBACK: Final = frozenset({"nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"})
_PT_OR_STAR: Final = frozenset((*PAYLOAD_TYPES, "*"))


@attrs.frozen(kw_only=True)
class RtcpFb:
    """``a=rtcp-fb:<pt or *> <type> [<subtype>]`` (RFC 4585 §4.2)."""

    payload_type: str
    type: str
    parameters: str | None


def scan_rtcp_fb(value: str) -> tuple[str, str, str | None]:
    """Check an ``a=rtcp-fb`` value; return (pt, type, parameters). Raises: SdpSyntaxError."""
    pt, sep, rest = value.partition(" ")
    if rest in _COMMON_FEEDBACK and pt in _PT_OR_STAR:  # fast path, same result
        kind, _, params = rest.partition(" ")
        return pt, kind, params or None
    kind, _, params = rest.partition(" ")
    if (
        not sep
        or (pt != "*" and pt not in PAYLOAD_TYPES)
        or (kind not in FEEDBACK_TYPES and not is_token(kind))
    ):
        raise _fail("attr.rtcp_fb", "rtcp-fb", value, "is not '<pt|*> <type> [<param>]'")
    return pt, kind, params or None


def parse_rtcp_fb(value: str) -> RtcpFb:
    """Parse an ``a=rtcp-fb`` value. Raises: SdpSyntaxError (``attr.rtcp_fb``)."""
    pt, kind, params = scan_rtcp_fb(value)
    return RtcpFb(payload_type=pt, type=kind, parameters=params)


@attrs.frozen(kw_only=True)
class Extmap:
    """``a=extmap:<id>[/<direction>] <uri> [<attributes>]`` (RFC 8285 §8)."""

    id: int
    direction: str | None
    uri: str
    attributes: str | None


_DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


def _extmap_id(text: str) -> int | None:
    # RFC 8285 §8: 1-14 (one-byte), 1-255 (two-byte), 4096-4351 (offer, to be remapped).
    number = parse_int(text, 1, 4351)
    if number is None or 255 < number < 4096:
        return None
    return number


def scan_extmap(value: str) -> tuple[int, str | None, str, str | None]:
    """Check an ``a=extmap`` value; return (id, direction, uri, attributes).

    Raises:
        SdpSyntaxError: ``attr.extmap``.
    """
    head, sep, rest = value.partition(" ")
    uri, _, extra = rest.partition(" ")
    id_text, slash, direction = head.partition("/")
    ident = _extmap_id(id_text)
    if ident is None or not sep or not uri or (slash and direction not in _DIRECTIONS):
        raise _fail("attr.extmap", "extmap", value, "is not '<id>[/<direction>] <uri>'")
    return ident, direction or None, uri, extra or None


def parse_extmap(value: str) -> Extmap:
    """Parse an ``a=extmap`` value. Raises: SdpSyntaxError (``attr.extmap``)."""
    ident, direction, uri, extra = scan_extmap(value)
    return Extmap(id=ident, direction=direction, uri=uri, attributes=extra)


@attrs.frozen(kw_only=True)
class Ssrc:
    """``a=ssrc:<ssrc> <attribute>[:<value>]`` (RFC 5576 §4.1)."""

    ssrc: int
    attribute: str
    value: str | None


def scan_ssrc(value: str) -> tuple[int, str, str | None]:
    """Check an ``a=ssrc`` value; return (ssrc, attribute, value). Raises: SdpSyntaxError."""
    ssrc_text, sep, rest = value.partition(" ")
    name, colon, val = rest.partition(":")
    ssrc = parse_int(ssrc_text, 0, 0xFFFFFFFF)
    if ssrc is None or not sep or not is_token(name):
        raise _fail("attr.ssrc", "ssrc", value, "is not '<ssrc> <attribute>[:<value>]'")
    return ssrc, name, val if colon else None


def parse_ssrc(value: str) -> Ssrc:
    """Parse an ``a=ssrc`` value. Raises: SdpSyntaxError (``attr.ssrc``)."""
    ssrc, name, val = scan_ssrc(value)
    return Ssrc(ssrc=ssrc, attribute=name, value=val)


@attrs.frozen(kw_only=True)
class SsrcGroup:
    """``a=ssrc-group:<semantics> <ssrc> ...`` (RFC 5576 §4.2)."""

    semantics: str
    ssrcs: tuple[int, ...]


def parse_ssrc_group(value: str) -> SsrcGroup:
    """Parse an ``a=ssrc-group`` value. Raises: SdpSyntaxError (``attr.ssrc_group``)."""
    semantics, *items = value.split(" ")
    ssrcs = [parse_int(item, 0, 0xFFFFFFFF) for item in items]
    if not is_token(semantics) or not ssrcs or None in ssrcs:
        raise _fail("attr.ssrc_group", "ssrc-group", value, "is not '<semantics> <ssrc>...'")
    return SsrcGroup(semantics=semantics, ssrcs=tuple(s for s in ssrcs if s is not None))


@attrs.frozen(kw_only=True)
class Msid:
    """``a=msid:<stream id> [<track id>]`` (RFC 8830 §2)."""

    stream_id: str
    track_id: str | None


def parse_msid(value: str) -> Msid:
    """Parse an ``a=msid`` value. Raises: SdpSyntaxError (``attr.msid``)."""
    parts = value.split(" ")
    # RFC 8830 §2: msid-id and msid-appdata are 1*64token-char
    if len(parts) > 2 or not all(is_token(p) and len(p) <= MAX_MSID_LENGTH for p in parts):
        raise _fail("attr.msid", "msid", value, "is not '<stream id> [<track id>]'")
    return Msid(stream_id=parts[0], track_id=parts[1] if len(parts) == 2 else None)


@attrs.frozen(kw_only=True)
class Rid:
    """``a=rid:<id> send|recv [<restrictions>]`` (RFC 8851 §10)."""

    id: str
    direction: str
    restrictions: str | None


def parse_rid(value: str) -> Rid:
    """Parse an ``a=rid`` value. Raises: SdpSyntaxError (``attr.rid``)."""
    ident, _, rest = value.partition(" ")
    direction, _, restrictions = rest.partition(" ")
    if not ident or not _RID_CHARS.issuperset(ident) or direction not in ("send", "recv"):
        raise _fail("attr.rid", "rid", value, "is not '<rid-id> send|recv [<params>]'")
    return Rid(id=ident, direction=direction, restrictions=restrictions or None)


@attrs.frozen(kw_only=True)
class Simulcast:
    """``a=simulcast:[send <alts>] [recv <alts>]`` (RFC 8853 §5.1).

    Each direction is a tuple of streams separated by ``;``, each a tuple of alternative
    rid ids separated by ``,``; a ``~`` prefix (paused) is kept on the id.
    """

    send: tuple[tuple[str, ...], ...]
    recv: tuple[tuple[str, ...], ...]


def _sc_list(text: str) -> tuple[tuple[str, ...], ...] | None:
    streams = []
    for stream in text.split(";"):
        alts = tuple(stream.split(","))
        for alt in alts:
            bare = alt[1:] if alt.startswith("~") else alt
            if not bare or not _RID_CHARS.issuperset(bare):
                return None
        streams.append(alts)
    return tuple(streams)


def parse_simulcast(value: str) -> Simulcast:
    """Parse an ``a=simulcast`` value. Raises: SdpSyntaxError (``attr.simulcast``)."""
    # Firefox writes "a=simulcast: send ..." (a space after the colon); RFC 8866 §5.13
    # values are opaque byte-strings, so the leading space is tolerated.
    parts = value.lstrip(" ").split(" ")
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    ok = len(parts) in (2, 4)
    for i in range(0, len(parts) - 1 if ok else 0, 2):
        direction, streams = parts[i], _sc_list(parts[i + 1])
        if direction not in ("send", "recv") or direction in found or streams is None:
            ok = False
            break
        found[direction] = streams
    if not ok:
        raise _fail("attr.simulcast", "simulcast", value, "is not 'send|recv <rid list>...'")
    return Simulcast(send=found.get("send", ()), recv=found.get("recv", ()))


@attrs.frozen(kw_only=True)
class Fingerprint:
    """``a=fingerprint:<hash function> <hex pairs>`` (RFC 8122 §5)."""

    hash_function: str
    value: str


# RFC 8122 §5 hash functions with their digest sizes in bytes. md2 and md5 are in the
# registry but broken (RFC 6151) and no WebRTC stack uses them, so they are refused.
FINGERPRINT_HASH_SIZES: Final = {
    "sha-1": 20,
    "sha-224": 28,
    "sha-256": 32,
    "sha-384": 48,
    "sha-512": 64,
}


def parse_fingerprint(value: str) -> Fingerprint:
    """Parse and check an ``a=fingerprint`` value.

    The hash function is case-insensitive; hex digits are accepted in either case
    (RFC 8122 generates upper case; receivers are liberal, as browsers are).

    Raises:
        SdpSyntaxError: ``dtls.fingerprint_hash`` for an unknown or broken hash function,
            ``dtls.fingerprint_value`` when the value is not colon-separated hex pairs of
            that function's digest size.
    """
    func, _, digest = value.partition(" ")
    size = FINGERPRINT_HASH_SIZES.get(func.lower())
    if size is None:
        raise _fail(
            "dtls.fingerprint_hash",
            "fingerprint",
            value,
            "names a hash function that is not sha-1/224/256/384/512",
        )
    pairs = digest.split(":")
    if (
        len(digest) != 3 * size - 1
        or len(pairs) != size
        or not _HEX.issuperset(digest.replace(":", ""))
    ):
        raise _fail(
            "dtls.fingerprint_value",
            "fingerprint",
            value,
            f"is not {size} colon-separated hex pairs",
        )
    return Fingerprint(hash_function=func, value=digest)


@attrs.frozen(kw_only=True)
class Group:
    """``a=group:<semantics> <mid> ...`` (RFC 5888 §5), e.g. ``BUNDLE 0 1``."""

    semantics: str
    mids: tuple[str, ...]


def parse_group(value: str) -> Group:
    """Parse an ``a=group`` value. Raises: SdpSyntaxError (``attr.group``)."""
    semantics, *mids = value.split(" ")
    # RFC 5888 §5 allows a group with no mids; RFC 8843 §7.1 too (a BUNDLE group
    # whose m-sections were all rejected), so an empty list is accepted.
    if not is_token(semantics) or not all(is_token(m) for m in mids):
        raise _fail("attr.group", "group", value, "is not '<semantics> <mid>...'")
    return Group(semantics=semantics, mids=tuple(mids))


# --- Whole-line tables -------------------------------------------------------------------
# Most lines of a browser offer are drawn from a small vocabulary: feedback types, codecs,
# header extensions. These tables hold such lines *whole* (``"a=rtcp-fb:96 nack"``), so
# the parser and the validator can set them aside with one hash probe per line, done in C
# (``filterfalse(table.__contains__, lines)``), and spend Python bytecode only on the
# rest. Every line in them is one the attribute grammars above accept on their own; a
# line that is not in them takes the general path, so the tables only decide speed.

_HEADER_EXTENSIONS: Final = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "urn:ietf:params:rtp-hdrext:csrc-audio-level",
    "urn:ietf:params:rtp-hdrext:toffset",
    "urn:3gpp:video-orientation",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
    "http://www.webrtc.org/experiments/rtp-hdrext/color-space",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
)

RTPMAP_LINES: Final = {
    f"a=rtpmap:{text} {codec}": (pt, known[0])
    for text, pt in PAYLOAD_TYPES.items()
    for codec, known in KNOWN_CODECS.items()
}
"""``a=rtpmap`` lines of known codecs -> (payload type, encoding name)."""

CONTEXT_FREE_LINES: Final = frozenset(
    [
        *(f"a=rtcp-fb:{pt} {fb}" for pt in sorted(_PT_OR_STAR) for fb in _COMMON_FEEDBACK),
        # RFC 8285 §5: one-byte header ids 1-14 are the ones stacks number from.
        *(f"a=extmap:{ident} {uri}" for ident in range(1, 15) for uri in _HEADER_EXTENSIONS),
        *("a=rtcp-mux", "a=rtcp-rsize", "a=end-of-candidates", "a=extmap-allow-mixed"),
    ]
)
"""Lines valid wherever they appear, any number of times: nothing is recorded for them."""

KNOWN_LINES: Final = CONTEXT_FREE_LINES | frozenset(RTPMAP_LINES)
"""Every whole line of the tables: its attribute name is known to be a token."""
