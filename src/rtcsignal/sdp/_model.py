"""The SDP model: a session description with its media sections (RFC 8866 §5).

The model keeps every line: ``to_sdp()`` gives back the parsed text exactly (for input
with consistent line endings). Attributes stay text: each scope keeps its ``a=`` lines
verbatim (``attribute_lines``; a Chromium offer has ~150 of them) and splits them into
``(name, value)`` pairs (``attributes``) on first use; the typed views
(:meth:`MediaSection.rtpmaps`, :meth:`SessionDescription.bundle_groups`, ...) parse on
demand with the grammars of :mod:`._attributes` and raise :class:`SdpSyntaxError`
carrying the line number.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from itertools import repeat
from typing import NamedTuple, TypeVar

import attrs

from ._attributes import (
    Extmap,
    Fingerprint,
    Fmtp,
    Group,
    Msid,
    Rid,
    RtcpFb,
    Rtpmap,
    Simulcast,
    Ssrc,
    SsrcGroup,
    parse_extmap,
    parse_fingerprint,
    parse_fmtp,
    parse_group,
    parse_msid,
    parse_rid,
    parse_rtcp_fb,
    parse_rtpmap,
    parse_simulcast,
    parse_ssrc,
    parse_ssrc_group,
)
from ._candidate import Candidate, parse_candidate
from ._errors import SdpError

__all__ = [
    "Attribute",
    "Line",
    "MediaSection",
    "Origin",
    "SessionDescription",
    "attribute_to_sdp",
    "split_attribute_lines",
]

_T = TypeVar("_T")

DIRECTION_ATTRIBUTES = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


Attribute = tuple[str, str | None]
"""One ``a=`` line as a ``(name, value)`` pair: ``value`` is ``None`` for a property such as
``a=rtcp-mux`` and ``""`` for ``a=name:`` with nothing after the colon. Plain tuples: a
Chromium offer has ~150 attributes and the parser builds them in one comprehension."""


def attribute_to_sdp(attribute: Attribute) -> str:
    """Return an attribute as its line without the line ending, e.g. ``"a=mid:0"``."""
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


class Line(NamedTuple):
    """A line other than ``v o s m a``, kept verbatim: ``type`` letter and ``value``."""

    type: str
    value: str


@attrs.frozen(kw_only=True)
class Origin:
    """The ``o=`` line (RFC 8866 §5.2)."""

    username: str
    session_id: str
    session_version: str
    nettype: str
    addrtype: str
    address: str

    def to_sdp(self) -> str:
        """Return the ``o=`` line without its line ending."""
        return (
            f"o={self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


def _typed(
    attributes: tuple[Attribute, ...], first_line: int, name: str, parse: Callable[[str], _T]
) -> tuple[_T, ...]:
    out = []
    for index, (attr_name, value) in enumerate(attributes):
        if attr_name == name:
            try:
                out.append(parse(value or ""))
            except SdpError as err:
                raise err.with_line(first_line + index) from None
    return tuple(out)


def split_attribute_lines(lines: tuple[str, ...]) -> tuple[Attribute, ...]:
    """Split verbatim ``a=`` lines into ``(name, value)`` pairs (see :data:`Attribute`)."""
    return tuple(
        (name[2:], value if sep else None)
        for name, sep, value in map(str.partition, lines, repeat(":"))
    )


class _Attributes(abc.ABC):
    """Accessors shared by the session level and media sections."""

    __slots__ = ()
    attribute_lines: tuple[str, ...]
    _attributes: tuple[Attribute, ...] | None

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """The ``a=`` lines as ``(name, value)`` pairs, in order (split on first use)."""
        found = self._attributes
        if found is None:
            found = split_attribute_lines(self.attribute_lines)
            object.__setattr__(self, "_attributes", found)
        return found

    @abc.abstractmethod
    def _first_attribute_line(self) -> int:
        """The 1-based line number of ``attributes[0]``."""

    def get(self, name: str) -> str | None:
        """Return the value of the first ``a=<name>``, ``""`` for a property, or ``None``."""
        for attr_name, value in self.attributes:
            if attr_name == name:
                return "" if value is None else value
        return None

    def get_all(self, name: str) -> tuple[str, ...]:
        """Return the values of every ``a=<name>`` in order (``""`` for properties)."""
        return tuple(v or "" for n, v in self.attributes if n == name)

    def has(self, name: str) -> bool:
        """Return whether an ``a=<name>`` is present."""
        return any(n == name for n, _ in self.attributes)

    @property
    def ice_ufrag(self) -> str | None:
        """``a=ice-ufrag`` at this level, or ``None``."""
        return self.get("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        """``a=ice-pwd`` at this level, or ``None``."""
        return self.get("ice-pwd")

    @property
    def ice_options(self) -> tuple[str, ...]:
        """The tags of ``a=ice-options`` at this level (RFC 8839 §5.6)."""
        value = self.get("ice-options")
        return tuple(value.split()) if value else ()

    @property
    def setup(self) -> str | None:
        """``a=setup`` at this level (RFC 4145 §4), or ``None``."""
        return self.get("setup")

    @property
    def direction(self) -> str | None:
        """The direction attribute at this level (RFC 8866 §6.7), or ``None``."""
        for name, _ in self.attributes:
            if name in DIRECTION_ATTRIBUTES:
                return name
        return None

    def fingerprints(self) -> tuple[Fingerprint, ...]:
        """Every ``a=fingerprint`` at this level. Raises: SdpSyntaxError."""
        return _typed(
            self.attributes, self._first_attribute_line(), "fingerprint", parse_fingerprint
        )


@attrs.frozen(kw_only=True)
class MediaSection(_Attributes):
    """One m-section: the ``m=`` line, its ``i c b k`` lines and its attributes.

    Attributes:
        kind: the media type (``audio``, ``video``, ``application`` ...).
        port: the transport port; 0 marks a rejected or ``bundle-only`` section.
        port_count: the ``/<number of ports>`` suffix, or ``None``.
        proto: the transport protocol, e.g. ``UDP/TLS/RTP/SAVPF``.
        formats: the format list (RTP payload types as text).
        lines: the ``i c b k`` lines, verbatim.
        attribute_lines: the ``a=`` lines in order, verbatim, without line endings
            (``"a=mid:0"``); :attr:`attributes` gives them as ``(name, value)`` pairs.
        line: the 1-based line number of the ``m=`` line.
    """

    kind: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    lines: tuple[Line, ...]
    attribute_lines: tuple[str, ...]
    line: int
    _attributes: tuple[Attribute, ...] | None = attrs.field(
        init=False, default=None, eq=False, hash=False, repr=False
    )

    def _first_attribute_line(self) -> int:
        return self.line + len(self.lines) + 1

    def attribute_line(self, index: int) -> int:
        """Return the 1-based line number of ``attributes[index]``."""
        return self.line + len(self.lines) + 1 + index

    @property
    def mid(self) -> str | None:
        """``a=mid`` (RFC 5888 §4), or ``None``."""
        return self.get("mid")

    @property
    def bundle_only(self) -> bool:
        """Whether ``a=bundle-only`` is present (RFC 8843 §6)."""
        return self.has("bundle-only")

    @property
    def rtcp_mux(self) -> bool:
        """Whether ``a=rtcp-mux`` is present (RFC 5761 §5.1.1)."""
        return self.has("rtcp-mux")

    @property
    def rtcp_rsize(self) -> bool:
        """Whether ``a=rtcp-rsize`` is present (RFC 5506 §5)."""
        return self.has("rtcp-rsize")

    @property
    def end_of_candidates(self) -> bool:
        """Whether ``a=end-of-candidates`` is present (RFC 8840 §8.2)."""
        return self.has("end-of-candidates")

    @property
    def is_rtp(self) -> bool:
        """Whether the section carries RTP (its proto has an ``RTP/`` profile)."""
        return "RTP/" in self.proto

    @property
    def sctp_port(self) -> int | None:
        """``a=sctp-port`` as an int (RFC 8841 §5.1), or ``None`` (absent or malformed)."""
        value = self.get("sctp-port")
        return int(value) if value and value.isdigit() and len(value) <= 5 else None

    @property
    def max_message_size(self) -> int | None:
        """``a=max-message-size`` (RFC 8841 §6.1), or ``None`` (absent or malformed)."""
        value = self.get("max-message-size")
        return int(value) if value and value.isdigit() and len(value) <= 20 else None

    def rtpmaps(self) -> tuple[Rtpmap, ...]:
        """Every ``a=rtpmap``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "rtpmap", parse_rtpmap)

    def fmtps(self) -> tuple[Fmtp, ...]:
        """Every ``a=fmtp``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "fmtp", parse_fmtp)

    def rtcp_fbs(self) -> tuple[RtcpFb, ...]:
        """Every ``a=rtcp-fb``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "rtcp-fb", parse_rtcp_fb)

    def extmaps(self) -> tuple[Extmap, ...]:
        """Every ``a=extmap``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "extmap", parse_extmap)

    def ssrcs(self) -> tuple[Ssrc, ...]:
        """Every ``a=ssrc``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "ssrc", parse_ssrc)

    def ssrc_groups(self) -> tuple[SsrcGroup, ...]:
        """Every ``a=ssrc-group``. Raises: SdpSyntaxError."""
        first = self._first_attribute_line()
        return _typed(self.attributes, first, "ssrc-group", parse_ssrc_group)

    def msids(self) -> tuple[Msid, ...]:
        """Every ``a=msid``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "msid", parse_msid)

    def rids(self) -> tuple[Rid, ...]:
        """Every ``a=rid``. Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "rid", parse_rid)

    def simulcast(self) -> Simulcast | None:
        """``a=simulcast``, or ``None``. Raises: SdpSyntaxError."""
        found = _typed(self.attributes, self._first_attribute_line(), "simulcast", parse_simulcast)
        return found[0] if found else None

    def candidates(self) -> tuple[Candidate, ...]:
        """Every ``a=candidate``, parsed (RFC 8839 §5.1). Raises: CandidateError."""
        first = self._first_attribute_line()
        return _typed(
            self.attributes, first, "candidate", lambda v: parse_candidate("candidate:" + v)
        )

    def to_sdp(self, eol: str = "\r\n") -> str:
        """Return the section's lines, each ending with ``eol``."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        out = [f"m={self.kind} {port} {self.proto} {' '.join(self.formats)}"]
        out.extend(f"{t}={v}" for t, v in self.lines)
        out.extend(self.attribute_lines)
        out.append("")
        return eol.join(out)


@attrs.frozen(kw_only=True)
class SessionDescription(_Attributes):
    """A parsed session description (RFC 8866 §5), as :func:`parse` returns it.

    Attributes:
        origin: the ``o=`` line.
        session_name: the ``s=`` value.
        lines: the other session-level lines (``i u e p c b t r z k``), verbatim and in
            order.
        attribute_lines: the session-level ``a=`` lines, verbatim, without line endings;
            :attr:`attributes` gives them as ``(name, value)`` pairs.
        media: the m-sections in order.
        eol: the line ending of the input (``"\\r\\n"``, or ``"\\n"`` when only LF was used).
        final_eol: whether the last line ended with a line ending.
    """

    origin: Origin
    session_name: str
    lines: tuple[Line, ...]
    attribute_lines: tuple[str, ...]
    media: tuple[MediaSection, ...]
    eol: str = "\r\n"
    final_eol: bool = True
    _attributes: tuple[Attribute, ...] | None = attrs.field(
        init=False, default=None, eq=False, hash=False, repr=False
    )
    # Looked up for every trickled candidate: computed once per (immutable) description.
    _mid_index: dict[str, int] | None = attrs.field(
        init=False, default=None, eq=False, hash=False, repr=False
    )
    _ufrags: tuple[str | None, ...] | None = attrs.field(
        init=False, default=None, eq=False, hash=False, repr=False
    )

    def _first_attribute_line(self) -> int:
        return 4 + len(self.lines)

    def index_of_mid(self, mid: str) -> int | None:
        """The index of the first m-section with ``a=mid:<mid>``, or ``None``."""
        table = self._mid_index
        if table is None:
            table = {}
            for index, media in enumerate(self.media):
                found = media.mid
                if found is not None and found not in table:
                    table[found] = index
            object.__setattr__(self, "_mid_index", table)
        return table.get(mid)

    def attribute_line(self, index: int) -> int:
        """Return the 1-based line number of session ``attributes[index]``."""
        return 4 + len(self.lines) + index

    @property
    def version(self) -> int:
        """The ``v=`` value: always 0 (RFC 8866 §5.1)."""
        return 0

    def groups(self) -> tuple[Group, ...]:
        """Every ``a=group`` (RFC 5888 §5). Raises: SdpSyntaxError."""
        return _typed(self.attributes, self._first_attribute_line(), "group", parse_group)

    def bundle_groups(self) -> tuple[Group, ...]:
        """The ``a=group:BUNDLE`` groups (RFC 8843 §7). Raises: SdpSyntaxError."""
        return tuple(g for g in self.groups() if g.semantics == "BUNDLE")

    def mids(self) -> tuple[str | None, ...]:
        """The mid of each m-section, in order (``None`` where absent)."""
        return tuple(m.mid for m in self.media)

    def media_by_mid(self, mid: str) -> MediaSection | None:
        """Return the m-section with ``a=mid:<mid>``, or ``None``."""
        index = self.index_of_mid(mid)
        return None if index is None else self.media[index]

    def transport_of(self, index: int) -> MediaSection | SessionDescription:
        """Return where m-section ``index`` takes its ICE credentials from.

        The section itself when it carries ``a=ice-ufrag``; otherwise the first section of
        its BUNDLE group that does (RFC 8843 §7.1.3: transport attributes may appear in
        the BUNDLE-tagged section only); otherwise the session level (RFC 8839 §5.4).
        Groups that do not parse are ignored here (validation reports them).
        """
        media = self.media[index]
        if media.ice_ufrag is not None:
            return media
        mid = media.mid
        if mid is not None:
            try:
                groups = self.bundle_groups()
            except SdpError:
                groups = ()
            for group in groups:
                if mid in group.mids:
                    for other_mid in group.mids:
                        other = self.media_by_mid(other_mid)
                        if other is not None and other.ice_ufrag is not None:
                            return other
        return self

    def ice_ufrag_of(self, index: int) -> str | None:
        """The effective ``ice-ufrag`` of m-section ``index`` (see :meth:`transport_of`)."""
        ufrags = self._ufrags
        if ufrags is None:
            ufrags = tuple(self.transport_of(i).ice_ufrag for i in range(len(self.media)))
            object.__setattr__(self, "_ufrags", ufrags)
        return ufrags[index]

    def ice_ufrags(self) -> frozenset[str]:
        """Every ICE username fragment of this description: its current ICE generation.

        A trickled candidate whose ``usernameFragment`` is not among them belongs to
        another generation (RFC 8839 §4.4).
        """
        found = {u for u in (self.ice_ufrag_of(i) for i in range(len(self.media))) if u}
        if self.ice_ufrag:
            found.add(self.ice_ufrag)
        return frozenset(found)

    def to_sdp(self) -> str:
        """Serialize: the exact text that was parsed (line endings normalised to ``eol``)."""
        eol = self.eol
        head = ["v=0", self.origin.to_sdp(), f"s={self.session_name}"]
        head.extend(f"{t}={v}" for t, v in self.lines)
        head.extend(self.attribute_lines)
        head.append("")
        text = eol.join(head) + "".join(m.to_sdp(eol) for m in self.media)
        return text if self.final_eol else text[: -len(eol)]

    def __str__(self) -> str:
        return self.to_sdp()
