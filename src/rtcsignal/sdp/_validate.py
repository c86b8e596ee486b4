"""WebRTC/JSEP validation of offers and answers (RFC 8829, 8839, 8842, 8843, 8841).

Theory of operation. A description is parsed (RFC 8866 syntax, :mod:`._parser`), then
each scope (the session level and every m-section) is scanned once: a dict maps each
attribute name WebRTC relies on to a checker that validates its grammar and records what
the cross-checks need. The cross-checks then run over the recorded facts:

* mids: present on every m-section in use (RFC 8829 §5.2.1) and unique (RFC 5888 §4);
* groups: every mid a group names exists (RFC 5888 §5); a mid is in at most one BUNDLE
  group (RFC 8843 §6); a ``bundle-only`` section is in one (RFC 8843 §6); the sections
  of a BUNDLE group that carry ICE credentials carry the same ones (RFC 8843 §7.1.3);
* transport: every m-section in use has ICE credentials, a fingerprint and ``a=setup``,
  found on the section itself, else on a section of its BUNDLE group (RFC 8843 §7.1.3:
  transport attributes may sit in the BUNDLE-tagged section only), else at session
  level (RFC 8839 §5.4, RFC 8842 §5); ``setup`` is ``actpass`` in offers
  (RFC 8842 §5.2) and ``active``/``passive`` in answers (RFC 8842 §5.3);
* RTP: formats are payload types 0-127 listed once, each non-static one with an
  ``a=rtpmap`` (RFC 8866 §6.6, RFC 3551 §6); codecs within ``policy.allowed_codecs``;
* candidates: each ``a=candidate`` follows RFC 8839 §5.1 and the address policy, a
  ``ufrag`` extension on one names its section's ``ice-ufrag``, and the description holds
  at most ``policy.max_candidates``;
* an answer has as many m-sections as its offer, of the same media types, in the same
  order, with the same mids (RFC 3264 §6, RFC 8829 §5.3.1).

"In use" excludes rejected m-sections: port 0 without ``a=bundle-only`` (RFC 3264 §6).
The first failure is raised; validation never rewrites the text.

Two passes, one answer. The *fast pass* sets aside, with one hash probe per line done in
C, the lines of the whole-line tables of :mod:`._attributes` (common feedback, codec and
header-extension lines, which a browser offer is mostly made of: nothing to check, and
for codecs only the payload type to record), scans the remaining lines with the same
checkers as below, and runs the cross-checks. When it finds nothing wrong, the
description is valid. When it finds anything (its line numbers are not tracked), the
*precise pass* scans every line with its number and raises the error with its rule and
line. The precise pass alone decides what is an error: the fast one can only send a
description to it, and a test checks both give the same result on every corpus entry,
every mutation and generated descriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import filterfalse
from typing import Final

from ._attributes import (
    KNOWN_CODECS,
    KNOWN_LINES,
    PAYLOAD_TYPES,
    RTPMAP_LINES,
    is_ice_chars,
    is_token,
    parse_fingerprint,
    parse_group,
    parse_int,
    parse_msid,
    parse_rid,
    parse_simulcast,
    parse_ssrc_group,
    scan_extmap,
    scan_fmtp,
    scan_rtcp_fb,
    scan_rtpmap,
    scan_ssrc,
)
from ._candidate import check_address, scan_candidate, scan_candidate_value
from ._errors import SdpError, SdpSyntaxError, SdpValidationError
from ._model import MediaSection, SessionDescription
from ._parser import parse
from ._policy import ALWAYS_ALLOWED_CODECS, DEFAULT_POLICY, CandidateAddressPolicy, SdpPolicy

__all__ = ["validate_answer", "validate_offer"]

MIN_UFRAG: Final = 4  # RFC 8839 §5.4: ufrag = 4*256ice-char
MIN_PWD: Final = 22  # RFC 8839 §5.4: password = 22*256ice-char
MAX_CREDENTIAL: Final = 256  # RFC 8839 §5.4
MAX_MID_LENGTH: Final = 64
"""RFC 5888 sets no bound on a mid; stacks emit 1-3 characters (Firefox ``{uuid}`` forms
stay under 40), and the MID header extension (RFC 8843 §15.1) repeats it in packets.
64 admits every real stack and bounds abuse."""
MAX_SCTP_MESSAGE: Final = 2**64 - 1  # RFC 8841 §6: max-message-size is a 64-bit count
# RFC 3551 §6 table 4/5: payload types statically assigned to a codec (name lower-cased).
STATIC_PAYLOAD_TYPES: Final = {
    0: "pcmu", 3: "gsm", 4: "g723", 5: "dvi4", 6: "dvi4", 7: "lpc", 8: "pcma", 9: "g722",
    10: "l16", 11: "l16", 12: "qcelp", 13: "cn", 14: "mpa", 15: "g728", 16: "dvi4",
    17: "dvi4", 18: "g729", 25: "celb", 26: "jpeg", 28: "nv", 31: "h261", 32: "mpv",
    33: "mp2t", 34: "h263",
}  # fmt: skip
SETUP_VALUES: Final = frozenset({"active", "passive", "actpass", "holdconn"})  # RFC 4145 §4
_FLAGS: Final = frozenset(
    {"rtcp-mux", "rtcp-rsize", "bundle-only", "end-of-candidates", "extmap-allow-mixed"}
)
_DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


class _Scope:
    """What one scan of a scope's attributes records (internal, mutable)."""

    __slots__ = (
        "bundle_only", "candidates", "direction", "fingerprint_line", "fingerprints",
        "groups", "lines", "mid", "pwd", "rtpmap", "setup", "ufrag",
    )  # fmt: skip

    def __init__(self) -> None:
        self.mid: str | None = None
        self.ufrag: str | None = None
        self.pwd: str | None = None
        self.setup: str | None = None
        self.fingerprints = 0
        self.fingerprint_line = 0
        self.direction: str | None = None
        self.bundle_only = False
        self.rtpmap: dict[int, str] = {}
        self.candidates: list[tuple[str, int]] = []
        self.groups: list[tuple[str, tuple[str, ...], int]] = []
        self.lines: dict[str, int] = {}


