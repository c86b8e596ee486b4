"""The client's exceptions: one base class, a subclass per way a call can fail."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientClosed",
    "ClientError",
    "ConnectionLost",
    "RequestError",
    "RequestTimeout",
    "SendQueueFull",
]


class ClientError(Exception):
    """Base class of every exception :mod:`rtcsignal.client` raises."""


class RequestError(ClientError):
    """The server refused a request: its ``error`` reply, as an exception.

    Attributes:
        code: the stable error code (``room_full``, ``forbidden``, ``invalid_sdp`` ...;
            see :class:`rtcsignal.protocol.ErrorCode`).
        message: the server's human message.
        details: structured details (``rule``/``line``/``ref`` for SDP errors ...).
        retry_after: seconds to wait before retrying (``rate_limited``), else ``None``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after


class RequestTimeout(ClientError, TimeoutError):
    """No reply within the request's timeout. The server may still have applied it."""


class ConnectionLost(ClientError):
    """The request was sent, and its session ended before the reply came.

    The server may or may not have applied it. A dropped connection alone does not
    raise this: the client resumes the session and re-sends the unanswered request with
    its original ``id``, which the server answers with its first reply without applying
    it again. Only when the session cannot be resumed (its grace period is over, or the
    server restarted) do requests sent on it and unanswered fail with this.
    """


class ClientClosed(ClientError):
    """The client is closed (by :meth:`Client.aclose`, a fatal close code, or giving up
    reconnecting). ``code`` and ``reason`` say why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"client closed ({code}: {reason})")
        self.code = code
        self.reason = reason


class SendQueueFull(ClientError):
    """More messages are waiting to be sent than ``max_queued`` allows."""
