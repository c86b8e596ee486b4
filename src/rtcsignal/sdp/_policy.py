"""Operator policy for SDP and ICE validation: limits, DTLS, codecs, candidate addresses.

Every default is a named constant with its reason. ``policy=None`` anywhere in this
package means ``SdpPolicy()``, i.e. these defaults.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "ALWAYS_ALLOWED_CODECS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_MEDIA_SECTIONS",
    "CandidateAddressPolicy",
    "SdpPolicy",
]

DEFAULT_MAX_BYTES: Final = 65_536
"""A Chromium offer with 3 simulcast video layers and gathered candidates is ~12 KB; 64 KiB
leaves 5x headroom and matches the wire protocol's frame limit."""
DEFAULT_MAX_LINE_LENGTH: Final = 4_096
"""The longest real lines are a=fmtp with H.264/AV1 parameters or a=ssrc-group with many
SSRCs, all well under 1 KiB; 4 KiB bounds a hostile single line."""
DEFAULT_MAX_MEDIA_SECTIONS: Final = 64
"""A large SFU subscriber description carries a few dozen m-sections; more than 64 from a
browser peer is abuse (each costs the receiver a transceiver)."""
DEFAULT_MAX_CANDIDATES: Final = 64
"""A dual-stack host with several interfaces, TCP and relays gathers ~20 candidates per
generation; 64 bounds what one description or one pair's trickle may carry."""

ALWAYS_ALLOWED_CODECS: Final = frozenset(
    {"rtx", "red", "ulpfec", "flexfec-03", "cn", "telephone-event"}
)
"""Auxiliary formats (retransmission, redundancy, FEC, comfort noise, DTMF) carry no
media of their own, so ``allowed_codecs`` does not govern them (lower-case names)."""


@attrs.frozen(kw_only=True)
class CandidateAddressPolicy:
    """Which candidate connection addresses may be relayed (RFC 8828 §5.2 privacy).

    The default allows every well-formed address, as a browser would. Refusing
    ``private`` or ``loopback`` addresses keeps a peer from using the signaling server to
    hand other peers probes into its own network; refusing ``mdns`` forbids the
    obfuscated ``<uuid>.local`` host candidates browsers emit by default.

    Attributes:
        allow_loopback: ``127.0.0.0/8`` and ``::1``.
        allow_link_local: ``169.254.0.0/16`` and ``fe80::/10``.
        allow_private: RFC 1918, ``100.64.0.0/10`` (CGNAT), ``fc00::/7`` (ULA).
        allow_mdns: host names ending in ``.local`` (RFC 8828 mDNS candidates).
        allow_fqdn: other host names (RFC 8839 §5.1 allows FQDNs).
        allow_ipv6: any IPv6 address.
    """

    allow_loopback: bool = True
    allow_link_local: bool = True
    allow_private: bool = True
    allow_mdns: bool = True
    allow_fqdn: bool = True
    allow_ipv6: bool = True

    @classmethod
    def public_only(cls) -> CandidateAddressPolicy:
        """Return a policy that refuses loopback, link-local, private and FQDN addresses.

        mDNS names stay allowed: they are how browsers hide private host addresses.
        """
        return cls(
            allow_loopback=False, allow_link_local=False, allow_private=False, allow_fqdn=False
        )


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _codecs(value: frozenset[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(name.lower() for name in value)


@attrs.frozen(kw_only=True)
class SdpPolicy:
    """What a description or candidate must satisfy beyond the RFCs.

    Attributes:
        max_bytes: largest description, in UTF-8 bytes (``limit.bytes``).
        max_line_length: longest line, in characters (``limit.line_length``).
        max_media_sections: most m-sections (``limit.media_sections``).
        max_candidates: most ``a=candidate`` lines in one description
            (``limit.candidates``).
        require_dtls: every m-section in use needs a DTLS transport and a fingerprint
            (WebRTC mandates DTLS-SRTP, RFC 8827 §6.5); ``False`` admits plain RTP for
            lab equipment.
        allowed_codecs: case-insensitive codec (encoding) names every RTP payload type
            must use, apart from :data:`ALWAYS_ALLOWED_CODECS`; ``None`` allows any.
        candidate_address_policy: which candidate addresses are acceptable.

    Raises:
        ValueError: a limit is not a positive integer.
    """

    max_bytes: int = attrs.field(default=DEFAULT_MAX_BYTES, validator=_positive)
    max_line_length: int = attrs.field(default=DEFAULT_MAX_LINE_LENGTH, validator=_positive)
    max_media_sections: int = attrs.field(default=DEFAULT_MAX_MEDIA_SECTIONS, validator=_positive)
    max_candidates: int = attrs.field(default=DEFAULT_MAX_CANDIDATES, validator=_positive)
    require_dtls: bool = True
    allowed_codecs: frozenset[str] | None = attrs.field(default=None, converter=_codecs)
    candidate_address_policy: CandidateAddressPolicy = attrs.field(factory=CandidateAddressPolicy)


DEFAULT_POLICY: Final = SdpPolicy()
"""The policy used when a function is given ``policy=None``."""
