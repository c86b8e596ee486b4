"""The RFC 8866 parser: text to :class:`SessionDescription`, syntax only.

Rules it enforces (RFC 8866 §5), in the order it meets them:

* the whole text is UTF-8 (``bytes`` are decoded strictly) without NUL, at most
  ``policy.max_bytes`` long, lines at most ``policy.max_line_length``;
* lines end with CRLF; a lone LF is tolerated (RFC 8866 §5: parsers SHOULD accept it),
  a lone CR is not; the final line ending may be missing; there are no empty lines;
* every line is ``<type>=<value>`` with a type letter SDP defines, in the order of
  RFC 8866 §5: ``v o s i u e p c b (t r*)+ z k a*`` then per m-section ``m i c* b* k a*``,
  letters that may appear once appearing once;
* ``v=0``; ``o=`` has six fields; ``s=`` is not empty; ``t=`` two integers; ``c=`` three
  fields; ``b=`` is ``<type>:<integer>``; ``m=`` is ``<media> <port>[/<n>] <proto> <fmt>...``;
  attribute names are tokens.

Attribute *values* are checked by the validators, not here. The parser splits the text
once and walks the lines with ``str`` methods and dict lookups only (no regular
expressions), so its cost is linear in the input, and a text over the size limit is
refused before any work.
"""

from __future__ import annotations

from itertools import filterfalse, repeat
from operator import itemgetter
from typing import Final, NoReturn

from ._attributes import KNOWN_LINES, is_token, parse_int
from ._errors import SdpSyntaxError
from ._model import Line, MediaSection, Origin, SessionDescription
from ._policy import DEFAULT_POLICY, SdpPolicy

__all__ = ["parse"]

# RFC 8866 §5: the rank of each session-level line type (lines appear in rank order).
_SESSION_RANK: Final = {
    "v": 0, "o": 1, "s": 2, "i": 3, "u": 4, "e": 5, "p": 6, "c": 7, "b": 8,
    "t": 9, "r": 10, "z": 11, "k": 12, "a": 13,
}  # fmt: skip
_SESSION_ONCE: Final = frozenset("vosiuczk")  # e p b t r a may repeat
_MEDIA_RANK: Final = {"i": 1, "c": 2, "b": 3, "k": 4, "a": 5}  # m is rank 0
_MEDIA_ONCE: Final = frozenset("ik")  # c (multicast) and b may repeat
_KNOWN_TYPES: Final = frozenset("vosiuepcbtrzkam")
# Attribute names WebRTC stacks emit; a set lookup skips the token check for them.
_COMMON_ATTRIBUTES: Final = frozenset(
    {
        "candidate", "rtpmap", "fmtp", "rtcp-fb", "extmap", "ssrc", "ssrc-group", "mid",
        "msid", "ice-ufrag", "ice-pwd", "ice-options", "fingerprint", "setup", "rtcp-mux",
        "rtcp-rsize", "rtcp", "sendrecv", "sendonly", "recvonly", "inactive", "group",
        "rid", "simulcast", "sctp-port", "max-message-size", "end-of-candidates",
        "extmap-allow-mixed", "msid-semantic", "bundle-only", "ptime", "maxptime",
    }
)  # fmt: skip


def _error(rule: str, message: str, line: int, field: str | None = None) -> SdpSyntaxError:
    return SdpSyntaxError(rule, message, line=line, field=field)


def _decode(text: object, policy: SdpPolicy) -> str:
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        if len(raw) > policy.max_bytes:
            raise SdpSyntaxError(
                "limit.bytes",
                f"the description is {len(raw)} bytes; the limit is {policy.max_bytes}",
            )
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SdpSyntaxError(
                "syntax.encoding", f"the description is not UTF-8 (byte {err.start})"
            ) from None
    if not isinstance(text, str):
        raise SdpSyntaxError(
            "syntax.encoding", f"a description must be str or bytes, not {type(text).__name__}"
        )
    size = len(text)
    if size > policy.max_bytes:
        raise SdpSyntaxError(
            "limit.bytes", f"the description is over {policy.max_bytes} characters"
        )
    if not text.isascii():
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise SdpSyntaxError(
                "syntax.encoding", "the description holds a lone surrogate (not UTF-8)"
            ) from None
        if size > policy.max_bytes:
            raise SdpSyntaxError(
                "limit.bytes", f"the description is {size} bytes; the limit is {policy.max_bytes}"
            )
    return text


