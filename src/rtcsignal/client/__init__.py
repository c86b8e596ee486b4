"""An asynchronous signaling client for services, bots and tests (anyio: asyncio or trio).

It speaks protocol v1 over a WebSocket (wsproto on anyio sockets, extra
``rtcsignal[client]``), keeps one session alive across dropped connections (reconnect
with exponential backoff and jitter, resume within the grace period, missed events
replayed in order, gaps healed), queues sends while reconnecting, and turns ``error``
replies into :class:`RequestError` exceptions. See ``docs/client.md``.
"""

from __future__ import annotations

from ._backoff import Backoff as Backoff
from ._client import RETRYABLE_CLOSE_CODES as RETRYABLE_CLOSE_CODES
from ._client import Client as Client
from ._client import ClientEvent as ClientEvent
from ._client import Connected as Connected
from ._client import Disconnected as Disconnected
from ._client import SessionReset as SessionReset
from ._client import State as State
from ._client import Stopped as Stopped
from ._client import TransportFactory as TransportFactory
from ._client import connect as connect
from ._errors import ClientClosed as ClientClosed
from ._errors import ClientError as ClientError
from ._errors import ConnectionLost as ConnectionLost
from ._errors import RequestError as RequestError
from ._errors import RequestTimeout as RequestTimeout
from ._errors import SendQueueFull as SendQueueFull
from ._transport import Closed as Closed
from ._transport import HandshakeRejected as HandshakeRejected
from ._transport import Transport as Transport
from ._transport import WebSocket as WebSocket
from ._transport import open_websocket as open_websocket

__all__ = [
    "RETRYABLE_CLOSE_CODES",
    "Backoff",
    "Client",
    "ClientClosed",
    "ClientError",
    "ClientEvent",
    "Closed",
    "Connected",
    "ConnectionLost",
    "Disconnected",
    "HandshakeRejected",
    "RequestError",
    "RequestTimeout",
    "SendQueueFull",
    "SessionReset",
    "State",
    "Stopped",
    "Transport",
    "TransportFactory",
    "WebSocket",
    "connect",
    "open_websocket",
]
