"""Room actions: one table from a room request's type to what it does to a :class:`Room`.

Theory of operation
-------------------
Every room request other than ``join``, ``leave``, ``stats`` and the negotiation relay is
an *action* of a member on its room: it names its room, its sender is a member (the room
host resolved the sender's session to its participant before looking here), and it
moves the room's state through one :class:`~rtcsignal.core._room.Room` method, which
checks the permission table and everything else first and mutates last. So the whole
mapping is data: :data:`ROOM_ACTIONS` maps each request type to a function
``(room, actor, message, now, out)``, next to :data:`~rtcsignal.core._roompolicy.PERMISSIONS`
in spirit. A request type missing here is not a room action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from rtcsignal import protocol as p
from rtcsignal.protocol import ErrorCode

from ._errors import CoreError
from ._room import Room
from ._roompolicy import Outbox

__all__ = ["ROOM_ACTIONS", "RoomAction", "check_app_payload", "check_metadata"]

RoomAction = Callable[[Room, str, Any, float, Outbox], object]
"""``(room, actor participant id, request, now, outbox)``: apply one member's action."""


def _media(room: Room, actor: str, msg: p.MediaState, now: float, out: Outbox) -> None:
    room.media(actor, audio=msg.audio, video=msg.video, screen=msg.screen, hand=msg.hand, out=out)


def _mute(room: Room, actor: str, msg: p.Mute, now: float, out: Outbox) -> None:
    room.mute(actor, msg.target, audio=msg.audio, video=msg.video, out=out)


def _kick(room: Room, actor: str, msg: p.Kick, now: float, out: Outbox) -> None:
    room.kick(actor, msg.target, now, out, reason=msg.reason, ban=msg.ban, duration=msg.duration)


def _unban(room: Room, actor: str, msg: p.Unban, now: float, out: Outbox) -> None:
    room.unban(actor, msg.user, now, out)


def check_metadata(msg: p.UpdateMe) -> None:
    """Refuse ``update_me`` metadata over :data:`~rtcsignal.protocol.MAX_METADATA_BYTES`
    (checked before membership, like an ``app`` payload).

    Raises:
        CoreError: ``invalid_message`` naming the field and the limit.
    """
    if msg.metadata is None:
        return
    size = p.encoded_size(msg.metadata)
    if size > p.MAX_METADATA_BYTES:
        raise CoreError(
            ErrorCode.INVALID_MESSAGE,
            f"metadata of {size} bytes exceeds {p.MAX_METADATA_BYTES}",
            details={"field": "metadata", "limit": p.MAX_METADATA_BYTES},
        )


def _update_me(room: Room, actor: str, msg: p.UpdateMe, now: float, out: Outbox) -> None:
    room.update_me(actor, msg.name, msg.metadata, out)


def _transfer_host(room: Room, actor: str, msg: p.TransferHost, now: float, out: Outbox) -> None:
    room.transfer_host(actor, msg.target, now, out)


def _set_role(room: Room, actor: str, msg: p.SetRole, now: float, out: Outbox) -> None:
    room.set_role(actor, msg.target, p.Role(msg.role), now, out)


def _lock(room: Room, actor: str, msg: p.Lock, now: float, out: Outbox) -> None:
    room.lock(actor, msg.locked, out)


def _set_layout(room: Room, actor: str, msg: p.SetLayout, now: float, out: Outbox) -> None:
    room.set_layout(actor, msg.layout, out)


def _recording(room: Room, actor: str, msg: p.Recording, now: float, out: Outbox) -> None:
    room.record(actor, msg.action, now, out)


def _admit(room: Room, actor: str, msg: p.Admit, now: float, out: Outbox) -> None:
    room.admit(actor, msg.target, msg.allow, now, out)


def _chat(room: Room, actor: str, msg: p.Chat, now: float, out: Outbox) -> None:
    room.chat(actor, msg, out)


def _relay(room: Room, actor: str, msg: p.Reaction | p.Typing, now: float, out: Outbox) -> None:
    room.relay(actor, msg, out)


def check_app_payload(msg: p.App) -> None:
    """Refuse an ``app`` payload over :data:`~rtcsignal.protocol.MAX_APP_PAYLOAD_BYTES`
    (checked before membership: the size is the message's own fault).

    Raises:
        CoreError: ``invalid_message`` naming the field and the limit.
    """
    size = p.encoded_size(msg.payload)
    if size > p.MAX_APP_PAYLOAD_BYTES:
        raise CoreError(
            ErrorCode.INVALID_MESSAGE,
            f"app payload of {size} bytes exceeds {p.MAX_APP_PAYLOAD_BYTES}",
            details={"field": "payload", "limit": p.MAX_APP_PAYLOAD_BYTES},
        )


def _app(room: Room, actor: str, msg: p.App, now: float, out: Outbox) -> None:
    room.app(actor, msg, out)


ROOM_ACTIONS: Final[dict[type[p.RoomRequest], RoomAction]] = {
    p.MediaState: _media,
    p.Mute: _mute,
    p.Kick: _kick,
    p.Unban: _unban,
    p.UpdateMe: _update_me,
    p.TransferHost: _transfer_host,
    p.SetRole: _set_role,
    p.Lock: _lock,
    p.SetLayout: _set_layout,
    p.Recording: _recording,
    p.Admit: _admit,
    p.Chat: _chat,
    p.Reaction: _relay,
    p.Typing: _relay,
    p.App: _app,
}
"""Each room action's request type and what it does."""