def _split_lines(text: str) -> tuple[list[str], str, bool]:
    """Return (lines, eol, final_eol). RFC 8866 §5: CRLF, LF tolerated, lone CR refused."""
    if "\r" not in text:
        lines = text.split("\n")
        eol = "\n"
    else:
        lines = text.split("\r\n")
        eol = "\r\n"
        breaks = len(lines) - 1
        if text.count("\r") != breaks or text.count("\n") != breaks:
            # Mixed or stray endings: the slow path, line by line.
            lines = text.split("\n")
            for number, line in enumerate(lines, 1):
                if line.endswith("\r"):
                    line = lines[number - 1] = line[:-1]
                if "\r" in line:
                    raise _error(
                        "syntax.line_ending",
                        "a carriage return that does not end a line",
                        number,
                    )
    final_eol = lines[-1] == ""
    if final_eol:
        lines.pop()
    return lines, eol, final_eol


def _parse_origin(value: str, number: int) -> Origin:
    parts = value.split(" ")
    if len(parts) != 6 or not all(parts):
        raise _error(
            "syntax.origin",
            "o= must be '<username> <sess-id> <sess-version> <nettype> <addrtype> <address>'",
            number,
            "o=",
        )
    if not parts[1].isdigit() or not parts[2].isdigit() or not parts[1].isascii():
        raise _error("syntax.origin", "o= session id and version must be digits", number, "o=")
    if not (parts[2].isascii() and is_token(parts[3]) and is_token(parts[4])):
        # RFC 8866 §9: sess-version = 1*DIGIT; nettype = token; addrtype = token
        raise _error("syntax.origin", "o= nettype and addrtype must be tokens", number, "o=")
    return Origin(
        username=parts[0], session_id=parts[1], session_version=parts[2],
        nettype=parts[3], addrtype=parts[4], address=parts[5],
    )  # fmt: skip


def _check_line(kind: str, value: str, number: int) -> None:
    """Check the grammar of the verbatim lines that have one (c=, b=, t=)."""
    if kind == "c":
        parts = value.split(" ")
        # RFC 8866 §9: nettype = token; addrtype = token
        if len(parts) != 3 or not all(parts) or not (is_token(parts[0]) and is_token(parts[1])):
            raise _error(
                "syntax.connection", "c= must be '<nettype> <addrtype> <address>'", number, "c="
            )
    elif kind == "b":
        bwtype, sep, amount = value.partition(":")
        if not sep or not is_token(bwtype) or parse_int(amount, 0, 2**32 - 1) is None:
            raise _error("syntax.bandwidth", "b= must be '<bwtype>:<integer>'", number, "b=")
    elif kind == "t":
        start, sep, stop = value.partition(" ")
        if not sep or not start.isdigit() or not stop.isdigit() or not value.isascii():
            raise _error("syntax.timing", "t= must be '<start> <stop>'", number, "t=")


_FIRST: Final = itemgetter(0)
# m= media types and protos that are tokens (RFC 8866 §5.14); a set lookup skips the
# per-character check for the ones WebRTC stacks emit.
_COMMON_MEDIA: Final = frozenset({"audio", "video", "application", "text", "message"})
_COMMON_PROTOS: Final = frozenset(
    {
        "UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "TCP/DTLS/RTP/SAVPF", "RTP/SAVPF",
        "RTP/SAVP", "RTP/AVPF", "RTP/AVP", "UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP",
    }
)  # fmt: skip


def _attribute_run(lines: list[str], start: int, stop: int) -> tuple[str, ...]:
    """Check ``lines[start:stop]``, which must all be ``a=`` lines (RFC 8866 §5: nothing
    but attributes follows the first attribute of a scope, up to the next ``m=``), and
    return them.

    The hot path of the parser, in C but for one check per *distinct* attribute name
    (RFC 8866 §5.13: att-field = token): lines of the whole-line tables
    (:data:`KNOWN_LINES`) are set aside by a hash probe, the others are split at their
    first colon, and the set of their ``a=<name>`` heads is checked.
    """
    run = tuple(lines[start:stop])
    heads = set(map(_FIRST, map(str.partition, filterfalse(KNOWN_LINES.__contains__, run),
                                repeat(":"))))  # fmt: skip
    for head in heads:
        name = head[2:]
        if head[:2] != "a=" or (name not in _COMMON_ATTRIBUTES and not is_token(name)):
            _bad_run(lines, start, stop)
    return run