def _err(rule: str, message: str, line: int, field: str | None = None) -> SdpValidationError:
    return SdpValidationError(rule, message, line=line, field=field)


def _once(scope: _Scope, name: str, line: int) -> None:
    if name in scope.lines:
        raise SdpSyntaxError(
            "attr.duplicate",
            f"a={name} appears twice in one scope (first on line {scope.lines[name]})",
            line=line, field=f"a={name}",
        )  # fmt: skip
    scope.lines[name] = line


# RFC 8839 §5.4: ufrag = 4*256ice-char, password = 22*256ice-char.
# attribute -> (minimum length, charset rule, length rule)
_CREDENTIAL_RULES: Final = {
    "ice-ufrag": (MIN_UFRAG, "ice.ufrag_charset", "ice.ufrag_length"),
    "ice-pwd": (MIN_PWD, "ice.pwd_charset", "ice.pwd_length"),
}


def _credential(value: str, kind: str, line: int) -> None:
    low, charset_rule, length_rule = _CREDENTIAL_RULES[kind]
    if not is_ice_chars(value):
        raise SdpSyntaxError(
            charset_rule,
            f"a={kind} has characters outside ALPHA / DIGIT / '+' / '/'",
            line=line, field=f"a={kind}",
        )  # fmt: skip
    if not low <= len(value) <= MAX_CREDENTIAL:
        raise SdpSyntaxError(
            length_rule,
            f"a={kind} is {len(value)} characters; RFC 8839 requires {low} to {MAX_CREDENTIAL}",
            line=line, field=f"a={kind}",
        )  # fmt: skip


def _on_mid(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "mid", line)
    # RFC 5888 §4: identification-tag = token
    if value is None or not is_token(value) or len(value) > MAX_MID_LENGTH:
        raise SdpSyntaxError(
            "attr.mid", f"a=mid value {value!r} is not a token of 1-{MAX_MID_LENGTH} characters",
            line=line, field="a=mid",
        )  # fmt: skip
    scope.mid = value


def _on_ufrag(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "ice-ufrag", line)
    _credential(value or "", "ice-ufrag", line)
    scope.ufrag = value


def _on_pwd(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "ice-pwd", line)
    _credential(value or "", "ice-pwd", line)
    scope.pwd = value


