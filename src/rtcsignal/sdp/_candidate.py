"""ICE candidates: the RFC 8839 §5.1 grammar and address classification.

::

    candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP
                          priority SP connection-address SP port SP cand-type
                          [SP rel-addr] [SP rel-port] *(SP cand-extension)

RFC 6544 §4.5 adds ``tcptype`` for TCP candidates, right after ``rport``. The full check
splits on single spaces once and checks each field with ``str`` methods and
:mod:`ipaddress`, so it is linear in the input. The common shape (what browsers and ICE
stacks write) is recognised first by one regular-expression match that holds the
numeric ranges too and has only possessive repetitions, so it is linear as well; only
what the full check accepts can match it, and anything else goes to the full check,
which names the rule it breaks. A relay that needs only the verdict uses
:func:`match_candidate` (nothing is built); the fields come from :func:`scan_candidate`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final

import attrs

from ._attributes import is_ice_chars, is_token, parse_int
from ._errors import CandidateError
from ._policy import CandidateAddressPolicy

__all__ = [
    "Candidate",
    "check_address",
    "check_address_policy",
    "classify_address",
    "is_valid_address",
    "match_candidate",
    "parse_candidate",
    "refuse_address",
    "scan_candidate",
    "scan_candidate_value",
]

MAX_FOUNDATION_LENGTH: Final = 32  # RFC 8839 §5.1: foundation = 1*32ice-char
MAX_COMPONENT_ID: Final = 256  # RFC 8839 §5.1: component-id = 1*3DIGIT, 1 to 256
MAX_PRIORITY: Final = 2**31 - 1  # RFC 8445 §5.1.2.1: a positive integer below 2**31
MAX_HOSTNAME_LENGTH: Final = 253  # RFC 1035 §2.3.4: 255 octets on the wire, 253 as text
MAX_LABEL_LENGTH: Final = 63  # RFC 1035 §2.3.4
CANDIDATE_TYPES: Final = frozenset({"host", "srflx", "prflx", "relay"})  # RFC 8839 §5.1
TCP_TYPES: Final = frozenset({"active", "passive", "so"})  # RFC 6544 §4.5
_LDH: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_IPV4_CHARS: Final = frozenset("0123456789.")
_SHARED_SPACE: Final = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT


@attrs.frozen(kw_only=True)
class Candidate:
    """One ICE candidate (RFC 8839 §5.1), as :func:`parse_candidate` returns it.

    ``to_sdp()`` and ``str()`` give back the parsed text exactly, in its ``candidate:``
    form (the ``a=`` prefix, if any, is not kept).

    Attributes:
        foundation: 1-32 ice-chars.
        component: component id, 1 (RTP) or 2 (RTCP) in practice.
        transport: ``UDP`` or ``TCP`` as written (case kept; compared case-insensitively).
        priority: 1 to 2**31-1.
        address: IPv4, IPv6, FQDN or mDNS ``.local`` name as written.
        port: 0 to 65535 (0 or 9 for active TCP candidates).
        type: ``host``, ``srflx``, ``prflx`` or ``relay``.
        related_address: ``raddr``, or ``None``.
        related_port: ``rport``, or ``None``.
        tcptype: ``active``, ``passive`` or ``so`` for TCP, else ``None``.
        extensions: the other ``name value`` pairs in order (``generation``, ``ufrag``,
            ``network-id``, ``network-cost`` ...).
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    def extension(self, name: str) -> str | None:
        """Return the value of extension ``name`` (e.g. ``"ufrag"``), or ``None``."""
        for key, value in self.extensions:
            if key == name:
                return value
        return None

    @property
    def ufrag(self) -> str | None:
        """The ``ufrag`` extension (Chromium and Firefox add it), or ``None``."""
        return self.extension("ufrag")

    def to_sdp(self) -> str:
        """Return ``candidate:<foundation> ...``: the attribute value with its name."""
        parts = [
            f"candidate:{self.foundation}",
            str(self.component),
            self.transport,
            str(self.priority),
            self.address,
            str(self.port),
            "typ",
            self.type,
        ]
        if self.related_address is not None:
            parts += ["raddr", self.related_address]
        if self.related_port is not None:
            parts += ["rport", str(self.related_port)]
        if self.tcptype is not None:
            parts += ["tcptype", self.tcptype]
        for key, value in self.extensions:
            parts += [key, value]
        return " ".join(parts)

    def __str__(self) -> str:
        return self.to_sdp()


