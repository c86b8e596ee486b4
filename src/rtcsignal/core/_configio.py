"""Structuring :class:`ServerConfig` from plain data with cattrs, with errors that name
the offending key and value (the key-path machinery is shared with the rate-limit
policy loader)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Final

import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from rtcsignal.protocol import UsageError
from rtcsignal.ratelimit._config import _MISSING, _lookup, _path_of

from ._config import ServerConfig

__all__ = ["ServerConfigError", "structure_config"]

_VALIDATOR_NAME: Final = re.compile(r"^'([a-z_]+)' must be ")
_CONVERTER: Final = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


class ServerConfigError(UsageError):
    """A server setting is unknown or invalid.

    Attributes:
        key: the dotted path of the offending setting (``default_room.capacity``).
        value: the offending value as given.
        message: what is wrong with it.
    """

    def __init__(self, key: str, value: object, message: str) -> None:
        shown = value.value if isinstance(value, enum.Enum) else value
        super().__init__(f"server config: {key or '<root>'} = {shown!r}: {message}")
        self.key = key
        self.value = value
        self.message = message


def structure_config(data: Mapping[str, Any]) -> ServerConfig:
    """Structure ``data`` into a :class:`ServerConfig`.

    Raises:
        ServerConfigError: naming the key path, the value and the rule.
    """
    if not isinstance(data, Mapping):
        raise ServerConfigError("", data, "expected a table")
    try:
        return _CONVERTER.structure(dict(data), ServerConfig)
    except Exception as exc:
        parts, leaf = _path_of(exc)
    if isinstance(leaf, ForbiddenExtraKeysError):
        parts.append(sorted(leaf.extra_fields)[0])
        message = "unknown key"
    elif isinstance(leaf, KeyError):
        message = "missing key"
    else:
        message = str(leaf) or type(leaf).__name__
        named = _VALIDATOR_NAME.match(message)
        if named:  # attrs validators name the field in their message: 'capacity' must be ...
            parts.append(named.group(1))
    value = _lookup(data, parts)
    raise ServerConfigError(".".join(parts), None if value is _MISSING else value, message)
