"""Loading a :class:`RatePolicy` from plain data or TOML through cattrs, and back.

Errors name the dotted key path, the value and the rule: ``kinds.typing.limit.rate = -1:
must be > 0``. cattrs' detailed validation records the path of each failure in exception
notes (``AttributeValidationNote`` / ``IterableValidationNote``); validators raise
``_FieldError`` carrying the field; this module joins the two into one path.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any, Final

import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from ._policy import (
    SCOPES,
    KindLimit,
    LimitSpec,
    OnDeny,
    PolicyConfigError,
    RatePolicy,
    Scope,
    _FieldError,
)

__all__ = ["policy_from_toml", "structure_policy", "unstructure_policy"]


class _TypeMismatch(ValueError):
    """A value of the wrong type (a string where a number belongs, and so on)."""


def _float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _TypeMismatch("expected a number")
    return float(value)


def _int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _TypeMismatch("expected an integer")
    return value


def _on_deny(value: Any, _: Any) -> OnDeny:
    try:
        return OnDeny(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in OnDeny)
        raise _TypeMismatch(f"expected one of {choices}") from None


def _scope(value: Any, _: Any) -> str:
    if value not in SCOPES:
        raise _TypeMismatch(f"expected one of {', '.join(repr(s) for s in SCOPES)}")
    return str(value)


def _kinds(value: Any, _: Any) -> dict[str, KindLimit]:
    if not isinstance(value, Mapping):
        raise _TypeMismatch("expected a table of kinds")
    out: dict[str, KindLimit] = {}
    for name, entry in value.items():
        try:
            out[str(name)] = _CONVERTER.structure(entry, KindLimit)
        except Exception as exc:
            exc.add_note(f"@kind {name}")
            raise
    return out


def _limit(value: Any, _: Any) -> LimitSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _TypeMismatch("expected a table with rate and burst")
    return _CONVERTER.structure(value, LimitSpec)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(OnDeny, _on_deny)
    conv.register_structure_hook_func(lambda t: t == Mapping[str, KindLimit], _kinds)
    conv.register_structure_hook_func(lambda t: t == LimitSpec | None, _limit)
    conv.register_structure_hook_func(lambda t: t == Scope, _scope)
    conv.register_unstructure_hook(OnDeny, lambda member: member.value)
    return conv


_CONVERTER: Final = _make_converter()


def _path_of(exc: BaseException) -> tuple[list[str], BaseException]:
    """The key path recorded in cattrs' notes down to the innermost failure."""
    attributes: list[str] = []
    keys: list[str] = []
    for note in getattr(exc, "__notes__", ()):
        name = getattr(note, "name", None)
        if isinstance(name, str):
            attributes.append(name)  # cattrs: the attribute of the enclosing class
        elif isinstance(note, str) and note.startswith("@kind "):
            keys.append(note.removeprefix("@kind "))  # _kinds: the key inside ``kinds``
    parts = attributes + keys
    subs = getattr(exc, "exceptions", None)
    if subs:
        below, leaf = _path_of(subs[0])
        return parts + below, leaf
    return parts, exc


_MISSING: Final = object()


def _lookup(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def structure_policy(data: Mapping[str, Any]) -> RatePolicy:
    """Structure ``data`` into a :class:`RatePolicy`.

    Raises:
        PolicyConfigError: naming the key path, value and rule.
    """
    if not isinstance(data, Mapping):
        raise PolicyConfigError("", data, "expected a table")
    try:
        return _CONVERTER.structure(dict(data), RatePolicy)
    except Exception as exc:
        parts, leaf = _path_of(exc)
    if isinstance(leaf, ForbiddenExtraKeysError):
        parts.append(sorted(leaf.extra_fields)[0])
        message = "unknown key"
    elif isinstance(leaf, _FieldError):
        # a validator names its own field; a post-init check names a relative path
        parts.extend(leaf.field.split("."))
        message = leaf.message
    elif isinstance(leaf, KeyError):
        if not parts or parts[-1] != str(leaf.args[0]):
            parts.append(str(leaf.args[0]))
        message = "missing key"
    elif isinstance(leaf, _TypeMismatch):
        message = str(leaf)
    else:
        message = "expected a table"
    value = _lookup(data, parts)
    if value is _MISSING:
        value = leaf.value if isinstance(leaf, _FieldError) else None
    raise PolicyConfigError(".".join(parts), value, message)


def policy_from_toml(text: str) -> RatePolicy:
    """Parse TOML text and structure it (see :func:`structure_policy`).

    Raises:
        PolicyConfigError: with key ``<toml>`` when the text is not TOML.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyConfigError("<toml>", None, str(exc)) from None
    return structure_policy(data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def unstructure_policy(policy: RatePolicy) -> dict[str, Any]:
    """Plain, TOML-safe data for ``policy`` (``structure_policy`` reads it back)."""
    data = _CONVERTER.unstructure(policy, RatePolicy)
    data["kinds"] = {name: _CONVERTER.unstructure(k, KindLimit) for name, k in policy.kinds.items()}
    result: dict[str, Any] = _drop_none(data)
    return result
