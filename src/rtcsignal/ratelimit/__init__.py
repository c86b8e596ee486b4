"""Rate limiting and abuse protection, pure: no I/O, no clock (``now`` is a parameter).

* :class:`Limiter`: a keyed GCRA limiter with bounded memory.
* :class:`RatePolicy`: every limit in one value (per connection, user, address, room and
  message kind; strikes; connection guards), loadable from a dict or TOML.
* :class:`InboundLimiter`: the check every inbound message passes first.
* :class:`ConnectionTracker`: the connection guards' bookkeeping for the runtime.

See ``docs/ratelimit.md`` for the algorithm, the defaults and their reasons.
"""

from __future__ import annotations

from ._inbound import CLOSE_CODE_MESSAGE_TOO_BIG as CLOSE_CODE_MESSAGE_TOO_BIG
from ._inbound import CLOSE_CODE_POLICY_VIOLATION as CLOSE_CODE_POLICY_VIOLATION
from ._inbound import InboundLimiter as InboundLimiter
from ._inbound import Verdict as Verdict
from ._limiter import ALLOWED as ALLOWED
from ._limiter import DEFAULT_MAX_KEYS as DEFAULT_MAX_KEYS
from ._limiter import RETRY_AFTER_RESOLUTION as RETRY_AFTER_RESOLUTION
from ._limiter import Decision as Decision
from ._limiter import Limiter as Limiter
from ._policy import DEFAULT_ADDRESS_LIMIT as DEFAULT_ADDRESS_LIMIT
from ._policy import DEFAULT_CONNECTION_LIMIT as DEFAULT_CONNECTION_LIMIT
from ._policy import DEFAULT_DEFAULT_KIND as DEFAULT_DEFAULT_KIND
from ._policy import DEFAULT_KINDS as DEFAULT_KINDS
from ._policy import DEFAULT_MAX_CONNECTIONS as DEFAULT_MAX_CONNECTIONS
from ._policy import DEFAULT_MAX_CONNECTIONS_PER_ADDRESS as DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
from ._policy import DEFAULT_MAX_CONNECTIONS_PER_USER as DEFAULT_MAX_CONNECTIONS_PER_USER
from ._policy import DEFAULT_MAX_QUEUED_BYTES as DEFAULT_MAX_QUEUED_BYTES
from ._policy import DEFAULT_ROOM_LIMIT as DEFAULT_ROOM_LIMIT
from ._policy import DEFAULT_STRIKE_WINDOW as DEFAULT_STRIKE_WINDOW
from ._policy import DEFAULT_STRIKES as DEFAULT_STRIKES
from ._policy import DEFAULT_USER_LIMIT as DEFAULT_USER_LIMIT
from ._policy import MOVED_GUARDS as MOVED_GUARDS
from ._policy import ConnectionGuards as ConnectionGuards
from ._policy import KindLimit as KindLimit
from ._policy import LimitSpec as LimitSpec
from ._policy import OnDeny as OnDeny
from ._policy import PolicyConfigError as PolicyConfigError
from ._policy import RatePolicy as RatePolicy
from ._policy import Scope as Scope
from ._tracker import ConnectionTracker as ConnectionTracker

__all__ = [
    "ALLOWED",
    "CLOSE_CODE_MESSAGE_TOO_BIG",
    "CLOSE_CODE_POLICY_VIOLATION",
    "DEFAULT_ADDRESS_LIMIT",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_DEFAULT_KIND",
    "DEFAULT_KINDS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_CONNECTIONS_PER_ADDRESS",
    "DEFAULT_MAX_CONNECTIONS_PER_USER",
    "DEFAULT_MAX_KEYS",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_ROOM_LIMIT",
    "DEFAULT_STRIKES",
    "DEFAULT_STRIKE_WINDOW",
    "DEFAULT_USER_LIMIT",
    "MOVED_GUARDS",
    "RETRY_AFTER_RESOLUTION",
    "ConnectionGuards",
    "ConnectionTracker",
    "Decision",
    "InboundLimiter",
    "KindLimit",
    "LimitSpec",
    "Limiter",
    "OnDeny",
    "PolicyConfigError",
    "RatePolicy",
    "Scope",
    "Verdict",
]
