"""Who is on a connection: supplied by the adapter's authentication, never by the client."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from rtcsignal.protocol import Role

__all__ = ["Identity"]


def _grants(value: Mapping[str, Role | str]) -> Mapping[str, Role]:
    return {room: Role(role) for room, role in value.items()}


@attrs.frozen(kw_only=True)
class Identity:
    """An authenticated identity.

    Attributes:
        user: the user id every participant and call refers to. The client's own words
            never set it.
        name: a default display name (a ``join`` may give another).
        grants: roles granted per room id (``"*"`` for every room), e.g. a token minted
            for the host of ``standup``: ``{"standup": Role.HOST}``. A grant also counts
            as an invitation and lets its holder past a lock (moderator and host) or a
            lobby (moderator and host).
        address: the remote address, for per-address limits and logs.
        hidden: joins every room *hidden* (a recorder, a transcription bot): ordinary
            members are not told of it and do not see it, it does not count toward a
            room's capacity and never becomes host; hosts and moderators see it
            marked ``hidden``. It receives the room's events and may be addressed.
        can_update_metadata: whether ``update_me`` (display name and metadata) is
            allowed; ``None`` (the default): by role, on for participants and above,
            off for guests.
    """

    user: str = attrs.field(validator=attrs.validators.min_len(1))
    name: str | None = None
    grants: Mapping[str, Role] = attrs.field(factory=dict, converter=_grants)
    address: str | None = None
    hidden: bool = False
    can_update_metadata: bool | None = None

    def grant_for(self, room: str) -> Role | None:
        """The role granted in ``room`` (a room-specific grant wins over ``"*"``)."""
        return self.grants.get(room) or self.grants.get("*")