def _fail(rule: str, message: str) -> CandidateError:
    return CandidateError(rule, message, field="candidate")


def _check_number(text: str) -> bool:
    # Canonical decimal, so that to_sdp() gives the input back: no sign, no leading zero.
    return text == "0" or not text.startswith("0")


def is_valid_hostname(name: str) -> bool:
    """Return whether ``name`` is a host name (RFC 1123 §2.1 LDH labels; ``_`` tolerated)."""
    if not name or len(name) > MAX_HOSTNAME_LENGTH or not name.isascii():
        return False
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    for label in labels:
        if not label or len(label) > MAX_LABEL_LENGTH or not _LDH.issuperset(label):
            return False
        if label.startswith("-") or label.endswith("-"):
            return False
    return not _IPV4_CHARS.issuperset(name)


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str | None:
    """Parse a connection address: an IP address object, a host name string, or ``None``.

    IPv4 must be dotted-quad without leading zeros; IPv6 is RFC 4291 text (no zone id,
    no brackets).
    """
    if ":" in text:
        if "%" in text:  # RFC 8839 §5.1 IP6-address has no zone id
            return None
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    if _IPV4_CHARS.issuperset(text):
        return ipaddress.IPv4Address(text) if _is_ipv4(text) else None
    return text if is_valid_hostname(text) else None


CLASSIFY_CACHE_SIZE: Final = 4096
"""Addresses whose classification is memoized (a bounded LRU: a flood of distinct
addresses only costs the uncached path)."""

# Dotted-quad octets as text: canonical 0-255 without leading zeros (RFC 3986 dec-octet,
# which RFC 8839 §5.1 IP4-address uses). A set lookup checks one octet.
_OCTETS: Final = frozenset(str(n) for n in range(256))


def _is_ipv4(text: str) -> bool:
    octets = text.split(".")
    return len(octets) == 4 and _OCTETS.issuperset(octets)


def _is_plain_ipv6(text: str) -> bool:
    """A fast check for the IPv6 texts stacks emit, without :mod:`ipaddress`.

    Accepts a strict subset of RFC 4291 §2.2 text: 8 groups of 1-4 hex digits, or at
    most 7 around a single ``::``. ``False`` means "not this simple form": the caller
    then asks :mod:`ipaddress` (embedded IPv4, or invalid).
    """
    head, sep, tail = text.partition("::")
    groups = head.split(":") if head else []
    if tail:
        groups += tail.split(":")
    if len(groups) > 7 if sep else len(groups) != 8:
        return False
    hexdigits = _HEX_DIGITS
    return all(0 < len(group) <= 4 and hexdigits.issuperset(group) for group in groups)


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def is_valid_address(text: str) -> bool:
    """Return whether ``text`` is an IPv4, IPv6 or host-name connection address."""
    if _IPV4_CHARS.issuperset(text):
        return _is_ipv4(text)
    if ":" in text and "%" not in text and _is_plain_ipv6(text):
        return True
    return parse_address(text) is not None


@functools.lru_cache(maxsize=CLASSIFY_CACHE_SIZE)
def classify_address(address: str) -> str:
    """Classify a candidate address for the address policy.

    Returns one of ``"loopback"``, ``"link_local"``, ``"private"``, ``"mdns"``, ``"fqdn"``,
    ``"public"`` or ``"invalid"``; IPv6 addresses are reported as such, prefixed
    ``"ipv6_"`` (e.g. ``"ipv6_private"``). A pure function of the text, memoized in a
    bounded cache: peers trickle the same few addresses again and again.
    """
    parsed = parse_address(address)
    if parsed is None:
        return "invalid"
    if isinstance(parsed, str):
        return "mdns" if parsed.lower().rstrip(".").endswith(".local") else "fqdn"
    prefix = "ipv6_" if parsed.version == 6 else ""
    if parsed.is_loopback:
        kind = "loopback"
    elif parsed.is_link_local:
        kind = "link_local"
    elif parsed.is_unspecified or parsed.is_multicast:
        kind = "invalid"
    elif parsed.is_private or (parsed.version == 4 and parsed in _SHARED_SPACE):
        kind = "private"
    else:
        kind = "public"
    return prefix + kind


def check_address_policy(candidate: Candidate, policy: CandidateAddressPolicy) -> None:
    """Raise ``policy.candidate_address`` if ``policy`` refuses the candidate's address.

    Raises:
        CandidateError: the address is refused.
    """
    check_address(candidate.address, policy)


