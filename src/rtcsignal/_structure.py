"""Structuring configuration from plain data, with errors that name the bad key.

Theory of operation
-------------------
Every configuration value of rtcsignal (the core's :class:`~rtcsignal.core.ServerConfig`,
the rate-limit :class:`~rtcsignal.ratelimit.RatePolicy`, the runtime's settings sections)
is an attrs class structured from parsed TOML or JSON through cattrs, and this is the one
place that does it. cattrs' detailed validation records where each failure happened in
exception notes (``AttributeValidationNote`` per attribute; a table keyed by free-form
names adds its own ``@key <name>`` note); :func:`structure` follows the notes down to
the innermost failure, joins them into a dotted path (``kinds.typing.limit.rate``),
looks the offending value up in the input, and raises the caller's error with the path,
the value and one sentence.

Validators say what is wrong by raising :class:`FieldError` (which names its field, or a
dotted path relative to the class for checks across fields) or :class:`TypeMismatch`;
an attrs validator's own message (``'capacity' must be >= 1``) names its field too.

This module is a leaf: it imports nothing of rtcsignal, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import cattrs
from cattrs.errors import ForbiddenExtraKeysError

__all__ = [
    "MISSING",
    "FieldError",
    "TypeMismatch",
    "key_note",
    "lookup",
    "path_of",
    "strict_converter",
    "structure",
]

T = TypeVar("T")

MISSING: Final = object()
"""What :func:`lookup` returns for a path that is not in the data."""

_KEY_NOTE: Final = "@key "
_VALIDATOR_NAME: Final = re.compile(r"^'([a-z_]+)' must be ")


class TypeMismatch(ValueError):
    """A value of the wrong type (a string where a number belongs, and so on); its
    message is the sentence shown to the user."""


class FieldError(ValueError):
    """A validator's complaint about one field (the loader prefixes the path).

    Attributes:
        field: the field's name, or a dotted path relative to the validated class.
        value: the offending value.
        message: what is wrong with it.
    """

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(f"{field} = {value!r}: {message}")
        self.field = field
        self.value = value
        self.message = message


def key_note(name: object) -> str:
    """The note to add to an exception raised while structuring the entry ``name`` of a
    free-form table, so that :func:`path_of` puts the key in the path."""
    return f"{_KEY_NOTE}{name}"


def path_of(exc: BaseException) -> tuple[list[str], BaseException]:
    """Returns: the key path recorded in ``exc``'s notes down to the innermost failure,
    and that failure."""
    attributes: list[str] = []
    keys: list[str] = []
    for note in getattr(exc, "__notes__", ()):
        name = getattr(note, "name", None)
        if isinstance(name, str):
            attributes.append(name)  # cattrs: the attribute of the enclosing class
        elif isinstance(note, str) and note.startswith(_KEY_NOTE):
            keys.append(note.removeprefix(_KEY_NOTE))
    parts = attributes + keys
    subs = getattr(exc, "exceptions", None)
    if subs:
        below, leaf = path_of(subs[0])
        return parts + below, leaf
    return parts, exc


def lookup(data: Any, parts: list[str]) -> Any:
    """Returns: the value at ``parts`` inside nested mappings, or :data:`MISSING`."""
    for part in parts:
        if not isinstance(data, Mapping) or part not in data:
            return MISSING
        data = data[part]
    return data


def _float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeMismatch("expected a number")
    return float(value)


def _int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeMismatch("expected an integer")
    return value


def strict_converter(*, numbers: bool = True) -> cattrs.Converter:
    """A converter that refuses unknown keys and records where each failure happened;
    with ``numbers``, numbers must be numbers (``"5"`` and ``true`` are refused)."""
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    if numbers:
        conv.register_structure_hook(float, _float)
        conv.register_structure_hook(int, _int)
    return conv


def _message(
    leaf: BaseException, parts: list[str], fallback: Callable[[BaseException], str]
) -> str:
    if isinstance(leaf, ForbiddenExtraKeysError):
        parts.append(sorted(leaf.extra_fields)[0])
        return "unknown key"
    if isinstance(leaf, FieldError):
        # a validator names its own field; a check across fields names a relative path
        parts.extend(leaf.field.split("."))
        return leaf.message
    if isinstance(leaf, KeyError):
        if not parts or parts[-1] != str(leaf.args[0]):
            parts.append(str(leaf.args[0]))
        return "missing key"
    if isinstance(leaf, TypeMismatch):
        return str(leaf)
    message = str(leaf)
    named = _VALIDATOR_NAME.match(message)
    if named:  # attrs validators name the field in their message: 'capacity' must be ...
        parts.append(named.group(1))
        return message
    return fallback(leaf)


def structure(
    converter: cattrs.Converter,
    data: Mapping[str, Any],
    cls: type[T],
    error: Callable[[str, object, str], Exception],
    *,
    fallback: Callable[[BaseException], str] = lambda leaf: str(leaf) or type(leaf).__name__,
) -> T:
    """Structure ``data`` into ``cls``.

    Args:
        converter: usually a :func:`strict_converter` with the caller's hooks.
        data: parsed TOML or JSON.
        cls: the attrs class to build.
        error: builds the exception to raise from ``(dotted key, value, message)``.
        fallback: the message for a failure no rule above explains.

    Raises:
        The exception ``error`` builds, naming the key path (``""`` for the root), the
        offending value (``None`` when it is missing) and what is wrong.
    """
    if not isinstance(data, Mapping):
        raise error("", data, "expected a table")
    try:
        return converter.structure(dict(data), cls)
    except Exception as exc:
        parts, leaf = path_of(exc)
    message = _message(leaf, parts, fallback)
    value = lookup(data, parts)
    if value is MISSING:
        value = leaf.value if isinstance(leaf, FieldError) else None
    raise error(".".join(parts), value, message)
