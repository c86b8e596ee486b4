"""The core's error type: a refusal of one request, with the reply to send.

A :class:`CoreError` is always the *peer's* problem (a request the rules refuse: a
:class:`~rtcsignal.protocol.PeerError`); it is
caught in exactly one place, :meth:`rtcsignal.core.Server.receive`, and becomes one
``error`` reply. State is never changed before a :class:`CoreError` is raised: handlers
check everything first, then mutate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtcsignal.protocol import ErrorCode, PeerError

__all__ = ["CoreError"]


class CoreError(PeerError):
    """A request refused by the core's rules.

    Attributes:
        code: the stable wire error code.
        message: a human sentence naming the thing and the state.
        details: optional machine-readable details (rule ids, limits).
        retry_after: for ``rate_limited``: seconds to wait.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, details=details)
        self.retry_after = retry_after