def check_address(address: str, policy: CandidateAddressPolicy) -> None:
    """Raise ``policy.candidate_address`` if ``policy`` refuses ``address``.

    Raises:
        CandidateError: the address is refused.
    """
    refuse_address(classify_address(address), address, policy)


def refuse_address(kind: str, address: str, policy: CandidateAddressPolicy) -> None:
    """:func:`check_address` for an address already classified as ``kind``.

    Raises:
        CandidateError: ``policy.candidate_address``: the policy refuses ``kind``.
    """
    last = _last_kinds
    kinds = last[1] if last[0] is policy else _kinds_of(policy)
    if kind not in kinds:
        shown = kind.replace("_", "-")
        raise CandidateError(
            "policy.candidate_address",
            f"candidate address {address} ({shown}) is refused by the address policy",
            field="connection-address",
        )


def _kinds_of(policy: CandidateAddressPolicy) -> frozenset[str]:
    # Hashing a policy (an attrs value of six flags) costs more than the whole lookup it
    # keys; a server uses one policy, so the last one is remembered by identity.
    global _last_kinds
    kinds = _allowed_kinds(policy)
    _last_kinds = (policy, kinds)
    return kinds


_last_kinds: tuple[CandidateAddressPolicy | None, frozenset[str]] = (None, frozenset())


@functools.lru_cache(maxsize=64)
def _allowed_kinds(policy: CandidateAddressPolicy) -> frozenset[str]:
    """The :func:`classify_address` kinds ``policy`` lets through."""
    base = {
        "loopback": policy.allow_loopback,
        "link_local": policy.allow_link_local,
        "private": policy.allow_private,
        "mdns": policy.allow_mdns,
        "fqdn": policy.allow_fqdn,
        "public": True,
    }
    kinds = {kind for kind, allowed in base.items() if allowed}
    if policy.allow_ipv6:
        kinds |= {f"ipv6_{kind}" for kind in kinds if kind not in ("mdns", "fqdn")}
    return frozenset(kinds)


_CandidateFields = tuple[
    str, int, str, int, str, int, str, str | None, int | None, str | None,
    tuple[tuple[str, str], ...],
]  # fmt: skip


def parse_candidate(text: object) -> Candidate:
    """Parse an ICE candidate (RFC 8839 §5.1).

    Args:
        text: the candidate, with or without ``a=`` and ``candidate:`` prefixes, e.g.
            ``"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host"`` (typed
            ``object``: anything but text is refused with ``candidate.syntax``, in the
            compiled build too).

    Returns:
        The :class:`Candidate`.

    Raises:
        CandidateError: with the rule naming the first field that breaks the grammar
            (``candidate.syntax``, ``candidate.foundation`` ... ``candidate.extension``).
    """
    (
        foundation, component, transport, priority, address, port, cand_type, raddr, rport,
        tcptype, extensions,
    ) = scan_candidate(text)  # fmt: skip
    return Candidate(
        foundation=foundation,
        component=component,
        transport=transport,
        priority=priority,
        address=address,
        port=port,
        type=cand_type,
        related_address=raddr,
        related_port=rport,
        tcptype=tcptype,
        extensions=extensions,
    )


def _decimals_up_to(limit: int, *, zero: bool) -> str:
    """A regular expression for the canonical decimals (no sign, no leading zero) from
    1 (or 0 with ``zero``) to ``limit``: every text it matches is such a number."""
    text = str(limit)
    n = len(text)
    # as long as the limit: its first i digits, a smaller digit, then any n - i - 1 digits
    alternatives = [text]
    for i, digit in enumerate(text):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = n - i - 1
            alternatives.append(
                f"{text[:i]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else "")
            )
    if n > 1:  # shorter than the limit
        alternatives.append(f"[1-9][0-9]{{0,{n - 2}}}")
    if zero:
        alternatives.append("0")
    return "(?:" + "|".join(alternatives) + ")"