def _on_ice_options(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "ice-options", line)
    # RFC 8839 §5.6: ice-options = ice-option-tag *(SP ice-option-tag), tags are 1*ice-char
    tags = (value or "").split(" ")
    if not all(tag and is_ice_chars(tag.replace("-", "").replace("_", "")) for tag in tags):
        raise SdpSyntaxError(
            "attr.ice_options", f"a=ice-options:{value} is not space-separated tags",
            line=line, field="a=ice-options",
        )  # fmt: skip


def _on_setup(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "setup", line)
    if value not in SETUP_VALUES:
        raise SdpSyntaxError(
            "attr.setup", f"a=setup:{value} is not active, passive, actpass or holdconn",
            line=line, field="a=setup",
        )  # fmt: skip
    scope.setup = value


def _on_fingerprint(scope: _Scope, value: str | None, line: int) -> None:
    # RFC 8842 §5: several fingerprints (one per certificate hash) may be given.
    parse_fingerprint(value or "")
    if not scope.fingerprints:
        scope.fingerprint_line = line
    scope.fingerprints += 1


def _on_rtpmap(scope: _Scope, value: str | None, line: int) -> None:
    pt, encoding, _, _ = scan_rtpmap(value or "")
    if pt in scope.rtpmap:
        raise SdpSyntaxError(
            "rtp.duplicate_payload_type", f"a second a=rtpmap for payload type {pt}",
            line=line, field="a=rtpmap",
        )  # fmt: skip
    scope.rtpmap[pt] = encoding


def _on_candidate(scope: _Scope, value: str | None, line: int) -> None:
    scope.candidates.append((value or "", line))


def _on_group(scope: _Scope, value: str | None, line: int) -> None:
    group = parse_group(value or "")
    scope.groups.append((group.semantics, group.mids, line))


def _on_flag(scope: _Scope, value: str | None, line: int) -> None:
    if value is not None:
        raise SdpSyntaxError(
            "attr.flag", f"a property attribute carries a value ({value[:40]!r})",
            line=line, field="a=",
        )  # fmt: skip


def _on_bundle_only(scope: _Scope, value: str | None, line: int) -> None:
    _on_flag(scope, value, line)
    scope.bundle_only = True


def _on_direction(scope: _Scope, value: str | None, line: int) -> None:
    _on_flag(scope, value, line)
    if scope.direction is not None:
        raise SdpSyntaxError(
            "attr.direction", "more than one of sendrecv/sendonly/recvonly/inactive",
            line=line, field="a=direction",
        )  # fmt: skip
    scope.direction = "set"


def _on_sctp_port(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "sctp-port", line)
    if parse_int(value or "", 0, 65535) is None:  # RFC 8841 §5.1: 1*5DIGIT port
        raise SdpSyntaxError(
            "attr.sctp_port", f"a=sctp-port:{value} is not a port number", line=line,
            field="a=sctp-port",
        )  # fmt: skip


def _on_max_message_size(scope: _Scope, value: str | None, line: int) -> None:
    _once(scope, "max-message-size", line)
    text = value or ""
    if not text.isascii() or not text.isdigit() or len(text) > 20 or int(text) > MAX_SCTP_MESSAGE:
        raise SdpSyntaxError(
            "attr.max_message_size", f"a=max-message-size:{value} is not an integer",
            line=line, field="a=max-message-size",
        )  # fmt: skip


_Handler = Callable[[_Scope, str | None, int], None]
# The scan dispatches on the head of each line, ``a=<name>``, as the parser left it.
# Attributes whose grammar is checked and nothing recorded: value -> parsed or raise.
_CHECKS: Final[dict[str, Callable[[str], object]]] = {
    "a=fmtp": scan_fmtp,
    "a=rtcp-fb": scan_rtcp_fb,
    "a=extmap": scan_extmap,
    "a=ssrc": scan_ssrc,
    "a=ssrc-group": parse_ssrc_group,
    "a=msid": parse_msid,
    "a=rid": parse_rid,
    "a=simulcast": parse_simulcast,
}
# Attributes the cross-checks need: recorded into the scope.
_HANDLERS: Final[dict[str, _Handler]] = {
    "a=mid": _on_mid,
    "a=ice-ufrag": _on_ufrag,
    "a=ice-pwd": _on_pwd,
    "a=ice-options": _on_ice_options,
    "a=setup": _on_setup,
    "a=fingerprint": _on_fingerprint,
    "a=rtpmap": _on_rtpmap,
    "a=candidate": _on_candidate,
    "a=group": _on_group,
    "a=bundle-only": _on_bundle_only,
    "a=sctp-port": _on_sctp_port,
    "a=max-message-size": _on_max_message_size,
    **dict.fromkeys([f"a={name}" for name in _FLAGS - {"bundle-only"}], _on_flag),
    **dict.fromkeys([f"a={name}" for name in _DIRECTIONS], _on_direction),
}


