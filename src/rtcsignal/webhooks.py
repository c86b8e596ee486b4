"""Signed webhooks: the standalone server tells the application behind it what happened.

Theory of operation
-------------------
:class:`WebhookSender` is a runtime observer (``Runtime(observers=[sender])``). For each
observer event about a room (:data:`WEBHOOK_EVENTS`) that passes the ``events`` filter
it builds one JSON body, numbers it in its room (``seq``), and puts it in a bounded
queue; that is all that happens on the signaling path, which is never blocked: a full
queue drops the event, counts it (``rtcsignal_webhooks_dropped_total{reason="queue_full"}``)
and logs it. One task (:meth:`WebhookSender.run`) POSTs the queue in order with
`httpx <https://www.python-httpx.org/>`_ (extra ``rtcsignal[webhooks]``), one delivery at
a time, so a receiver sees each room's events in ``seq`` order; a failed delivery is
retried with exponential backoff before the next one is sent, and given up (counted,
logged) after ``retries`` more attempts.

Every request is signed: ``X-Rtcsignal-Signature: t=<unix seconds>,v1=<hex>`` where the
hex is HMAC-SHA256 with the shared ``secret`` over ``"<t>.<body>"`` (the timestamp, a dot,
the raw body bytes). Each attempt is signed afresh, so a receiver may refuse old
timestamps (replays) with :func:`verify`. ``X-Rtcsignal-Delivery`` is the event's ``id``
(the same on every attempt: de-duplicate on it), ``X-Rtcsignal-Event`` its name.

Guarantees, and their limits: at-least-once while the process runs and the receiver
comes back within the retries (a delivery whose response was lost is sent again: use
``id`` or ``(room, seq)`` to de-duplicate); in ``seq`` order per room; a ``seq`` gap
means events were dropped (queue overflow, retries exhausted). Nothing is persisted: a
restart loses what was queued. A room's ``seq`` starts at 1 with ``room_created`` and is
forgotten after ``room_closed`` (a room created again starts again at 1).

``docs/webhooks.md`` documents the bodies, headers and settings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import anyio
import attrs
import msgspec

from rtcsignal.core import events as ev

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOLERANCE",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "WEBHOOK_EVENTS",
    "WebhookSender",
    "WebhookSettings",
    "WebhookVerificationError",
    "sign",
    "verify",
]

logger = logging.getLogger("rtcsignal.webhooks")

SIGNATURE_HEADER: Final = "X-Rtcsignal-Signature"
"""``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
EVENT_HEADER: Final = "X-Rtcsignal-Event"
"""The event's name (``participant_joined``), as in the body."""
DELIVERY_HEADER: Final = "X-Rtcsignal-Delivery"
"""The event's unique ``id``, the same on every attempt to deliver it."""

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds one POST may take (connect to last byte): a receiver should answer at once
and do its work afterwards; 5 s absorbs a cold start without stalling the queue long."""
DEFAULT_RETRIES: Final = 5
"""Attempts after the first: with the default backoff (0.5 s doubling to 30 s) about 15 s
of outage is bridged before an event is given up."""
DEFAULT_BACKOFF: Final = 0.5
"""Seconds before the first retry; each next one waits twice as long, up to ``max_backoff``."""
DEFAULT_MAX_BACKOFF: Final = 30.0
"""The longest wait between two attempts."""
DEFAULT_QUEUE_SIZE: Final = 1000
"""Events waiting to be sent: a 100-person room's join storm, or a minute of a busy server
while the receiver restarts. Past it events are dropped and counted, never queued."""
DEFAULT_TOLERANCE: Final = 300.0
"""Seconds a signature's timestamp may be off the receiver's clock in :func:`verify`
(clock skew plus the time an attempt takes); older is treated as a replay."""
MIN_SECRET_CHARS: Final = 16
"""A shorter shared secret is refused: it could be guessed from signed bodies."""

WEBHOOK_EVENTS: Final[Mapping[type[ev.ObserverEvent], str]] = {
    ev.RoomCreated: "room_created",
    ev.RoomClosed: "room_closed",
    ev.MemberJoined: "participant_joined",
    ev.MemberLeft: "participant_left",
    ev.MemberRoleChanged: "role_changed",
    ev.HostTransferred: "host_transferred",
    ev.RecordingChanged: "recording_changed",
    ev.RoomPolicyChanged: "room_policy_changed",
    ev.CallStateChanged: "call_updated",
}
"""The observer events sent as webhooks, with their webhook names. Moderation shows as
``participant_left`` (reason ``kicked``), ``role_changed`` and ``recording_changed``
(``by`` the moderator)."""

_RETRY_STATUSES: Final = frozenset({408, 425, 429})
"""Besides 5xx: statuses that say "try again later"; other 4xx are final."""


class WebhookVerificationError(ValueError):
    """A webhook request is not authentic: bad or missing signature header, wrong
    signature, or a timestamp outside the tolerance."""


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body`` sent at ``timestamp``.

    Returns: ``t=<timestamp>,v1=<hex>``, the hex being HMAC-SHA256 with ``secret`` over
    ``b"<timestamp>." + body``.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a webhook request and return its event.

    Args:
        body: the raw request body, as received (before any JSON parsing).
        header: the :data:`SIGNATURE_HEADER` value (``None`` if absent).
        secret: the shared secret of the ``[webhooks]`` settings.
        tolerance: seconds the timestamp may differ from ``now``.
        now: the receiver's Unix time (default :func:`time.time`).

    Returns:
        The event body, parsed (``{"id", "event", "room", "seq", "time", "data"}``).

    Raises:
        WebhookVerificationError: the header is missing or malformed, no ``v1``
            signature matches, or the timestamp is outside ``tolerance``.
    """
    if not header:
        raise WebhookVerificationError(f"no {SIGNATURE_HEADER} header")
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            stamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if stamp is None or not signatures:
        raise WebhookVerificationError(f"malformed {SIGNATURE_HEADER} header: {header!r}")
    now = time.time() if now is None else now
    if abs(now - stamp) > tolerance:
        raise WebhookVerificationError(
            f"timestamp {stamp} is {abs(now - stamp):.0f} s off (tolerance {tolerance:g} s)"
        )
    expected = sign(body, secret, stamp).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookVerificationError("signature mismatch")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError(f"the body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return event


def _url(inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError(f"url = {value!r}: an http:// or https:// URL")


def _secret(inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if len(value) < MIN_SECRET_CHARS:
        raise ValueError(f"secret: at least {MIN_SECRET_CHARS} characters")


def _events(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):  # RTCSIGNAL_WEBHOOKS__EVENTS=room_created,room_closed
        names = tuple(n.strip() for n in value.split(",") if n.strip())
    else:
        names = tuple(value)
    known = set(WEBHOOK_EVENTS.values())
    for name in names:
        if name not in known:
            raise ValueError(f"events: unknown event {name!r} (known: {', '.join(sorted(known))})")
    return names


@attrs.frozen(kw_only=True)
class WebhookSettings:
    """The ``[webhooks]`` settings table of ``python -m rtcsignal serve``.

    Attributes:
        url: where events are POSTed (``http://`` or ``https://``).
        secret: the HMAC-SHA256 key shared with the receiver (at least 16 characters).
        events: the webhook names to send (:data:`WEBHOOK_EVENTS`); ``None``: all.
        timeout: seconds one POST may take.
        retries: attempts after the first for one event (connection errors, timeouts,
            5xx, 408, 425, 429; other statuses are final).
        backoff / max_backoff: the first wait before a retry, doubling up to the max.
        queue_size: events waiting to be sent; beyond it new events are dropped.
    """

    url: str = attrs.field(validator=_url)
    secret: str = attrs.field(repr=False, validator=_secret)
    events: tuple[str, ...] | None = attrs.field(default=None, converter=_events)
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=attrs.validators.gt(0))
    retries: int = attrs.field(default=DEFAULT_RETRIES, validator=attrs.validators.ge(0))
    backoff: float = attrs.field(default=DEFAULT_BACKOFF, validator=attrs.validators.ge(0))
    max_backoff: float = attrs.field(default=DEFAULT_MAX_BACKOFF, validator=attrs.validators.ge(0))
    queue_size: int = attrs.field(default=DEFAULT_QUEUE_SIZE, validator=attrs.validators.ge(1))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WebhookSettings:
        """Build the settings from plain data (TOML, environment).

        Raises:
            ValueError: naming the unknown, missing or invalid key.
        """
        fields = attrs.fields_dict(cls)
        for key, value in data.items():
            if key not in fields:
                raise ValueError(f"unknown key {key} = {value!r}")
            kind = {"timeout": float, "backoff": float, "max_backoff": float}.get(key)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if kind is float and not number:
                raise ValueError(f"{key} = {value!r}: a number")
            if key in ("retries", "queue_size") and (
                not isinstance(value, int) or isinstance(value, bool)
            ):
                raise ValueError(f"{key} = {value!r}: an integer")
            if key in ("url", "secret") and not isinstance(value, str):
                raise ValueError(f"{key}: a string")
        for key in ("url", "secret"):
            if key not in data:
                raise ValueError(f"{key} is required")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


class _Counter(Protocol):
    def count(self, name: str, labels: Mapping[str, str], value: float = 1.0) -> None: ...


_ENCODE: Final = msgspec.json.Encoder()


class WebhookSender:
    """Queue observer events as signed webhooks and deliver them. See the module docstring.

    Args:
        settings: the ``[webhooks]`` settings.
        metrics: the runtime's metrics hook (``rtcsignal_webhooks_*`` counters), if any.
        wall_clock: Unix time, for the bodies' ``time`` and the signatures.
        ids: the events' unique ids.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        metrics: _Counter | None = None,
        wall_clock: Callable[[], float] = time.time,
        ids: Callable[[], str] = lambda: secrets.token_urlsafe(16),
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._clock = wall_clock
        self._ids = ids
        self._wanted = frozenset(settings.events or WEBHOOK_EVENTS.values())
        self._seq: dict[str, int] = {}
        self._send, self._receive = anyio.create_memory_object_stream[tuple[str, str, bytes]](
            settings.queue_size
        )
        self._done = anyio.Event()
        self.dropped = 0
        """Events dropped so far (queue full or retries exhausted)."""
        self.delivered = 0
        """Events delivered so far (a 2xx answer)."""

    # ---------------------------------------------------------------- the observer
    def __call__(self, event: ev.ObserverEvent) -> None:
        """The observer: queue ``event`` if it is a webhook event. Never blocks."""
        name = WEBHOOK_EVENTS.get(type(event))
        if name is None:
            return
        data = msgspec.to_builtins(event)
        del data["event"], data["at"]
        data.pop("session", None)  # sessions are the server's business
        if isinstance(event, ev.CallStateChanged):
            room = event.call.room
            data = {"call": msgspec.to_builtins(event.call.to_wire())}
        else:
            room = data.pop("room")
        seq = self._seq.get(room, 0) + 1  # numbered before the filter and the queue:
        self._seq[room] = seq  # a gap tells the receiver something was dropped
        if isinstance(event, ev.RoomClosed):
            del self._seq[room]
        if name not in self._wanted:
            return
        delivery = self._ids()
        body = _ENCODE.encode(
            {
                "id": delivery,
                "event": name,
                "room": room,
                "seq": seq,
                "time": round(self._clock(), 3),
                "data": data,
            }
        )
        try:
            self._send.send_nowait((name, delivery, body))
        except anyio.WouldBlock:
            self._drop("queue_full")
            logger.warning(
                "webhook queue full (%d): dropped %s #%d of room %s",
                self.settings.queue_size,
                name,
                seq,
                room,
                extra={"event": "webhook_dropped"},
            )
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._drop("closed")

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        self._count("rtcsignal_webhooks_dropped_total", {"reason": reason})

    def _count(self, name: str, labels: Mapping[str, str]) -> None:
        if self.metrics is not None:
            try:
                self.metrics.count(name, labels)
            except Exception:
                logger.exception("metrics hook failed", extra={"event": "hook_error"})

    # ---------------------------------------------------------------- delivery
    async def run(self) -> None:
        """Deliver the queue, in order, until :meth:`close` (then what is queued is
        still delivered) or cancellation."""
        import httpx  # the webhooks extra: imported only when webhooks are on

        try:
            async with (
                httpx.AsyncClient(timeout=self.settings.timeout) as client,
                self._receive,
            ):
                async for name, delivery, body in self._receive:
                    await self._deliver(client, name, delivery, body)
        finally:
            self._done.set()

    def close(self) -> None:
        """Stop accepting events; :meth:`run` returns once the queue is delivered."""
        self._send.close()

    async def wait_closed(self) -> None:
        """Wait until :meth:`run` has returned (after :meth:`close`, the queue sent)."""
        await self._done.wait()

    async def _deliver(self, client: Any, name: str, delivery: str, body: bytes) -> None:
        import httpx

        settings = self.settings
        for attempt in range(settings.retries + 1):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "rtcsignal-webhooks",
                EVENT_HEADER: name,
                DELIVERY_HEADER: delivery,
                SIGNATURE_HEADER: sign(body, settings.secret, int(self._clock())),
            }
            try:
                response = await client.post(settings.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem, final = f"{type(exc).__name__}: {exc}", False
            else:
                status = response.status_code
                if 200 <= status < 300:
                    self.delivered += 1
                    self._count("rtcsignal_webhooks_delivered_total", {})
                    return
                problem = f"HTTP {status}"
                final = status < 500 and status not in _RETRY_STATUSES
            if final or attempt == settings.retries:
                break
            delay = min(settings.max_backoff, settings.backoff * 2**attempt)
            logger.info(
                "webhook %s %s failed (%s); retry %d in %.1f s",
                name,
                delivery,
                problem,
                attempt + 1,
                delay,
                extra={"event": "webhook_retry"},
            )
            await anyio.sleep(delay)
        self._drop("failed")
        logger.warning(
            "webhook %s %s given up after %d attempts: %s",
            name,
            delivery,
            attempt + 1,
            problem,
            extra={"event": "webhook_dropped"},
        )
