"""The sans-I/O core: rooms, calls, sessions and negotiation relay, as pure state machines.

Feed it frames and ``now``; it returns effects. See ``docs/architecture.md``.
"""

from __future__ import annotations

from . import events as events
from . import seam as seam
from ._call import CallBook as CallBook
from ._call import CallError as CallError
from ._call import CallRecord as CallRecord
from ._call import CallState as CallState
from ._calls import call_room_id as call_room_id
from ._config import ServerConfig as ServerConfig
from ._config import ServerConfigError as ServerConfigError
from ._effects import Close as Close
from ._effects import Effect as Effect
from ._effects import Send as Send
from ._errors import CoreError as CoreError
from ._host import RoomPolicyHook as RoomPolicyHook
from ._identity import Identity as Identity
from ._negotiation import NegState as NegState
from ._roompolicy import PERMISSIONS as PERMISSIONS
from ._roompolicy import DuplicatePolicy as DuplicatePolicy
from ._roompolicy import JoinPolicy as JoinPolicy
from ._roompolicy import RoomPolicy as RoomPolicy
from ._server import Seam as Seam
from ._server import Server as Server
from ._stats import ServerStats as ServerStats
from ._validation import NegotiationValidator as NegotiationValidator
from ._validation import SdpValidator as SdpValidator

__all__ = [
    "PERMISSIONS",
    "CallBook",
    "CallError",
    "CallRecord",
    "CallState",
    "Close",
    "CoreError",
    "DuplicatePolicy",
    "Effect",
    "Identity",
    "JoinPolicy",
    "NegState",
    "NegotiationValidator",
    "RoomPolicy",
    "RoomPolicyHook",
    "SdpValidator",
    "Seam",
    "Send",
    "Server",
    "ServerConfig",
    "ServerConfigError",
    "ServerStats",
    "call_room_id",
    "events",
    "seam",
]