# Inline fast paths for the four most frequent attributes (about 80% of the lines of a
# browser offer): a value in the common shape is accepted here without a call; any other
# value goes to its checker, which accepts it or raises the precise error.
_FEEDBACK_FAST: Final = frozenset({"nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"})
_PT_OR_STAR: Final = frozenset((*PAYLOAD_TYPES, "*"))
# RFC 8285 §8: extmap ids 1-255 and 4096-4351, as canonical text
_EXTMAP_IDS: Final = frozenset(str(n) for n in (*range(1, 256), *range(4096, 4352)))


def _scan(lines: tuple[str, ...], first_line: int) -> _Scope:
    """The precise scan of one scope: every ``a=`` line, with its line number."""
    scope = _Scope()
    _scan_into(scope, lines, first_line)
    return scope


def _fast_scan(lines: tuple[str, ...]) -> _Scope | None:
    """The fast scan of one scope's ``a=`` lines, or ``None`` if anything is wrong."""
    scope = _Scope()
    known = list(filter(None, map(RTPMAP_LINES.get, lines)))
    if known:
        rtpmap = dict(known)
        if len(rtpmap) != len(known):
            return None  # a payload type mapped twice
        scope.rtpmap = rtpmap
    rest = tuple(filterfalse(KNOWN_LINES.__contains__, lines))
    try:
        _scan_into(scope, rest, 0)
    except SdpError:
        return None
    return scope


def _scan_into(scope: _Scope, lines: tuple[str, ...], first_line: int) -> None:
    checks = _CHECKS
    handlers = _HANDLERS
    payload_types = PAYLOAD_TYPES
    known_codecs = KNOWN_CODECS
    rtpmap = scope.rtpmap
    index = 0
    try:
        for index, line in enumerate(lines):
            head, sep, value = line.partition(":")
            if sep:
                if head == "a=rtcp-fb":
                    pt, _, rest = value.partition(" ")
                    if rest in _FEEDBACK_FAST and pt in _PT_OR_STAR:
                        continue
                elif head == "a=rtpmap":
                    pt_text, _, rest = value.partition(" ")
                    number = payload_types.get(pt_text)
                    known = known_codecs.get(rest)
                    if number is not None and known is not None and number not in rtpmap:
                        rtpmap[number] = known[0]
                        continue
                elif head == "a=fmtp":
                    fmt, _, params = value.partition(" ")
                    if params and fmt in payload_types:
                        continue
                elif head == "a=extmap":
                    ident, _, rest = value.partition(" ")
                    if ident in _EXTMAP_IDS and rest and rest[0] != " ":
                        continue
            check = checks.get(head)
            if check is not None:
                check(value)
                continue
            handler = handlers.get(head)
            if handler is not None:
                handler(scope, value if sep else None, first_line + index)
    except SdpError as err:
        if err.line is not None:
            raise
        raise err.with_line(first_line + index) from None


_STATIC_PAYLOAD_TYPES: Final = frozenset(STATIC_PAYLOAD_TYPES)


