"""Frame codecs: JSON text frames and MessagePack binary frames, both always supported.

The frame's kind picks the codec: a text frame (``str``) is JSON, a binary frame
(``bytes``) is MessagePack. A connection's replies use the codec of its ``hello``.

:func:`decode_client` never raises anything but :class:`ProtocolError`: malformed bytes,
deep nesting, wrong types and unknown tags all become a typed error with a stable code,
and the request ``id`` is recovered where the frame allows it.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from typing import Any, Final, NoReturn

import msgspec

from ._errors import CloseCode, ErrorCode, ProtocolError
from ._fastpath import fast_decode
from ._limits import MAX_FRAME_BYTES
from ._messages import App, ClientMessage, Message, ServerMessage, Stats
from ._types import IdOnly

__all__ = ["Format", "decode_client", "decode_server", "encode", "frame_format"]


class Format(enum.Enum):
    """A frame encoding."""

    JSON = "json"
    """UTF-8 JSON in WebSocket text frames."""
    MSGPACK = "msgpack"
    """MessagePack in WebSocket binary frames."""


_CLIENT_JSON: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
_CLIENT_MSGPACK: msgspec.msgpack.Decoder[ClientMessage] = msgspec.msgpack.Decoder(ClientMessage)
_SERVER_JSON: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)
_SERVER_MSGPACK: msgspec.msgpack.Decoder[ServerMessage] = msgspec.msgpack.Decoder(ServerMessage)
_ID_JSON = msgspec.json.Decoder(IdOnly)
_ID_MSGPACK = msgspec.msgpack.Decoder(IdOnly)
_ENCODE_JSON = msgspec.json.Encoder().encode
_ENCODE_MSGPACK = msgspec.msgpack.Encoder().encode
_PATH = re.compile(r" - at `(\$[^`]{0,200})`$")
# msgspec's wording for an absent field: the path (when nested) names its object only
_MISSING = re.compile(r"^Object missing required field `([^`]{1,200})`")


def frame_format(data: bytes | str) -> Format:
    """Return the codec of a frame: JSON for text (``str``), MessagePack for ``bytes``."""
    return Format.JSON if isinstance(data, str) else Format.MSGPACK


def encode(message: Message, fmt: Format = Format.JSON) -> bytes:
    """Encode a message in ``fmt``. JSON output is UTF-8, to be sent as a text frame."""
    return _ENCODE_JSON(message) if fmt is Format.JSON else _ENCODE_MSGPACK(message)


def encoder(fmt: Format) -> Callable[[Message], bytes]:
    """Returns: the function :func:`encode` calls for ``fmt`` (for callers that encode
    in one codec many times)."""
    return _ENCODE_JSON if fmt is Format.JSON else _ENCODE_MSGPACK


def _frame_too_large(data: bytes | str, limit: int) -> bool:
    n = len(data)
    if n > limit:
        return True
    # A str's UTF-8 form is at most 4 bytes per character: measure only when it could exceed.
    return isinstance(data, str) and n * 4 > limit and len(data.encode("utf-8", "replace")) > limit


def _recover_id(data: bytes | str) -> int | str | None:
    try:
        if isinstance(data, str):
            return _ID_JSON.decode(data).id
        return _ID_MSGPACK.decode(data).id
    except Exception:  # the frame is broken beyond recovering an id
        return None


def _validation_error(exc: msgspec.ValidationError, data: bytes | str) -> ProtocolError:
    text = str(exc)
    match = _PATH.search(text)
    path = match.group(1) if match else "$"
    request_id = _recover_id(data)
    if path == "$.type" and text.startswith("Invalid value"):
        return ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type: {text.removesuffix(match.group(0) if match else '')}",
            request_id=request_id,
            details={"field": "type"},
        )
    field = path.removeprefix("$.") if path != "$" else None
    missing = _MISSING.match(text)
    if missing is not None:  # name the absent field itself, under its object's path
        field = missing.group(1) if field is None else f"{field}.{missing.group(1)}"
    return ProtocolError(
        ErrorCode.INVALID_MESSAGE,
        f"invalid message: {text}",
        request_id=request_id,
        details={"field": field},
    )


_FREE_VALUES: Final = {App: "payload", Stats: "report"}
"""Client messages with free-form values (any JSON value; a stats report's numbers)."""


_JSON_SCALARS: Final = (str, int, bool, type(None))


def _refuse_non_json(msg: App | Stats) -> None:
    """A free value must be a JSON value, whatever the frame's format. MessagePack also
    carries NaN and infinity, non-string map keys, binary, timestamps and extension types:
    a relayed ``app`` payload would reach a JSON peer changed (``null``, ``"1"``, base64) or
    could not be encoded for it at all, and a stats value would poison a metric. Refuse
    them at decode with the path of the first one (``payload.points[1][0]``), as a bad
    type is."""
    name = _FREE_VALUES[type(msg)]
    stack: list[tuple[str, Any]] = [(name, getattr(msg, name))]
    while stack:
        path, value = stack.pop()
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                _not_json(
                    msg, path, f"{value!r} is not a finite number (JSON has no NaN or infinity)"
                )
        elif kind is list:
            items: list[Any] = value  # typed, so that the compiled build (mypyc) can iterate
            stack.extend([(f"{path}[{i}]", items[i]) for i in range(len(items) - 1, -1, -1)])
        elif kind is dict:
            mapping: dict[Any, Any] = value
            for key in mapping:
                if type(key) is not str:
                    _not_json(msg, path, f"map key {key!r} is not a string (JSON object keys are)")
            pairs = list(mapping.items())
            pairs.reverse()
            stack.extend([(f"{path}.{k}", v) for k, v in pairs])
        elif kind not in _JSON_SCALARS:
            _not_json(msg, path, f"a MessagePack {kind.__name__} is not a JSON value")


def _not_json(msg: App | Stats, path: str, why: str) -> NoReturn:
    raise ProtocolError(
        ErrorCode.INVALID_MESSAGE,
        f"invalid message: {why} - at `$.{path}`",
        request_id=msg.id,
        details={"field": path},
    )


def decode_client(data: bytes | str, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> ClientMessage:
    """Decode one client frame.

    Args:
        data: a text frame (``str``, JSON) or a binary frame (``bytes``, MessagePack).
        max_frame_bytes: frames longer than this are refused before decoding.

    Returns:
        The validated client message.

    Raises:
        ProtocolError: with ``frame_too_large`` (and close code 1009), ``malformed_frame``,
            ``unknown_type`` or ``invalid_message``; never any other exception.
    """
    n = len(data)  # the common frame is far below the limit even at 4 bytes per character
    if (n > max_frame_bytes or n * 4 > max_frame_bytes) and _frame_too_large(data, max_frame_bytes):
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"frame of {len(data)} units exceeds the limit of {max_frame_bytes} bytes",
            details={"limit": max_frame_bytes},
            close=CloseCode.MESSAGE_TOO_BIG,
        )
    try:
        if isinstance(data, str):
            fast = fast_decode(data)  # the hot relay messages, or None: see _fastpath
            if fast is not None:
                return fast
            return _CLIENT_JSON.decode(data)  # JSON has no NaN or infinity (1e999 is refused)
        msg = _CLIENT_MSGPACK.decode(data)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, data) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"malformed frame: {exc}") from None
    except RecursionError:
        raise ProtocolError(
            ErrorCode.MALFORMED_FRAME, "malformed frame: nested too deeply"
        ) from None
    except Exception as exc:  # any other decoder failure is still the peer's bad frame
        raise ProtocolError(
            ErrorCode.MALFORMED_FRAME, f"malformed frame: {type(exc).__name__}"
        ) from None
    if isinstance(msg, App | Stats):
        _refuse_non_json(msg)
    return msg


def decode_server(data: bytes | str) -> ServerMessage:
    """Decode one server frame (for clients). Raises :class:`ProtocolError` only."""
    try:
        if isinstance(data, str):
            return _SERVER_JSON.decode(data)
        return _SERVER_MSGPACK.decode(data)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, data) from None
    except Exception as exc:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"malformed frame: {exc}") from None


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` encoded as JSON (used to bound application payloads)."""
    return len(_ENCODE_JSON(value))