def _bad_run(lines: list[str], start: int, stop: int) -> NoReturn:
    """Raise the precise error for the first line of a run that is not an attribute."""
    for number, line in enumerate(lines[start:stop], start + 1):
        if not line.startswith("a="):
            if len(line) >= 2 and line[1] == "=" and line[0] in _KNOWN_TYPES:
                raise _error("syntax.line_order", f"{line[0]}= cannot follow a= lines", number)
            raise _bad_line(line, number)
        name = line[2:].partition(":")[0]
        if not is_token(name):
            raise _error("syntax.attribute", f"a={name[:40]} is not a valid attribute name", number)
    raise AssertionError("_bad_run called on a valid run")  # pragma: no cover


def _parse_media_line(value: str, number: int) -> tuple[str, int, int | None, str, tuple[str, ...]]:
    parts = value.split(" ")
    if len(parts) < 4 or not all(parts):
        raise _error("syntax.media", "m= must be '<media> <port> <proto> <fmt> ...'", number, "m=")
    kind, port_text, proto = parts[0], parts[1], parts[2]
    port_digits, slash, count_text = port_text.partition("/")
    port = parse_int(port_digits, 0, 65535)
    count = parse_int(count_text, 1, 65535) if slash else None
    if (
        port is None
        or (slash and count is None)
        or str(port) != port_digits
        or (count is not None and str(count) != count_text)
    ):
        raise _error("syntax.media", f"m= port {port_text!r} is not a port number", number, "m=")
    if (kind not in _COMMON_MEDIA and not is_token(kind)) or (
        proto not in _COMMON_PROTOS and not all(is_token(p) for p in proto.split("/"))
    ):
        raise _error("syntax.media", "m= media type or proto is not a token", number, "m=")
    return kind, port, count, proto, tuple(parts[3:])


def parse(text: object, *, policy: SdpPolicy | None = None) -> SessionDescription:
    """Parse a session description (RFC 8866 syntax only) into the model.

    Args:
        text: the SDP, as ``str`` or UTF-8 ``bytes`` (anything else is refused with
            ``syntax.encoding``: the parameter is typed ``object`` so that the compiled
            build refuses it the same way).
        policy: supplies the limits ``max_bytes``, ``max_line_length`` and
            ``max_media_sections``; ``None`` for the defaults.

    Returns:
        The :class:`SessionDescription`; ``to_sdp()`` on it gives ``text`` back.

    Raises:
        SdpSyntaxError: the first syntax problem, with its line and rule id
            (``syntax.*`` or ``limit.*``). Nothing else is raised, whatever the input.

    Example::

        >>> d = parse("v=0\\r\\no=- 1 1 IN IP4 0.0.0.0\\r\\ns=-\\r\\nt=0 0\\r\\n")
        >>> d.origin.session_id, d.media
        ('1', ())
    """
    policy = DEFAULT_POLICY if policy is None else policy
    return _parse(_decode(text, policy), policy)


def _parse(text: str, policy: SdpPolicy) -> SessionDescription:
    if not text:
        raise SdpSyntaxError("syntax.empty", "the description is empty")
    if "\x00" in text:
        raise SdpSyntaxError("syntax.encoding", "the description contains a NUL character")
    lines, eol, final_eol = _split_lines(text)
    max_line = policy.max_line_length
    if len(text) > max_line and max(map(len, lines)) > max_line:
        for number, line in enumerate(lines, 1):
            if len(line) > max_line:
                raise _error(
                    "limit.line_length",
                    f"the line is {len(line)} characters; the limit is {max_line}",
                    number,
                )
    return _parse_lines(text, lines, eol, final_eol, policy)


def _bad_line(line: str, number: int) -> SdpSyntaxError:
    if not line:
        return _error("syntax.empty_line", "an empty line", number)
    if len(line) >= 2 and line[1] == "=" and line[0] not in _KNOWN_TYPES:
        return _error("syntax.unknown_type", f"{line[0]!r} is not an SDP line type", number)
    return _error("syntax.line_format", f"{line[:40]!r} is not '<type>=<value>'", number)


def _m_line_indices(text: str) -> list[int]:
    """Return the 0-based indices of the lines that start with ``m=``.

    ``str.find``/``str.count`` over the text (every line break is a LF once line endings
    were checked), each character visited once: linear, at C speed.
    """
    indices = []
    line = 0
    last = 0
    pos = text.find("\nm=")
    while pos >= 0:
        line += text.count("\n", last, pos + 1)
        indices.append(line)
        last = pos + 1
        pos = text.find("\nm=", last)
    return indices