def _check_rtp(media: MediaSection, scope: _Scope, in_use: bool, policy: SdpPolicy) -> None:
    if policy.allowed_codecs is None:
        # The common case as set operations: every format a payload type, none listed
        # twice, each mapped or static. Anything else takes the loop that names it.
        pts = set(map(PAYLOAD_TYPES.get, media.formats))
        if (
            len(pts) == len(media.formats)
            and None not in pts
            and (not in_use or scope.rtpmap.keys() >= pts - _STATIC_PAYLOAD_TYPES)
        ):
            return
    seen: set[int] = set()
    allowed = policy.allowed_codecs
    for fmt in media.formats:
        pt = PAYLOAD_TYPES.get(fmt)
        if pt is None:  # RFC 3551 §6: RTP payload types are 7 bits
            raise _err(
                "rtp.payload_type", f"format {fmt!r} is not a payload type 0-127", media.line, "m="
            )
        if pt in seen:
            raise _err(
                "rtp.duplicate_payload_type", f"payload type {pt} is listed twice", media.line, "m="
            )
        seen.add(pt)
        if not in_use:
            continue  # a rejected m-section keeps its format list without rtpmaps
        encoding = scope.rtpmap.get(pt)
        if encoding is None:
            encoding = STATIC_PAYLOAD_TYPES.get(pt)
            if encoding is None:
                # RFC 8866 §6.6: dynamic payload types (Chromium uses 35-63 too) need rtpmap
                raise _err(
                    "rtp.missing_rtpmap", f"payload type {pt} has no a=rtpmap", media.line, "m="
                )
        if allowed is not None:
            name = encoding.lower()
            if name not in allowed and name not in ALWAYS_ALLOWED_CODECS:
                raise _err(
                    "policy.codec",
                    f"codec {encoding} (payload type {pt}) is not allowed",
                    media.line,
                    "m=",
                )


def _check_candidates(
    scope: _Scope, addresses: CandidateAddressPolicy, check_policy: bool, ufrag: str | None
) -> None:
    for value, line in scope.candidates:
        try:
            fields = scan_candidate_value(value) or scan_candidate("candidate:" + value)
            if check_policy:
                check_address(fields[4], addresses)
        except SdpError as err:
            raise err.with_line(line) from None
        if ufrag is not None and " ufrag " in value:
            # A candidate's ufrag extension names its ICE generation: inside a
            # description it is the section's own ice-ufrag (RFC 8839 §5.1, §5.4).
            theirs = next((v for k, v in fields[10] if k == "ufrag"), None)
            if theirs is not None and theirs != ufrag:
                raise _err(
                    "candidate.ufrag_mismatch",
                    f"the candidate's ufrag {theirs[:64]!r} is not the a=ice-ufrag {ufrag!r} "
                    "of its section",
                    line,
                    "a=candidate",
                )


def _is_dtls_proto(proto: str) -> bool:
    # RFC 8829 §5.1.2/§5.1.3: UDP/TLS/RTP/SAVPF, TCP/DTLS/RTP/SAVPF, UDP/DTLS/SCTP,
    # TCP/DTLS/SCTP, and the legacy RTP/SAVPF and DTLS/SCTP that receivers MUST accept.
    return "TLS" in proto or "SAVP" in proto


_ALLOW_ALL: Final = CandidateAddressPolicy()


def _validate(desc: SessionDescription, policy: SdpPolicy, role: str) -> None:
    """The fast pass; on anything wrong, the precise pass (which raises)."""
    if len(desc.media) <= policy.max_media_sections:
        session = _fast_scan(desc.attribute_lines)
        found = [_fast_scan(m.attribute_lines) for m in desc.media]
        scopes = [scope for scope in found if scope is not None]
        if session is not None and len(scopes) == len(found):
            try:
                _cross_check(desc, session, scopes, policy, role)
                return
            except SdpError:
                pass  # the precise pass names the rule and the line
    validate_precisely(desc, policy, role)


def validate_precisely(desc: SessionDescription, policy: SdpPolicy, role: str) -> None:
    """Validate with the precise pass alone: what the fast pass must agree with."""
    if len(desc.media) > policy.max_media_sections:
        raise _err(
            "limit.media_sections",
            f"more than {policy.max_media_sections} m-sections",
            desc.media[policy.max_media_sections].line,
            "m=",
        )
    session = _scan(desc.attribute_lines, desc.attribute_line(0))
    scopes = [_scan(m.attribute_lines, m.attribute_line(0)) for m in desc.media]
    _cross_check(desc, session, scopes, policy, role)