_PORT: Final = _decimals_up_to(65535, zero=True)
_NAME: Final = r"(?!(?:raddr|rport|tcptype|typ|ufrag) )[!#-'*+\-.0-9A-Z^-~]++"  # a token
_EXTENSION: Final = rf" {_NAME} [!-~]++"
# The common shape of a candidate value (after ``candidate:``) as stacks write it, in
# one match: canonical decimals in range, the transport in lower or upper case, single
# spaces, printable ASCII, ``raddr``/``rport`` and ``tcptype`` (TCP only) in their
# places (whether the type allows raddr is checked after the match), then name/value
# extensions whose names are tokens (RFC 8866 §9) and not
# reserved; the first ``ufrag`` extension is captured. Only the addresses are checked
# after the match, so a value that matches and has valid addresses is one the full check
# accepts, with the same fields; anything else takes the full check, which accepts it too
# or names the exact rule it breaks. Single spaces delimit every repetition and the
# repetitions are possessive, so matching is linear in the input. Groups:
# 1 foundation, 2 component, 3 transport, 4 set when UDP, 5 priority, 6 address,
# 7 port, 8 type, 9 raddr, 10 rport, 11 tcptype, 12 extensions, 13 the ufrag extension.
_COMMON_VALUE: Final = (
    r"([A-Za-z0-9+/]{1,32}+)"  # foundation = 1*32ice-char
    rf" ({_decimals_up_to(MAX_COMPONENT_ID, zero=False)})"  # component-id
    r" ((udp|UDP)|tcp|TCP)"  # transport
    rf" ({_decimals_up_to(MAX_PRIORITY, zero=False)})"  # priority
    r" ([!-~]++)"  # connection-address (checked after the match)
    rf" ({_PORT})"  # port
    r" typ (host|srflx|prflx|relay)"  # cand-type
    rf"(?: raddr ([!-~]++) rport ({_PORT}))?+"  # rel-addr (checked after), rel-port
    r"(?(4)|(?: tcptype (active|passive|so))?+)"  # RFC 6544 §4.5: TCP candidates only
    rf"((?:{_EXTENSION})*+(?: ufrag ([!-~]++)(?:{_EXTENSION}| ufrag [!-~]++)*+)?+)"
)
_VALUE_SHAPE: Final = re.compile(_COMMON_VALUE)
_CANDIDATE_SHAPE: Final = re.compile("candidate:" + _COMMON_VALUE)
_ADDRESS: Final = 6
_TYPE: Final = 8
_RADDR: Final = 9
_UFRAG: Final = 13


def match_candidate(text: str) -> tuple[str, str, str | None] | None:
    """Check a ``candidate:...`` text of the common shape without building anything.

    The check-only fast path of :func:`parse_candidate` for relays: a result means the
    full grammar accepts ``text``.

    Returns:
        ``(kind, address, ufrag)``: the :func:`classify_address` kind of its address, the
        address, and its first ``ufrag`` extension (``None`` without one); or ``None``
        when ``text`` is not of the common shape or its address classifies as
        ``"invalid"``: then :func:`parse_candidate` decides (it may still accept it).
    """
    m = _CANDIDATE_SHAPE.fullmatch(text)
    if m is None:
        return None
    address, raddr, ufrag, cand_type = m.group(_ADDRESS, _RADDR, _UFRAG, _TYPE)
    if raddr is not None and cand_type == "host":
        return None  # RFC 8839 §5.1: the full check names the rule
    kind = classify_address(address)
    if kind == "invalid" or (raddr is not None and not is_valid_address(raddr)):
        return None
    return kind, address, ufrag


def scan_candidate(text: object) -> _CandidateFields:
    """Check a candidate like :func:`parse_candidate`; return its fields as a tuple.

    The common shape takes a fast path (one match and the address checks); anything
    else goes through the full check, which gives the same result or the precise error.

    Raises:
        CandidateError: as :func:`parse_candidate`.
    """
    if type(text) is str:
        fields = _scan_common(_CANDIDATE_SHAPE.fullmatch(text))
        if fields is not None:
            return fields
    return _scan_candidate_checked(text)


def scan_candidate_value(value: str) -> _CandidateFields | None:
    """The fast path of :func:`scan_candidate` for an ``a=candidate`` value: the fields,
    or ``None`` when the value needs the full check (which may still accept it)."""
    return _scan_common(_VALUE_SHAPE.fullmatch(value))


def _scan_common(m: re.Match[str] | None) -> _CandidateFields | None:
    if m is None:
        return None
    (
        foundation, comp, transport, _, prio, address, port, cand_type, raddr, rport, tcptype,
        extensions, _,
    ) = m.groups()  # fmt: skip
    if raddr is not None and cand_type == "host":
        return None  # RFC 8839 §5.1: the full check names the rule
    if not is_valid_address(address) or (raddr is not None and not is_valid_address(raddr)):
        return None
    parts = extensions.split(" ")  # "" or " name value name value ...": an odd count
    return (
        foundation, int(comp), transport, int(prio), address, int(port), cand_type, raddr,
        None if rport is None else int(rport), tcptype,
        tuple(zip(parts[1::2], parts[2::2], strict=True)),
    )  # fmt: skip


