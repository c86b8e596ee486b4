"""The admin API: service code drives rooms and calls through the running runtime.

Theory of operation
-------------------
``runtime.admin`` is how the service that embeds rtcsignal acts on its own: close a room,
remove a participant, end a call, change a room's policy or invite list, send a
server-originated message, list rooms and members. Every call goes through the core as
an input like a client's frame, and the effects it returns (``removed``,
``participant_left``, ``call_updated`` ...) go to the connections at once, exactly as a
frame's would; calling ``runtime.server.close_room()`` directly would return those
frames to a caller that never sends them.

The methods are coroutines, safe to call from any task of the service's event loop: the
core is a synchronous machine and each call runs to completion between two awaits.
Misuse (an unknown room, participant or call, a bad policy) raises
:class:`~rtcsignal.protocol.UsageError` and changes nothing.

In a cluster, a call for a room another instance owns is routed there like a client's
request (:class:`~rtcsignal.core.cluster.AdminPending`); the coroutine waits for the
owner's outcome (:class:`~rtcsignal.core.cluster.AdminAnswer`) and raises its refusal as
``UsageError``, exactly as one instance would, or
:class:`~rtcsignal.protocol.BackplaneUnavailable` when no answer came within
``request_timeout`` (the call may or may not have been applied). The read views
:meth:`Admin.room` and :meth:`Admin.rooms` show the rooms this instance owns;
:meth:`Admin.find_room` also finds a room another instance owns, as its owner last wrote
it to the backplane.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import anyio
import msgspec

from rtcsignal import protocol as p
from rtcsignal.backplane import Backplane
from rtcsignal.core import Effect, RoomPolicy, Server
from rtcsignal.core.cluster import AdminAnswer, AdminPending, RoomState, decode_state
from rtcsignal.protocol import ErrorCode

__all__ = ["Admin", "RoomInfo"]


class RoomInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A room as the application sees it.

    Attributes:
        id: the room id.
        policy: its policy.
        host: the host's participant id (``None`` while empty).
        participants: every member with its role, presence state and media flags.
        lobby: the lobby entries, in arrival order.
        locked / recording: the room's state.
        call: the call this room carries, if any.
    """

    id: str
    policy: Any
    host: str | None
    participants: tuple[p.ParticipantInfo, ...]
    lobby: tuple[p.LobbyEntry, ...]
    locked: bool
    recording: str
    call: str | None


