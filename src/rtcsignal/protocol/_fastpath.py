"""The decoder's fast path for the relay's hot messages, with no behaviour of its own.

Theory of operation. msgspec checks a ``Meta(pattern=...)`` constraint with the regular
expression engine, once per constrained field: for a relayed candidate that was most of
the decode (room, peer id, candidate, ``sdp_mid``, ``username_fragment``). For the hot
message types (:data:`FAST_TAGS`) this module keeps a *twin* of each message struct: the
same fields, defaults, tag, renames and every other constraint, only without patterns.
:func:`fast_decode` decodes a frame into the twin, then checks each patterned field with
a cheap string test that *implies* the pattern (printable ASCII implies "no control
characters"; ASCII letters, digits, ``_`` and ``-`` of the right length imply an id
pattern); unknown patterns use the pattern itself. When everything passes, the real
message is built from the twin's values, which is what the strict decoder would have
returned. The tests and the construction are one small function per type, generated
from the type's own fields when this module loads (``_Twin.source``), so a field added
to a message is checked and carried without anyone editing this file.

Anything else returns ``None`` and the caller runs the strict decoder, which alone
produces every error: a frame whose tag is not found by the sniff, a twin decode that
fails for any reason, a value the cheap test cannot vouch for (non-ASCII text, say). So
the fast path can only ever say "accept, with this value" when the strict decoder would,
and every refusal, error code and message comes from the one strict path.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from typing import Any, Final

import msgspec

from ._messages import Answer, Candidate, ClientMessage, EndOfCandidates, Offer

__all__ = ["FAST_TAGS", "fast_decode"]

FAST_TAGS: Final = (Candidate, Offer, Answer, EndOfCandidates)
"""The message types on the relay's hot path (trickled candidates dominate)."""

_META_FIELDS: Final = (
    "gt",
    "ge",
    "lt",
    "le",
    "multiple_of",
    "max_length",
    "min_length",
    "tz",
    "title",
    "description",
    "examples",
    "extra_json_schema",
    "extra",
)

_PRINTABLE: Final = frozenset({r"^[^\x00-\x1f\x7f]*$", r"^[^\x00-\x1f\x7f-\x9f]*$"})
"""Patterns implied by printable ASCII (0x20-0x7e): ``isascii() and isprintable()``."""
_ID: Final = re.compile(r"\^\[A-Za-z0-9_-\]\{(\d+),(\d+)\}\$")
"""Id patterns ``^[A-Za-z0-9_-]{lo,hi}$``, implied by a length in range and an ASCII
string that is alphanumeric once ``_`` and ``-`` are removed."""


_ID_TEST: Final = 's.isascii() and (s.isalnum() or s.replace("_", "").replace("-", "").isalnum())'
_PRINTABLE_TEST: Final = "s.isascii() and s.isprintable()"


def _test(expr: str, pattern: str, regexes: dict[str, Any], ids: list[str]) -> str:
    """Python source of a test on the string ``expr`` that implies ``pattern``; for an id
    pattern, the length test alone, and ``expr`` joins ``ids`` for the character test."""
    found = _ID.fullmatch(pattern)
    if found is not None:
        low, high = found.groups()
        ids.append(expr)
        return f"({low} <= len({expr}) <= {high})"
    name = f"_re{len(regexes)}"
    regexes[name] = re.compile(pattern).search  # exactly what msgspec does
    return f"({name}({expr}) is not None)"


