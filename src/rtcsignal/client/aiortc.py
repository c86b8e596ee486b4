"""Perfect negotiation for aiortc bots: one ``RTCPeerConnection`` per remote participant.

:class:`PeerMesh` is the Python counterpart of the browser client's ``PeerMesh``
(``rtcsignal.js``), for `aiortc <https://aiortc.readthedocs.io/>`_. aiortc is imported
when a mesh makes its first connection, not when this module is imported, so
``rtcsignal[client]`` does not require it (``pip install aiortc`` for this module).

Theory of operation
-------------------
- **Politeness by join order**, as the server decides glare (``docs/protocol.md``): in
  each pair the later joiner (higher ``order``) is *polite*. A peer whose order is not
  known yet counts as the earlier joiner (we are polite towards it), as in the browser.
- **One lock per remote participant** serializes everything that touches its connection
  (descriptions, candidates, replacement); the lock is never held across a round trip
  to the server, so offers and answers of one pair cannot deadlock.
- **Glare.** An offer that arrives while we have an offer of our own outstanding is a
  collision: the impolite side ignores it (the server relays the impolite side's offer
  and refuses the polite side's with ``glare``, so it is answered by nobody). The polite
  side rolls back. aiortc cannot roll back a local offer (``setLocalDescription`` of a
  ``rollback`` is not implemented, and an offer in ``have-local-offer`` is refused), so
  the mesh *replaces* the connection with a fresh one and applies the remote offer to
  it. Before the first answer nothing is lost; a connection that was already up is
  rebuilt (its media restarts).
- **Offer identity.** Every offer the mesh sends carries its own ``negotiation`` id; the
  answer echoes the id of the offer it answers (``client.answer(..., negotiation=...)``).
  An answer refused with ``stale_answer`` (the offer was replaced meanwhile) is dropped:
  the replacing offer is relayed next, and that one is answered. An answer naming an
  offer other than our current one is dropped too.
- **Candidates** are applied once the connection has a remote description; until then
  (no connection yet, a description still to come, events handled out of order) they
  wait in a bounded buffer per participant (:data:`MAX_EARLY_CANDIDATES`) and are added
  right after the remote description. Candidates that follow an offer we ignored belong
  to that offer and are dropped. aiortc gathers all of its own candidates before
  ``setLocalDescription`` returns, so outgoing candidates travel inside the SDP.
- **ICE restart.** aiortc cannot restart ICE (no ``restartIce``, no ``iceRestart``
  offer option, fixed ICE credentials per transport): :meth:`PeerMesh.restart_ice`
  raises :class:`IceRestartUnsupported`. A remote ICE restart (an offer with new ICE
  credentials on the same DTLS session) is answered, but aiortc keeps its ICE session.
- **A new remote connection** (its DTLS fingerprint changed: the browser reloaded and
  resumed the same participant) replaces ours, as the browser's mesh does.

.. versionadded:: 0.1
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from rtcsignal import protocol as p

from ._client import Client
from ._errors import ClientError, RequestError

if TYPE_CHECKING:
    from aiortc import RTCConfiguration, RTCPeerConnection

__all__ = [
    "MAX_EARLY_CANDIDATES",
    "IceRestartUnsupported",
    "MeshStats",
    "OnPeer",
    "PeerMesh",
]

logger = logging.getLogger("rtcsignal.client.aiortc")

#: Candidates kept per participant while its connection has no remote description.
#: A browser gathers a handful per ICE generation (host, srflx, relay per interface and
#: component; usually under 20), so 64 leaves room for several generations; past it the
#: newest are dropped (counted in :attr:`MeshStats.dropped_candidates`).
MAX_EARLY_CANDIDATES = 64

OnPeer = Callable[[str, "RTCPeerConnection", bool], None]
"""``on_peer(participant, pc, offering)``: called for every connection the mesh makes,
before it is negotiated. ``offering`` is ``True`` when the mesh is about to offer on it
(add the tracks and data channels to negotiate), ``False`` when a remote offer is about
to be applied (add tracks in the ``track`` handler, take channels from ``datachannel``)."""

_FINGERPRINT = re.compile(r"^a=fingerprint:(\S+ \S+)", re.MULTILINE)

_Early = p.Candidate | p.EndOfCandidates


class IceRestartUnsupported(ClientError, NotImplementedError):
    """aiortc cannot restart ICE; raised by :meth:`PeerMesh.restart_ice`."""


@attrs.define
class MeshStats:
    """What the mesh did, for logs and tests (counts since the mesh was made)."""

    offers: int = 0
    """Offers sent (relayed or not)."""
    answers: int = 0
    """Answers sent (accepted or not)."""
    glares: int = 0
    """Our offers the server refused with ``glare`` (we were the polite side)."""
    ignored_offers: int = 0
    """Crossing offers we ignored (we were the impolite side)."""
    rollbacks: int = 0
    """Connections replaced because our offer lost a glare (aiortc's rollback)."""
    replaced: int = 0
    """Connections replaced because the remote side made a new one."""
    stale_answers: int = 0
    """Answers dropped: refused with ``stale_answer``, or naming an offer we replaced."""
    early_candidates: int = 0
    """Candidates buffered until a remote description (then added)."""
    dropped_candidates: int = 0
    """Candidates dropped: past :data:`MAX_EARLY_CANDIDATES`, or of an ignored offer."""
    failed_candidates: int = 0
    """Candidates aiortc refused (a previous generation, an unknown ``mid`` ...)."""


@attrs.define
class _Peer:
    id: str
    pc: RTCPeerConnection
    offer: str | None = None  # the negotiation id of our outstanding offer
    ignoring: bool = False  # the last offer from this peer was ignored (glare)
    fingerprints: frozenset[str] = frozenset()  # of the applied remote description


def _aiortc() -> Any:
    try:
        import aiortc
        import aiortc.sdp
    except ImportError as exc:
        raise ImportError("rtcsignal.client.aiortc needs aiortc: pip install aiortc") from exc
    return aiortc


def _fingerprints(sdp: str) -> frozenset[str]:
    return frozenset(m.lower() for m in _FINGERPRINT.findall(sdp))


class PeerMesh:
    """One aiortc ``RTCPeerConnection`` per remote participant of ``room``, negotiated
    over ``client`` with perfect negotiation. See the module's theory of operation and
    ``docs/client.md``.

    Feed it every event (``await mesh.handle(event)``; it ignores what is not its
    room's negotiation or membership), call :meth:`start` with the join's snapshot, and
    :meth:`offer` to (re)negotiate with one participant. asyncio only (aiortc).

    Args:
        client: a connected client that joined (or is joining) ``room``.
        room: the room id.
        on_peer: set up each new connection (tracks, data channels, handlers).
        configuration: the ``RTCConfiguration`` of every connection; by default the
            client's ICE servers from ``welcome``, read when each connection is made.
    """

    def __init__(
        self,
        client: Client,
        room: str,
        *,
        on_peer: OnPeer | None = None,
        configuration: RTCConfiguration | None = None,
    ) -> None:
        self.client = client
        self.room = room
        self.on_peer = on_peer
        self.configuration = configuration
        #: Our participant id (from the snapshot given to :meth:`start`).
        self.me: str | None = None
        self.stats = MeshStats()
        self._order: dict[str, int] = {}
        self._peers: dict[str, _Peer] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._early: dict[str, list[_Early]] = {}
        self._prefix = secrets.token_hex(4)
        self._ids = count(1)
        self._closed = False

    # ------------------------------------------------------------------ public API
    @property
    def connections(self) -> dict[str, RTCPeerConnection]:
        """The current connection to each remote participant (a copy)."""
        return {pid: peer.pc for pid, peer in self._peers.items()}

    def polite(self, participant: str) -> bool:
        """Whether we are the polite side towards ``participant`` (we joined later)."""
        mine = self._order.get(self.me or "")
        theirs = self._order.get(participant)
        if mine is None or theirs is None:
            return True
        return mine > theirs

    async def start(self, snapshot: p.RoomSnapshot) -> None:
        """Take the room's members and join order from ``snapshot`` (the join's result)
        and offer to everyone already there: the newcomer offers. A ``room_snapshot``
        event given to :meth:`handle` does the same when it names a new ``you`` (a lobby
        admission, a re-join after a session reset); with the same ``you`` (a resume with
        a gap) it only closes the connections of those who left.

        Raises:
            rtcsignal.protocol.UsageError: ``snapshot`` is another room's (nothing
                changes).
        """
        if snapshot.room != self.room:
            raise p.UsageError(f"snapshot of room {snapshot.room!r}, the mesh is for {self.room!r}")
        await self._snapshot(snapshot)

    async def handle(self, event: Any) -> None:
        """Apply one client event. Other rooms' events, and events that are not about
        negotiation or membership, are ignored.

        Raises:
            RequestError: the server refused an answer for a reason other than
                ``stale_answer``.
            Exception: aiortc's own errors (a description it cannot apply).
        """
        if self._closed or getattr(event, "room", None) != self.room:
            return
        if isinstance(event, p.Offer) and event.from_:
            await self._on_offer(event.from_, event)
        elif isinstance(event, p.Answer) and event.from_:
            await self._on_answer(event.from_, event)
        elif isinstance(event, p.Candidate | p.EndOfCandidates) and event.from_:
            await self._on_candidate(event.from_, event)
        elif isinstance(event, p.ParticipantJoined):
            self._order[event.participant.id] = event.participant.order
        elif isinstance(event, p.ParticipantLeft):
            await self.remove(event.participant)
        elif isinstance(event, p.Removed):
            await self.aclose()
        elif isinstance(event, p.RoomSnapshot):
            await self._snapshot(event)

    async def offer(self, participant: str) -> bool:
        """Offer to ``participant`` (a connection is made first if there is none; a
        re-offer renegotiates the existing one).

        Returns:
            ``True`` when the server relayed the offer; ``False`` when it lost a glare
            (we are the polite side: the connection was rolled back, by replacement,
            and the other side's offer is answered when it comes).

        Raises:
            RequestError: any other refusal (``unknown_participant`` ...); a connection
                made for this offer is closed and forgotten.
        """
        async with self._lock(participant):
            made = participant not in self._peers
            peer = self._peers.get(participant) or self._make(participant, offering=True)
            pc = peer.pc
            await pc.setLocalDescription(await pc.createOffer())
            negotiation = peer.offer = f"{self._prefix}-{next(self._ids)}"
            sdp = pc.localDescription.sdp
        self.stats.offers += 1
        try:
            await self.client.offer(self.room, participant, sdp, negotiation=negotiation)
        except RequestError as exc:
            if exc.code != p.ErrorCode.GLARE:
                if made and self._peers.get(participant) is peer:
                    await self.remove(participant)  # refused: no connection is left behind
                raise
            self.stats.glares += 1
            async with self._lock(participant):
                current = self._peers.get(participant)
                if (
                    current is peer
                    and current.offer == negotiation
                    and current.pc.signalingState == "have-local-offer"
                ):
                    logger.info("glare with %s: rolling back (new connection)", participant)
                    await self._replace(participant)
                    self.stats.rollbacks += 1
            return False
        return True

    async def restart_ice(self, participant: str) -> None:
        """Restart ICE with ``participant``: not possible with aiortc.

        Raises:
            IceRestartUnsupported: always (aiortc has no ICE restart). To recover a
                failed connection, remove it and offer anew.
        """
        raise IceRestartUnsupported(
            f"cannot restart ICE with {participant}: aiortc has no ICE restart "
            "(RTCPeerConnection.restartIce and the iceRestart offer option are missing)"
        )

    async def remove(self, participant: str) -> None:
        """Close and forget the connection to ``participant`` (and its buffers)."""
        peer = self._peers.pop(participant, None)
        self._early.pop(participant, None)
        self._order.pop(participant, None)
        self._locks.pop(participant, None)
        if peer is not None:
            await peer.pc.close()

    async def aclose(self) -> None:
        """Close every connection; later events are ignored. Idempotent."""
        self._closed = True
        for participant in list(self._peers):
            await self.remove(participant)

    # ------------------------------------------------------------------ internals
    def _lock(self, participant: str) -> anyio.Lock:
        lock = self._locks.get(participant)
        if lock is None:
            lock = self._locks[participant] = anyio.Lock()
        return lock

    def _make(self, participant: str, *, offering: bool) -> _Peer:
        aiortc = _aiortc()
        configuration = self.configuration
        if configuration is None:
            # An empty list, not None: aiortc's None means a public Google STUN server.
            configuration = aiortc.RTCConfiguration(
                iceServers=[
                    aiortc.RTCIceServer(list(s.urls), s.username, s.credential)
                    for s in self.client.ice_servers
                ]
            )
        pc: RTCPeerConnection = aiortc.RTCPeerConnection(configuration)
        peer = self._peers[participant] = _Peer(participant, pc)
        if self.on_peer is not None:
            self.on_peer(participant, pc, offering)
        return peer

    async def _replace(self, participant: str) -> _Peer:
        """A fresh connection in place of the current one (aiortc has no rollback)."""
        old = self._peers.pop(participant, None)
        if old is not None:
            await old.pc.close()
        return self._make(participant, offering=False)

    async def _snapshot(self, snapshot: p.RoomSnapshot) -> None:
        present = {other.id for other in snapshot.participants}
        self._order = {other.id: other.order for other in snapshot.participants}
        if snapshot.you != self.me:
            # We entered the room (the join's snapshot, a lobby admission's) or entered
            # it again as someone new (the session was reset and the room re-joined):
            # the connections of an old identity are gone, and the newcomer offers.
            for participant in list(self._peers):
                await self.remove(participant)
            self.me = snapshot.you
            for other in snapshot.participants:
                if other.id != self.me:
                    await self.offer(other.id)
            return
        for participant in list(self._peers):  # a resume with a gap: who left meanwhile
            if participant not in present:
                await self.remove(participant)

    async def _on_offer(self, sender: str, offer: p.Offer) -> None:
        aiortc = _aiortc()
        async with self._lock(sender):
            peer = self._peers.get(sender)
            if peer is not None and peer.pc.signalingState != "stable":
                if not self.polite(sender):
                    logger.info("ignoring a crossing offer from %s (impolite)", sender)
                    self.stats.ignored_offers += 1
                    peer.ignoring = True
                    return
                logger.info("crossing offer from %s: rolling back (new connection)", sender)
                peer = await self._replace(sender)
                self.stats.rollbacks += 1
            elif (
                peer is not None
                and peer.fingerprints
                and (_fingerprints(offer.sdp) != peer.fingerprints)
            ):
                logger.info("%s made a new connection: replacing ours", sender)
                peer = await self._replace(sender)
                self.stats.replaced += 1
            if peer is None:
                peer = self._make(sender, offering=False)
            peer.ignoring = False
            pc = peer.pc
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(offer.sdp, "offer"))
            peer.fingerprints = _fingerprints(offer.sdp)
            await self._flush(peer)
            await pc.setLocalDescription(await pc.createAnswer())
            sdp = pc.localDescription.sdp
        self.stats.answers += 1
        try:
            await self.client.answer(self.room, sender, sdp, negotiation=offer.negotiation)
        except RequestError as exc:
            if exc.code != p.ErrorCode.STALE_ANSWER:
                raise
            # The offer was replaced meanwhile: its successor is relayed to us next.
            logger.info("answer to %s dropped: offer %s was replaced", sender, offer.negotiation)
            self.stats.stale_answers += 1

    async def _on_answer(self, sender: str, answer: p.Answer) -> None:
        aiortc = _aiortc()
        async with self._lock(sender):
            peer = self._peers.get(sender)
            if peer is None or peer.pc.signalingState != "have-local-offer":
                logger.info("answer from %s with no offer outstanding: dropped", sender)
                return
            if answer.negotiation is not None and answer.negotiation != peer.offer:
                logger.info(
                    "answer from %s to offer %s: not ours, dropped", sender, answer.negotiation
                )
                self.stats.stale_answers += 1
                return
            peer.ignoring = False
            await peer.pc.setRemoteDescription(aiortc.RTCSessionDescription(answer.sdp, "answer"))
            peer.fingerprints = _fingerprints(answer.sdp)
            peer.offer = None
            await self._flush(peer)

    async def _on_candidate(self, sender: str, candidate: _Early) -> None:
        async with self._lock(sender):
            peer = self._peers.get(sender)
            if peer is not None and peer.ignoring:
                self.stats.dropped_candidates += 1  # of the offer we ignored
                return
            if peer is None or peer.pc.remoteDescription is None:
                early = self._early.setdefault(sender, [])
                if len(early) >= MAX_EARLY_CANDIDATES:
                    logger.warning(
                        "more than %d early candidates from %s: dropped",
                        MAX_EARLY_CANDIDATES,
                        sender,
                    )
                    self.stats.dropped_candidates += 1
                    return
                early.append(candidate)
                self.stats.early_candidates += 1
                return
            await self._add(peer, candidate)

    async def _flush(self, peer: _Peer) -> None:
        for candidate in self._early.pop(peer.id, []):
            await self._add(peer, candidate)

    async def _add(self, peer: _Peer, candidate: _Early) -> None:
        aiortc = _aiortc()
        try:
            if isinstance(candidate, p.EndOfCandidates):
                await peer.pc.addIceCandidate(None)
                return
            ice = aiortc.sdp.candidate_from_sdp(candidate.candidate.removeprefix("candidate:"))
            ice.sdpMid = candidate.sdp_mid
            ice.sdpMLineIndex = candidate.sdp_mline_index
            await peer.pc.addIceCandidate(ice)
        except Exception as exc:  # a previous generation's, an unknown mid: not fatal
            logger.info("candidate from %s not added: %s", peer.id, exc)
            self.stats.failed_candidates += 1