class Admin:
    """The admin API of one :class:`~rtcsignal.runtime.Runtime` (``runtime.admin``).
    See the module docstring.

    Args:
        server: the runtime's core.
        run: carries out effects the way the runtime carries out a frame's (sends,
            closes, observers, the timer).
        clock: the runtime's monotonic clock.
    """

    __slots__ = ("_backplane", "_clock", "_run", "_server", "_waiting")

    def __init__(
        self,
        server: Server,
        run: Callable[[list[Effect]], None],
        clock: Callable[[], float],
        backplane: Backplane | None = None,
    ) -> None:
        self._server = server
        self._run = run
        self._clock = clock
        self._backplane = backplane
        self._waiting: dict[int, list[Any]] = {}  # ticket -> [event, answer]

    def _now(self) -> float:
        return self._clock()

    async def _call(self, effects: list[Effect]) -> None:
        """Carry out a core call's effects; when the call went to another instance, wait
        for its outcome and raise a refusal as one instance would."""
        ticket = next((e.ticket for e in effects if type(e) is AdminPending), None)
        if ticket is None:
            self._run(effects)
            return
        waiter: list[Any] = [anyio.Event(), None]
        self._waiting[ticket] = waiter
        try:
            self._run(effects)
            await waiter[0].wait()  # the core answers every ticket by request_timeout
        finally:
            self._waiting.pop(ticket, None)
        answer: AdminAnswer = waiter[1]
        refused = answer.refused
        if refused is None:
            return
        if refused.code is ErrorCode.BACKPLANE_UNAVAILABLE:
            raise p.BackplaneUnavailable(refused.message)
        raise p.UsageError(refused.message)

    def answered(self, answer: AdminAnswer) -> None:
        """The outcome of a call routed to another instance (from the cluster link)."""
        waiter = self._waiting.get(answer.ticket)
        if waiter is not None:
            waiter[1] = answer
            waiter[0].set()

    async def create_room(self, room: str, policy: RoomPolicy | None = None) -> None:
        """Create ``room`` with ``policy`` (default: the server config's ``default_room``).

        Raises:
            UsageError: the room exists; msgspec.ValidationError: a malformed id.
        """
        server = self._server
        await self._call(
            server.create_room(room, policy or server.config.default_room, self._now())
        )

    async def close_room(self, room: str) -> None:
        """Close ``room``: every member and lobby entry gets ``removed`` (``room_closed``).
        Closing a room that does not exist does nothing."""
        await self._call(self._server.close_room(room, self._now()))

    async def remove_participant(
        self, room: str, participant: str, *, message: str | None = None
    ) -> None:
        """Remove a member (``removed``, reason ``kicked``, with ``message``) or a lobby
        entry (reason ``denied``); the others get ``participant_left``.

        Raises:
            UsageError: no such room or participant.
        """
        server = self._server
        await self._call(server.remove_participant(room, participant, self._now(), message=message))

    async def end_call(self, call: str, *, reason: str = "hangup") -> None:
        """End ``call`` for everyone (``call_updated``, ended with ``reason``: ``hangup``
        or ``failed``).

        Raises:
            UsageError: no such call, or another reason.
        """
        await self._call(self._server.end_call(call, self._now(), reason=reason))

    async def update_room(self, room: str, policy: RoomPolicy) -> None:
        """Give ``room`` a new policy; members stay, the next joins obey it.

        Raises:
            UsageError: no such room, or the policy names another call.
        """
        await self._call(self._server.update_room(room, policy, self._now()))

    async def invite(
        self, room: str, *, users: Iterable[str] = (), tokens: Iterable[str] = ()
    ) -> None:
        """Add ``users`` and invite ``tokens`` to ``room``'s invite list (an
        ``invite``-only room admits them; a ``lobby`` room lets the users past its lobby).

        Raises:
            UsageError: no such room.
        """
        server = self._server
        await self._call(server.invite(room, self._now(), users=users, tokens=tokens))

    async def send(
        self, room: str, app_type: str, payload: Any = None, *, to: str | None = None
    ) -> None:
        """Send a server-originated ``app`` message (no ``from``) into ``room``, or to
        its member ``to``.

        Raises:
            UsageError: no such room or member, a malformed ``app_type``, or a payload
                over :data:`~rtcsignal.protocol.MAX_APP_PAYLOAD_BYTES`.
        """
        await self._call(self._server.say(room, app_type, payload, self._now(), to=to))

    def rooms(self) -> list[RoomInfo]:
        """Every room, with its members and lobby (a snapshot: later changes do not
        show in it). In a cluster: the rooms this instance owns."""
        server = self._server
        found = [self.room(room_id) for room_id in server.room_ids()]
        return [info for info in found if info is not None]

    async def find_room(self, room: str) -> RoomInfo | None:
        """Room ``room`` wherever it lives: this instance's (:meth:`room`), else, in a
        cluster, as the instance that owns it last wrote it to the backplane (written on
        every change of membership, roles, lobby, locks and settings), or ``None``."""
        info = self.room(room)
        if info is not None or self._backplane is None:
            return info
        data = await self._backplane.read_state(room)
        if data is None:
            return None
        state = decode_state(data)
        return None if state.policy is None else _info(state)

    def room(self, room: str) -> RoomInfo | None:
        """Room ``room`` (a snapshot), or ``None``. In a cluster: only a room this
        instance owns (:meth:`find_room` finds the others)."""
        live = self._server.room(room)
        if live is None:
            return None
        return RoomInfo(
            id=live.id,
            policy=live.policy,
            host=live.host,
            participants=tuple(m.info() for m in live.participants.values()),
            lobby=live.lobby_entries(),
            locked=live.locked,
            recording=live.recording,
            call=live.policy.call,
        )


def _info(state: RoomState) -> RoomInfo:
    policy: Any = state.policy
    return RoomInfo(
        id=state.key,
        policy=policy,
        host=state.host,
        participants=state.participants,
        lobby=state.lobby,
        locked=state.locked,
        recording=state.recording,
        call=policy.call,
    )