def _parse_lines(
    text: str, lines: list[str], eol: str, final_eol: bool, policy: SdpPolicy
) -> SessionDescription:
    total = len(lines)
    head = lines[:3]
    for number, (letter, line) in enumerate(zip("vos", head, strict=False), 1):
        if not line.startswith(letter + "="):
            if len(line) < 2 or line[1] != "=" or line[0] not in _KNOWN_TYPES:
                raise _bad_line(line, number)
            raise _error("syntax.missing_line", f"line {number} must be {letter}=", number)
    if total < 3:
        raise _error("syntax.missing_line", "v=, o=, s= and t= lines are required", total)
    if head[0] != "v=0":
        raise _error("syntax.version", f"{head[0]!r}: the SDP version must be 0", 1, "v=")
    origin = _parse_origin(head[1][2:], 2)
    session_name = head[2][2:]
    if not session_name:
        raise _error("syntax.session_name", "s= must not be empty (use 's=-')", 3, "s=")

    # Where each m-section starts (and the end of the text): the attribute runs end there.
    m_starts = _m_line_indices(text)
    m_starts.append(total)
    session_lines: list[Line] = []
    session_attrs: tuple[str, ...] = ()
    rank = 2
    seen_t = False
    index = 3
    while index < total:
        line = lines[index]
        number = index + 1
        if len(line) < 2 or line[1] != "=":
            raise _bad_line(line, number)
        letter = line[0]
        if letter == "a":
            stop = m_starts[0]
            session_attrs = _attribute_run(lines, index, stop)
            index = stop
            break
        if letter == "m":
            break
        new_rank = _SESSION_RANK.get(letter)
        if new_rank is None:
            raise _bad_line(line, number)
        if new_rank < rank and not (letter == "t" and rank == 10):
            raise _error(
                "syntax.line_order", f"{letter}= cannot follow the lines before it", number
            )
        if new_rank == rank and letter in _SESSION_ONCE:
            raise _error("syntax.repeated_line", f"{letter}= may appear only once here", number)
        _check_line(letter, line[2:], number)
        seen_t = seen_t or letter == "t"
        session_lines.append(Line(letter, line[2:]))
        rank = new_rank
        index += 1
    if not seen_t:
        raise _error("syntax.missing_line", "a t= line is required", min(index + 1, total))

    media: list[MediaSection] = []
    max_media = policy.max_media_sections
    section = -1
    while index < total:
        section += 1
        m_number = index + 1
        kind, port, count, proto, formats = _parse_media_line(lines[index][2:], m_number)
        if len(media) == max_media:
            raise _error(
                "limit.media_sections", f"more than {max_media} m-sections", m_number, "m="
            )
        index += 1
        media_lines: list[Line] = []
        attrs: tuple[str, ...] = ()
        rank = 0
        while index < total:
            line = lines[index]
            if len(line) < 2 or line[1] != "=":
                raise _bad_line(line, index + 1)
            letter = line[0]
            if letter == "a":
                stop = m_starts[section + 1]
                attrs = _attribute_run(lines, index, stop)
                index = stop
                break
            if letter == "m":
                break
            new_rank = _MEDIA_RANK.get(letter)
            if new_rank is None:
                if letter in _KNOWN_TYPES:
                    raise _error(
                        "syntax.line_order",
                        f"{letter}= cannot appear in an m-section",
                        index + 1,
                    )
                raise _bad_line(line, index + 1)
            if new_rank < rank:
                raise _error(
                    "syntax.line_order",
                    f"{letter}= cannot follow the lines before it",
                    index + 1,
                )
            if new_rank == rank and letter in _MEDIA_ONCE:
                raise _error(
                    "syntax.repeated_line", f"{letter}= may appear only once here", index + 1
                )
            _check_line(letter, line[2:], index + 1)
            media_lines.append(Line(letter, line[2:]))
            rank = new_rank
            index += 1
        media.append(
            MediaSection(
                kind=kind, port=port, port_count=count, proto=proto, formats=formats,
                lines=tuple(media_lines), attribute_lines=attrs, line=m_number,
            )
        )  # fmt: skip
    return SessionDescription(
        origin=origin, session_name=session_name, lines=tuple(session_lines),
        attribute_lines=session_attrs, media=tuple(media), eol=eol, final_eol=final_eol,
    )  # fmt: skip
