"""Typed SDP, ICE and ICE-server errors, and the table of every rule they can name.

Every rejection is an :class:`SdpError` subclass carrying a stable ``rule`` id, the
1-based ``line`` (when the input is a description), the ``field`` it concerns, the
specification section ``ref`` and a human ``message``. Rule ids are public: the core
sends them in error replies, ``docs/sdp.md`` lists them, and a test keeps :data:`RULES`,
the raising code and the docs in sync. A rule id is never renamed or reused.

The parser and validators raise nothing but these (hostile input included).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "RULES",
    "CandidateDropped",
    "CandidateError",
    "IceServerError",
    "SdpError",
    "SdpSyntaxError",
    "SdpValidationError",
]

_RULES: dict[str, tuple[str, str]] = {
    # -- limits (operator policy; the defaults are in _policy.py) --
    "limit.bytes": ("RFC 8866 §5", "the description exceeds policy.max_bytes"),
    "limit.line_length": ("RFC 8866 §5", "a line exceeds policy.max_line_length"),
    "limit.media_sections": ("RFC 8866 §5.14", "more m-sections than policy.max_media_sections"),
    "limit.candidates": ("RFC 8839 §5.1", "more candidates than policy.max_candidates"),
    # -- RFC 8866 syntax --
    "syntax.encoding": ("RFC 8866 §5", "not UTF-8, or a NUL byte in the text"),
    "syntax.empty": ("RFC 8866 §5", "the description is empty"),
    "syntax.line_ending": ("RFC 8866 §5", "a carriage return that does not end a line"),
    "syntax.empty_line": ("RFC 8866 §5", "an empty line"),
    "syntax.line_format": ("RFC 8866 §5", "a line that is not type=value"),
    "syntax.unknown_type": ("RFC 8866 §5", "a line type letter SDP does not define"),
    "syntax.line_order": ("RFC 8866 §5", "a line out of the order SDP fixes"),
    "syntax.repeated_line": ("RFC 8866 §5", "a line type allowed once appears again"),
    "syntax.missing_line": ("RFC 8866 §5", "a mandatory v=, o=, s= or t= line is missing"),
    "syntax.version": ("RFC 8866 §5.1", "v= is not 0"),
    "syntax.origin": ("RFC 8866 §5.2", "a malformed o= line"),
    "syntax.session_name": ("RFC 8866 §5.3", "an empty s= line"),
    "syntax.connection": ("RFC 8866 §5.7", "a malformed c= line"),
    "syntax.bandwidth": ("RFC 8866 §5.8", "a malformed b= line"),
    "syntax.timing": ("RFC 8866 §5.9", "a malformed t= line"),
    "syntax.attribute": ("RFC 8866 §5.13", "a malformed a= line (bad attribute name)"),
    "syntax.media": ("RFC 8866 §5.14", "a malformed m= line"),
    # -- attribute values --
    "attr.duplicate": ("RFC 8866 §6", "a single-valued attribute appears twice in one scope"),
    "attr.flag": ("RFC 8866 §5.13", "a property attribute carries a value"),
    "attr.direction": ("RFC 8866 §6.7", "more than one direction attribute in one scope"),
    "attr.mid": ("RFC 5888 §4", "a malformed a=mid value"),
    "attr.group": ("RFC 5888 §5", "a malformed a=group value"),
    "attr.setup": ("RFC 4145 §4", "a=setup is not active, passive, actpass or holdconn"),
    "attr.ice_options": ("RFC 8839 §5.6", "a malformed a=ice-options value"),
    "attr.rtpmap": ("RFC 8866 §6.6", "a malformed a=rtpmap value"),
    "attr.fmtp": ("RFC 8866 §6.15", "a malformed a=fmtp value"),
    "attr.rtcp_fb": ("RFC 4585 §4.2", "a malformed a=rtcp-fb value"),
    "attr.extmap": ("RFC 8285 §8", "a malformed a=extmap value or an id out of range"),
    "attr.ssrc": ("RFC 5576 §4.1", "a malformed a=ssrc value"),
    "attr.ssrc_group": ("RFC 5576 §4.2", "a malformed a=ssrc-group value"),
    "attr.msid": ("RFC 8830 §2", "a malformed a=msid value"),
    "attr.rid": ("RFC 8851 §10", "a malformed a=rid value"),
    "attr.simulcast": ("RFC 8853 §5.1", "a malformed a=simulcast value"),
    "attr.sctp_port": ("RFC 8841 §5.1", "a=sctp-port is not a port number"),
    "attr.max_message_size": ("RFC 8841 §6.1", "a=max-message-size is not an integer"),
    # -- media sections and groups --
    "media.missing_mid": ("RFC 8829 §5.2.1", "an m-section in use has no a=mid"),
    "media.duplicate_mid": ("RFC 5888 §4", "two m-sections share a mid"),
    "bundle.unknown_mid": ("RFC 8843 §7.1", "a BUNDLE group names a mid no m-section has"),
    "bundle.duplicate_mid": ("RFC 8843 §6", "a mid appears in more than one BUNDLE group"),
    "bundle.only_not_bundled": ("RFC 8843 §6", "a bundle-only m-section is in no BUNDLE group"),
    "group.unknown_mid": ("RFC 5888 §5", "a group names a mid no m-section has"),
    # -- RTP payload types and codecs --
    "rtp.payload_type": ("RFC 3551 §6", "an RTP format is not a payload type 0-127"),
    "rtp.duplicate_payload_type": ("RFC 8866 §5.14", "a payload type listed twice on m="),
    "rtp.missing_rtpmap": ("RFC 8866 §6.6", "a non-static payload type without a=rtpmap"),
    "policy.codec": ("RFC 8829 §5.2.1", "a codec outside policy.allowed_codecs"),
    # -- ICE --
    "ice.missing_ufrag": ("RFC 8839 §5.4", "no a=ice-ufrag for an m-section in use"),
    "ice.missing_pwd": ("RFC 8839 §5.4", "no a=ice-pwd for an m-section in use"),
    "ice.ufrag_charset": ("RFC 8839 §5.4", "ice-ufrag has a character outside ice-char"),
    "ice.ufrag_length": ("RFC 8839 §5.4", "ice-ufrag is not 4 to 256 characters"),
    "ice.pwd_charset": ("RFC 8839 §5.4", "ice-pwd has a character outside ice-char"),
    "ice.pwd_length": ("RFC 8839 §5.4", "ice-pwd is not 22 to 256 characters"),
    "ice.bundle_credentials": (
        "RFC 8843 §7.1.3",
        "sections of one BUNDLE group carry different ICE credentials",
    ),
    "ice.stale_generation": (
        "RFC 8839 §4.4",
        "the candidate's username fragment belongs to a previous ICE generation (dropped)",
    ),
    # -- DTLS --
    "dtls.proto": ("RFC 8829 §5.1.2", "a media transport without DTLS while DTLS is required"),
    "dtls.missing_fingerprint": ("RFC 8842 §5", "no a=fingerprint for an m-section in use"),
    "dtls.fingerprint_hash": ("RFC 8122 §5", "a fingerprint hash function that is unknown"),
    "dtls.fingerprint_value": ("RFC 8122 §5", "a fingerprint that is not hex pairs of the size"),
    "dtls.setup_offer": ("RFC 8842 §5.2", "an offer whose a=setup is not actpass"),
    "dtls.setup_answer": ("RFC 8842 §5.3", "an answer whose a=setup is not active or passive"),
    # -- answer against offer --
    "answer.media_count": ("RFC 3264 §6", "the answer has a different number of m-sections"),
    "answer.media_kind": ("RFC 3264 §6", "an answer m-section of another media type"),
    "answer.mid": ("RFC 8829 §5.3.1", "an answer m-section whose mid differs from the offer's"),
    # -- ICE candidates --
    "candidate.syntax": ("RFC 8839 §5.1", "a candidate that does not follow the grammar"),
    "candidate.foundation": ("RFC 8839 §5.1", "foundation is not 1 to 32 ice-char"),
    "candidate.component": ("RFC 8839 §5.1", "component id is not 1 to 256"),
    "candidate.transport": ("RFC 8839 §5.1", "transport is not UDP or TCP"),
    "candidate.priority": ("RFC 8839 §5.1", "priority is not an integer 1 to 2^31-1"),
    "candidate.address": ("RFC 8839 §5.1", "address is not IPv4, IPv6, a FQDN or mDNS name"),
    "candidate.port": ("RFC 8839 §5.1", "port is not 0 to 65535"),
    "candidate.type": ("RFC 8839 §5.1", "typ is not host, srflx, prflx or relay"),
    "candidate.related": (
        "RFC 8839 §5.1",
        "raddr and rport are not given together and valid, or are on a host candidate",
    ),
    "candidate.tcptype": ("RFC 6544 §4.5", "tcptype with UDP, or not active/passive/so"),
    "candidate.extension": ("RFC 8839 §5.1", "an extension that is not a name/value pair"),
    "candidate.framing": (
        "W3C WebRTC §4.8.1",
        "a trickled candidate not framed as RTCIceCandidate.candidate ('candidate:...')",
    ),
    "candidate.description": (
        "RFC 8829 §4.1.17",
        "the description given with a candidate is neither SDP text nor parsed",
    ),
    "candidate.no_target": ("RFC 8829 §4.1.17", "neither sdpMid nor sdpMLineIndex is given"),
    "candidate.unknown_mid": ("RFC 8829 §4.1.17", "sdpMid names no m-section"),
    "candidate.mline_index": ("RFC 8829 §4.1.17", "sdpMLineIndex is out of range"),
    "candidate.ufrag_mismatch": (
        "RFC 8839 §5.1",
        "the candidate's ufrag extension differs from its usernameFragment, or in a "
        "description from its section's ice-ufrag",
    ),
    "policy.candidate_address": ("RFC 8828 §5.2", "an address the candidate policy refuses"),
    # -- ICE servers (STUN/TURN URIs, TURN REST credentials) --
    "ice_server.no_urls": ("W3C WebRTC §4.2.1", "an ICE server with no URL"),
    "ice_server.url": ("RFC 7064 §3.1", "a malformed STUN/TURN URI"),
    "ice_server.scheme": ("RFC 7065 §3.1", "a scheme other than stun, stuns, turn, turns"),
    "ice_server.host": ("RFC 7064 §3.1", "a host that is not IPv4, [IPv6] or a reg-name"),
    "ice_server.port": ("RFC 7064 §3.1", "a port that is not 1 to 65535"),
    "ice_server.query": ("RFC 7064 §3.1", "a query on a stun/stuns URI"),
    "ice_server.transport": ("RFC 7065 §3.1", "a transport other than udp or tcp"),
    "ice_server.credentials": ("W3C WebRTC §4.2.1", "a TURN server without username/credential"),
    "turn.secret": ("draft-uberti-behave-turn-rest §2.2", "an empty shared secret"),
    "turn.user": ("draft-uberti-behave-turn-rest §2.2", "an empty user id"),
    "turn.ttl": ("draft-uberti-behave-turn-rest §2.2", "a non-positive or non-finite ttl/now"),
}

RULES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(_RULES)
"""Every rule id any error of this package can carry, mapped to ``(ref, description)``."""


class SdpError(Exception):
    """Base of every error :mod:`rtcsignal.sdp` raises.

    Args:
        rule: the stable rule id, a key of :data:`RULES` (e.g. ``"ice.ufrag_charset"``).
        message: a human sentence naming the offending thing.
        line: the 1-based line number in the description, or ``None``.
        field: the field or attribute concerned (e.g. ``"a=ice-ufrag"``), or ``None``.

    The ``ref`` attribute (e.g. ``"RFC 8839 §5.4"``) comes from :data:`RULES`.
    ``str(err)`` is one line naming the line, the rule and the reference.
    """

    __slots__ = ("field", "line", "message", "ref", "rule")

    def __init__(
        self, rule: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.rule = rule
        self.message = message
        self.line = line
        self.field = field
        self.ref = _RULES[rule][0]
        super().__init__(rule, message, line, field)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message} [{self.rule}, {self.ref}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.rule!r}, {self.message!r}, line={self.line!r})"

    def to_dict(self) -> dict[str, str | int | None]:
        """Return ``{"rule", "line", "field", "ref", "message"}``: a JSON-ready copy.

        The keys are stable (the core sends them as error ``details``).
        """
        return {
            "rule": self.rule,
            "line": self.line,
            "field": self.field,
            "ref": self.ref,
            "message": self.message,
        }

    def with_line(self, line: int) -> SdpError:
        """Return a copy of this error (same class) located at ``line``."""
        return type(self)(self.rule, self.message, line=line, field=self.field)


class SdpSyntaxError(SdpError):
    """The text does not follow the SDP grammar (RFC 8866) or an attribute's grammar."""

    __slots__ = ()


class SdpValidationError(SdpError):
    """The description parses but breaks a WebRTC/JSEP rule or the operator's policy."""

    __slots__ = ()


class CandidateError(SdpError):
    """An ICE candidate is malformed, mis-addressed or refused by policy."""

    __slots__ = ()


class CandidateDropped(SdpError):
    """A well-formed candidate that must not be relayed, with the reason.

    Not the sender's fault: it belongs to a previous ICE generation (its username
    fragment is not the current one), as routinely happens around an ICE restart.
    Callers drop it quietly instead of treating the sender as abusive.
    """

    __slots__ = ()


class IceServerError(SdpError):
    """An ICE server URL, its credentials, or TURN REST minting input is invalid."""

    __slots__ = ()