def _strip(kind: Any, patterns: list[str]) -> Any:
    """``kind`` without ``Meta(pattern=...)``; the patterns met go to ``patterns``."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        base, *metas = typing.get_args(kind)
        kept = []
        for meta in metas:
            if isinstance(meta, msgspec.Meta) and meta.pattern is not None:
                patterns.append(meta.pattern)
                args = {k: getattr(meta, k) for k in _META_FIELDS if getattr(meta, k) is not None}
                meta = msgspec.Meta(**args)
            kept.append(meta)
        return typing.Annotated[(_strip(base, patterns), *kept)]
    if origin is typing.Union or origin is types.UnionType:
        members = [_strip(arg, patterns) for arg in typing.get_args(kind)]
        return typing.Union[tuple(members)]  # noqa: UP007 - built at run time
    if typing.get_args(kind):
        raise TypeError(f"no fast twin for a container field type {kind!r}")
    return kind


class _Twin:
    """One message type's twin decoder and the generated function that checks the
    twin's patterned fields and builds the real message (``None`` when a test fails)."""

    __slots__ = ("json", "make", "source")

    def __init__(self, cls: type[msgspec.Struct]) -> None:
        config = cls.__struct_config__
        fields: list[Any] = []
        rename: dict[str, str] = {}
        body: list[str] = []
        ids: list[str] = []  # fields under an id pattern (their lengths tested one by one)
        printable: list[str] = []  # fields under a no-control-characters pattern
        regexes: dict[str, Any] = {}  # names the generated code may call: _re0, _re1...
        for field in msgspec.structs.fields(cls):
            found: list[str] = []
            kind = _strip(field.type, found)
            if field.default is not msgspec.NODEFAULT:
                fields.append((field.name, kind, field.default))
            elif field.default_factory is not msgspec.NODEFAULT:
                fields.append(
                    (field.name, kind, msgspec.field(default_factory=field.default_factory))
                )
            else:
                fields.append((field.name, kind))
            if field.encode_name != field.name:
                rename[field.name] = field.encode_name
            local = f"f_{field.name}"
            body.append(f"    {local} = v.{field.name}")
            for pattern in found:  # a str field, or a union with a str member
                if pattern in _PRINTABLE:
                    printable.append(local)
                    continue
                test = _test(local, pattern, regexes, ids)
                body.append(f"    if {local}.__class__ is str and not {test}:")
                body.append("        return None")
        # one test over the concatenation: each string passes iff their sum does
        for group, test in ((ids, _ID_TEST), (printable, _PRINTABLE_TEST)):
            if group:
                parts = " + ".join(f'({x} if {x}.__class__ is str else "")' for x in group)
                body.append(f"    s = {parts}")
                body.append(f"    if not ({test}):")
                body.append("        return None")
        twin = msgspec.defstruct(
            f"_Fast{cls.__name__}",
            fields,
            tag=config.tag,
            tag_field=config.tag_field,
            rename=rename or None,
            omit_defaults=config.omit_defaults,
            forbid_unknown_fields=config.forbid_unknown_fields,
            frozen=True,
            kw_only=True,
        )
        names = ", ".join(f"{f.name}=f_{f.name}" for f in msgspec.structs.fields(cls))
        self.source: Final = "\n".join(["def make(v):", *body, f"    return cls({names})", ""])
        namespace: dict[str, Any] = {"cls": cls, **regexes}
        exec(compile(self.source, f"<fast {cls.__name__}>", "exec"), namespace)
        self.make: Final[Callable[[Any], Any]] = namespace["make"]
        self.json: Final = msgspec.json.Decoder(twin)


def _twins() -> dict[str, _Twin]:
    out = {}
    for cls in FAST_TAGS:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        out[tag] = _Twin(cls)
    return out


_TWINS: Final = _twins()


def fast_decode(data: str) -> ClientMessage | None:
    """The message in the JSON text frame ``data`` when it is one of :data:`FAST_TAGS`
    and every patterned field passes its cheap test; ``None`` means "use the strict
    decoder" (never an error of its own)."""
    key = data.find('"type"')
    if key < 0:
        return None
    key += 6
    if data.startswith(':"', key):  # compact JSON (msgspec, JSON.stringify)
        start = key + 2
    elif data.startswith(': "', key):  # Python's json.dumps
        start = key + 3
    else:
        return None
    twin = _TWINS.get(data[start : data.find('"', start)])
    if twin is None:
        return None
    # A second "type" key needs no search here: msgspec checks the tag at every
    # occurrence, so the twin refuses a frame whose tags differ, as the strict decoder
    # does (tests/protocol/test_fastpath.py holds it to that).
    try:
        value = twin.json.decode(data)
    except Exception:  # any failure: the strict decoder says what it is
        return None
    message: ClientMessage | None = twin.make(value)
    return message
