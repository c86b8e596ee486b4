"""One connection's outbound queue: ordered, bounded by bytes, never blocking the core.

Theory of operation
-------------------
The core returns effects synchronously; the runtime must hand them over without awaiting
("join before await"), so :meth:`Outbound.push` is synchronous and never blocks. A writer
task drains the queue into the socket; it exists only while there is something to write
(an idle connection holds no writer task and no event, which keeps memory per connection
low). If the socket does not drain (a reader that does not read: TCP back-pressure stops
the writer), the queue grows; past ``limit`` bytes the connection is *aborted* (pending
frames dropped, close 4008) instead of letting memory grow. A normal close (:meth:`close`)
keeps its place in the order: frames queued before it are still written, then the close.
"""

from __future__ import annotations

from typing import Final

__all__ = ["Frame", "Outbound"]

Frame = tuple[bytes, bool]
"""An outbound frame: the payload and whether it is a text frame."""

_OPEN: Final = 0
_CLOSING: Final = 1  # a close is queued after the pending frames
_ABORTED: Final = 2  # pending frames dropped (slow consumer, cancellation)


class Outbound:
    """The bounded, ordered queue between the runtime and one connection's writer.

    Args:
        limit: the most bytes that may wait in the queue.
    """

    __slots__ = ("_frames", "_state", "close_code", "close_reason", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._frames: list[Frame] = []
        self._state = _OPEN
        self.close_code: int | None = None
        self.close_reason = ""

    @property
    def open(self) -> bool:
        """Whether frames are still accepted."""
        return self._state == _OPEN

    @property
    def pending(self) -> bool:
        """Whether frames wait to be taken."""
        return bool(self._frames)

    def push(self, data: bytes, text: bool) -> bool:
        """Queue one frame. Returns ``False`` (and queues nothing) when the queue is not
        open or the frame would take it over ``limit``: the caller aborts the connection."""
        if self._state != _OPEN:
            return False
        size = self.size + len(data)
        if size > self.limit:
            return False
        self.size = size
        self._frames.append((data, text))
        return True

    def close(self, code: int, reason: str) -> None:
        """Queue a close after the pending frames (first close wins)."""
        if self._state == _OPEN:
            self._state = _CLOSING
            self.close_code, self.close_reason = code, reason

    def abort(self, code: int, reason: str) -> int:
        """Drop pending frames and close now. Returns the bytes dropped."""
        dropped = self.size
        if self._state != _ABORTED:
            if self._state == _OPEN or self.close_code is None:
                self.close_code, self.close_reason = code, reason
            self._state = _ABORTED
            self._frames = []
            self.size = 0
        return dropped

    def take(self) -> list[Frame]:
        """Take every queued frame, in order (empty when none: then, unless :attr:`open`,
        :attr:`close_code` says how to close)."""
        frames = self._frames
        if frames:
            self._frames = []
            self.size = 0
        return frames