def _cross_check(
    desc: SessionDescription,
    session: _Scope,
    scopes: list[_Scope],
    policy: SdpPolicy,
    role: str,
) -> None:
    check_policy = policy.candidate_address_policy != _ALLOW_ALL
    total = len(session.candidates) + sum(len(s.candidates) for s in scopes)
    if total > policy.max_candidates:
        lines = sorted(line for s in (session, *scopes) for _, line in s.candidates)
        raise _err(
            "limit.candidates",
            f"{total} candidates; the limit is {policy.max_candidates}",
            lines[policy.max_candidates],
            "a=candidate",
        )
    _check_candidates(session, policy.candidate_address_policy, check_policy, session.ufrag)

    by_mid: dict[str, int] = {}
    for index, (media, scope) in enumerate(zip(desc.media, scopes, strict=True)):
        in_use = media.port != 0 or scope.bundle_only
        if scope.mid is None:
            if in_use:
                raise _err(
                    "media.missing_mid",
                    f"m-section {index} ({media.kind}) has no a=mid",
                    media.line,
                    "a=mid",
                )
        elif scope.mid in by_mid:
            raise _err(
                "media.duplicate_mid",
                f"mid {scope.mid!r} is already used by m-section {by_mid[scope.mid]}",
                scope.lines["mid"],
                "a=mid",
            )
        else:
            by_mid[scope.mid] = index
        if media.is_rtp:
            _check_rtp(media, scope, in_use, policy)
        ufrag = scope.ufrag or session.ufrag
        _check_candidates(scope, policy.candidate_address_policy, check_policy, ufrag)

    bundle_of: dict[str, tuple[str, ...]] = {}
    for semantics, mids, line in session.groups:
        bundle = semantics == "BUNDLE"
        for mid in mids:
            if mid not in by_mid:
                rule = "bundle.unknown_mid" if bundle else "group.unknown_mid"
                raise _err(
                    rule,
                    f"a=group:{semantics} names mid {mid!r}, which no m-section has",
                    line,
                    "a=group",
                )
            if bundle:
                if mid in bundle_of:
                    raise _err(
                        "bundle.duplicate_mid",
                        f"mid {mid!r} is in two BUNDLE groups",
                        line,
                        "a=group",
                    )
                bundle_of[mid] = mids

    for semantics, mids, _ in session.groups:
        if semantics == "BUNDLE":
            _check_bundle_credentials([scopes[by_mid[mid]] for mid in mids])

    for media, scope in zip(desc.media, scopes, strict=True):
        if media.port == 0 and not scope.bundle_only:
            continue  # rejected (RFC 3264 §6): no transport to check
        if scope.bundle_only and (scope.mid is None or scope.mid not in bundle_of):
            raise _err(
                "bundle.only_not_bundled",
                "a=bundle-only m-section is in no BUNDLE group",
                media.line,
                "a=bundle-only",
            )
        mids = bundle_of.get(scope.mid or "", ())
        group = partial(_group_scopes, mids, scopes, by_mid)
        _check_transport(media, scope, group, session, policy, role)


def _check_bundle_credentials(group: list[_Scope]) -> None:
    """One BUNDLE group is one transport, so one ICE session: every section of the group
    that carries ICE credentials carries the same ones (RFC 8843 §7.1.3, the transport
    parameters of a BUNDLE group; RFC 8445 §5.3, one ufrag/pwd pair per ICE session)."""
    first: _Scope | None = None
    for scope in group:
        if scope.ufrag is None and scope.pwd is None:
            continue
        if first is None:
            first = scope
            continue
        for attr, name in (("ufrag", "ice-ufrag"), ("pwd", "ice-pwd")):
            mine, theirs = getattr(scope, attr), getattr(first, attr)
            if mine is not None and theirs is not None and mine != theirs:
                raise _err(
                    "ice.bundle_credentials",
                    f"a={name} of mid {scope.mid!r} differs from that of mid {first.mid!r} "
                    "in the same BUNDLE group",
                    scope.lines[name],
                    f"a={name}",
                )


def _first(scope: _Scope, group: list[_Scope], session: _Scope, attr: str) -> _Scope | None:
    for candidate in (scope, *group, session):
        if getattr(candidate, attr):
            return candidate
    return None


