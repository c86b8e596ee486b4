"""Structuring :class:`ServerConfig` from plain data with cattrs, with errors that name
the offending key and value."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import cattrs

from ._config import ServerConfig

__all__ = ["structure_config"]

_CONVERTER = cattrs.Converter(forbid_extra_keys=True)
_CONVERTER.register_structure_hook(frozenset[str], lambda v, _: frozenset(str(x) for x in v))


def _first_leaf(exc: BaseException, path: str) -> tuple[str, BaseException]:
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        for sub in exc.exceptions:
            notes = [n for n in getattr(sub, "__notes__", []) if isinstance(n, str)]
            name = ""
            for note in notes:
                if "attribute" in note or "key" in note:
                    name = note.split("@ attribute", 1)[-1].strip() if "@ attribute" in note else ""
            for attr_note in getattr(sub, "__notes__", []):
                label = getattr(attr_note, "name", None)
                if label is not None:
                    name = str(label)
            child = f"{path}.{name}" if path and name else (name or path)
            return _first_leaf(sub, child)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        keys = ", ".join(sorted(exc.extra_fields))
        return (f"{path}.{keys}" if path else keys), exc
    return path, exc


def structure_config(data: Mapping[str, Any]) -> ServerConfig:
    """Structure ``data`` into a :class:`ServerConfig` or raise ``ValueError`` naming
    the key and the value."""
    try:
        return _CONVERTER.structure(dict(data), ServerConfig)
    except Exception as exc:
        key, leaf = _first_leaf(exc, "")
        value: Any = data
        for part in key.split(".") if key else ():
            value = value.get(part, "<missing>") if isinstance(value, Mapping) else value
        kind = "unknown key" if isinstance(leaf, cattrs.ForbiddenExtraKeysError) else "bad value"
        shown = value.value if isinstance(value, enum.Enum) else value
        raise ValueError(f"server config: {kind} {key or '<root>'!s} = {shown!r}: {leaf}") from None