def _scan_candidate_checked(text: object) -> _CandidateFields:
    if not isinstance(text, str):
        raise _fail("candidate.syntax", f"a candidate must be text, not {type(text).__name__}")
    body = text[2:] if text.startswith("a=") else text
    # RFC 8839 §5.1: every field is a token or *VCHAR joined by single spaces, so the
    # whole value is printable ASCII; this also refuses CR/LF smuggled into a relay.
    if not (body.isascii() and body.isprintable()):
        raise _fail("candidate.syntax", "a candidate must be printable ASCII")
    if body.startswith("candidate:"):
        body = body[10:]
    parts = body.split(" ")
    count = len(parts)
    if count < 8 or parts[6] != "typ":
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise _fail(
            "candidate.syntax",
            f"{shown!r} is not '<foundation> <component> <transport> <priority> <address> "
            "<port> typ <type> ...'",
        )
    foundation, comp, transport, prio, address, port_text, _, cand_type = parts[:8]
    if not foundation or len(foundation) > MAX_FOUNDATION_LENGTH or not is_ice_chars(foundation):
        raise _fail("candidate.foundation", f"foundation {foundation!r} is not 1-32 ice-chars")
    component = parse_int(comp, 1, MAX_COMPONENT_ID)
    if component is None or not _check_number(comp):
        raise _fail("candidate.component", f"component {comp!r} is not 1 to 256")
    upper = transport.upper()
    if upper not in ("UDP", "TCP"):
        raise _fail("candidate.transport", f"transport {transport!r} is not UDP or TCP")
    priority = parse_int(prio, 1, MAX_PRIORITY)
    if priority is None or not _check_number(prio):
        raise _fail("candidate.priority", f"priority {prio!r} is not 1 to 2**31-1")
    if not is_valid_address(address):
        raise _fail(
            "candidate.address", f"address {address!r} is not IPv4, IPv6, a FQDN or mDNS name"
        )
    port = parse_int(port_text, 0, 65535)
    if port is None or not _check_number(port_text):
        raise _fail("candidate.port", f"port {port_text!r} is not 0 to 65535")
    if cand_type not in CANDIDATE_TYPES:
        raise _fail("candidate.type", f"typ {cand_type!r} is not host, srflx, prflx or relay")
    index = 8
    raddr = None
    rport = None
    if index < count and parts[index] == "raddr":
        if index + 3 >= count or parts[index + 2] != "rport":
            raise _fail("candidate.related", "raddr must be followed by rport (RFC 8839 §5.1)")
        raddr = parts[index + 1]
        rport_text = parts[index + 3]
        rport = parse_int(rport_text, 0, 65535)
        if not is_valid_address(raddr):
            raise _fail("candidate.related", f"raddr {raddr!r} is not an address")
        if rport is None or not _check_number(rport_text):
            raise _fail("candidate.related", f"rport {rport_text!r} is not 0 to 65535")
        index += 4
    elif index < count and parts[index] == "rport":
        raise _fail("candidate.related", "rport without raddr (RFC 8839 §5.1)")
    tcptype = None
    if index + 1 < count and parts[index] == "tcptype":
        tcptype = parts[index + 1]
        if upper != "TCP" or tcptype not in TCP_TYPES:
            raise _fail(
                "candidate.tcptype",
                f"tcptype {tcptype} needs a TCP candidate and one of active, passive, so",
            )
        index += 2
    if raddr is not None and cand_type == "host":
        # RFC 8839 §5.1: rel-addr and rel-port MUST be omitted for host candidates. (They
        # "MUST be present" on the others, but a receiver accepts them absent: see
        # docs/sdp.md, "Where browsers and RFCs disagree".)
        raise _fail("candidate.related", "a host candidate must not carry raddr/rport")
    rest = parts[index:]
    if len(rest) % 2:
        raise _fail("candidate.extension", f"extension {rest[-1]!r} has no value")
    extensions = tuple(zip(rest[::2], rest[1::2], strict=True))
    for key, value in extensions:
        if not is_token(key) or not value or key in ("raddr", "rport", "tcptype", "typ"):
            raise _fail("candidate.extension", f"extension {key!r} {value!r} is misplaced or empty")
    return (
        foundation, component, transport, priority, address, port, cand_type, raddr, rport,
        tcptype, extensions,
    )  # fmt: skip