def _check_transport(
    media: MediaSection,
    scope: _Scope,
    group: Callable[[], list[_Scope]],
    session: _Scope,
    policy: SdpPolicy,
    role: str,
) -> None:
    if scope.ufrag and scope.pwd and scope.fingerprints and scope.setup:
        # The common case (browsers repeat transport attributes in every section).
        fingerprint: _Scope | None = scope
        holder: _Scope | None = scope
    else:
        chain = group()
        if _first(scope, chain, session, "ufrag") is None:
            raise _err("ice.missing_ufrag", f"{_where(media)} has no a=ice-ufrag", media.line,
                       "a=ice-ufrag")  # fmt: skip
        if _first(scope, chain, session, "pwd") is None:
            raise _err("ice.missing_pwd", f"{_where(media)} has no a=ice-pwd", media.line,
                       "a=ice-pwd")  # fmt: skip
        fingerprint = _first(scope, chain, session, "fingerprints")
        holder = _first(scope, chain, session, "setup")
    if policy.require_dtls:
        if not _is_dtls_proto(media.proto):
            raise _err(
                "dtls.proto",
                f"{_where(media)} uses {media.proto}, which is not DTLS-protected",
                media.line,
                "m=",
            )
        if fingerprint is None:
            raise _err(
                "dtls.missing_fingerprint",
                f"{_where(media)} has no a=fingerprint",
                media.line,
                "a=fingerprint",
            )
    if fingerprint is None:
        return
    setup = holder.setup if holder is not None else None
    if setup == ("actpass" if role == "offer" else "active") or (
        role == "answer" and setup == "passive"
    ):
        return
    line = holder.lines["setup"] if holder is not None else media.line
    if role == "offer":
        raise _err(
            "dtls.setup_offer",
            f"{_where(media)}: an offer must use a=setup:actpass, not {setup or 'nothing'}",
            line,
            "a=setup",
        )
    raise _err(
        "dtls.setup_answer",
        f"{_where(media)}: an answer must use a=setup:active or passive, not {setup or 'nothing'}",
        line,
        "a=setup",
    )


def _group_scopes(
    mids: tuple[str, ...], scopes: list[_Scope], by_mid: dict[str, int]
) -> list[_Scope]:
    return [scopes[by_mid[m]] for m in mids]


def _where(media: MediaSection) -> str:
    return f"m-section at line {media.line} ({media.kind})"


def _load(text: object, policy: SdpPolicy) -> SessionDescription:
    if isinstance(text, SessionDescription):
        return text
    return parse(text, policy=policy)


def validate_offer(text: object, policy: SdpPolicy | None = None) -> SessionDescription:
    """Parse and validate an offer (RFC 8829 §5.2) under ``policy``.

    Args:
        text: the offer SDP (``str``/UTF-8 ``bytes``), or an already parsed description
            (typed ``object``: anything else is refused like :func:`parse` refuses it).
        policy: limits, DTLS requirement, codecs, candidate address policy; ``None`` for
            the defaults.

    Returns:
        The parsed :class:`SessionDescription`.

    Raises:
        SdpError: an :class:`SdpSyntaxError`, :class:`SdpValidationError` or
            :class:`CandidateError` naming the first broken rule.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    desc = _load(text, policy)
    _validate(desc, policy, "offer")
    return desc


def validate_answer(
    answer: object,
    offer: object,
    policy: SdpPolicy | None = None,
) -> SessionDescription:
    """Parse and validate an answer (RFC 8829 §5.3) against the offer it answers.

    Args:
        answer: the answer SDP, or an already parsed description.
        offer: the offer it answers (text or description); only parsed here, not
            re-validated.
        policy: as for :func:`validate_offer`.

    Returns:
        The parsed answer.

    Raises:
        SdpError: the first broken rule, including ``answer.media_count``,
            ``answer.media_kind`` and ``answer.mid`` for a mismatch with the offer.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    desc = _load(answer, policy)
    offered = _load(offer, policy)
    if len(desc.media) != len(offered.media):
        line = desc.media[0].line if desc.media else 1
        raise _err(
            "answer.media_count",
            f"the answer has {len(desc.media)} m-sections; the offer has {len(offered.media)}",
            line,
            "m=",
        )
    for mine, theirs in zip(desc.media, offered.media, strict=True):
        if mine.kind != theirs.kind:
            raise _err(
                "answer.media_kind",
                f"answer m-section is {mine.kind}; the offer's is {theirs.kind}",
                mine.line,
                "m=",
            )
        if mine.mid is not None and theirs.mid is not None and mine.mid != theirs.mid:
            raise _err(
                "answer.mid",
                f"answer mid {mine.mid!r}; the offer's is {theirs.mid!r}",
                mine.line,
                "a=mid",
            )
    _validate(desc, policy, "answer")
    return desc
