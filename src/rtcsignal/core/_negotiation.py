"""Negotiation relay state: the JSEP signaling state of every pair of participants.

Theory of operation
-------------------
The server relays offers, answers and candidates; it does not negotiate. But it tracks,
for each unordered pair of participants in a room, whether an offer is outstanding and
from whom (RFC 8829 §3.2's ``stable`` / ``have-local-offer`` seen from the server), and the
last description each side sent. That lets it refuse nonsense deterministically:

* an **answer with no offer** from the addressee outstanding is ``no_description``
  (``"answer cannot be sent in state stable"``);
* a **candidate before any description** from its sender is ``no_description``: the
  sender's own socket carries its offer/answer first, so this is a client bug, not a race;
* **glare** (offers crossing): the W3C *perfect negotiation* pattern decides. In each pair
  the participant that joined the room later (higher ``order``) is *polite*. If the polite
  side's offer arrives while the impolite side's offer is outstanding, it is refused with
  ``glare`` (the polite client rolls back and answers the offer it is about to receive);
  if the impolite side's offer arrives while the polite side's is outstanding, it is
  relayed and replaces it (the polite client rolls back on receipt). Either way exactly
  one offer survives, and which one depends only on join order.

Transitions (state of the pair, input from one side) -> state:

=========================  =========================  ==============================
state                      input                      result
=========================  =========================  ==============================
stable                     offer from X               offered(by X), relay
offered(by X)              offer from X               offered(by X), relay (re-offer)
offered(by X)              offer from Y, Y impolite   offered(by Y), relay
offered(by X)              offer from Y, Y polite     unchanged, ``glare`` error
offered(by X)              answer from Y              stable, relay
offered(by X)              answer from X              unchanged, ``invalid_state``
stable                     answer from anyone         unchanged, ``no_description``
=========================  =========================  ==============================
"""

from __future__ import annotations

import enum
from typing import Final

from rtcsignal.protocol import ErrorCode

from ._errors import CoreError

__all__ = ["NEGOTIATION_TRANSITIONS", "NegInput", "NegState", "Negotiations", "PairState"]


class NegState(enum.Enum):
    """The server's view of one pair's signaling state."""

    STABLE = "stable"
    """No offer outstanding (RFC 8829 §3.2 ``stable``)."""
    OFFERED = "offered"
    """One side's offer awaits the other side's answer (``have-local-offer`` there)."""


class NegInput(enum.Enum):
    """What one side of a pair sent, relative to the pair's state."""

    OFFER_SAME_SIDE = "offer from the offerer"
    OFFER_IMPOLITE = "offer from the impolite side"
    OFFER_POLITE = "offer from the polite side"
    ANSWER_OTHER_SIDE = "answer from the offer's addressee"
    ANSWER_SAME_SIDE = "answer from the offerer"
    OFFER = "offer"
    ANSWER = "answer"


_RELAY: Final = "relay"
NEGOTIATION_TRANSITIONS: Final[dict[tuple[NegState, NegInput], tuple[NegState, str]]] = {
    (NegState.STABLE, NegInput.OFFER): (NegState.OFFERED, _RELAY),
    (NegState.STABLE, NegInput.ANSWER): (NegState.STABLE, ErrorCode.NO_DESCRIPTION.value),
    (NegState.OFFERED, NegInput.OFFER_SAME_SIDE): (NegState.OFFERED, _RELAY),
    (NegState.OFFERED, NegInput.OFFER_IMPOLITE): (NegState.OFFERED, _RELAY),
    (NegState.OFFERED, NegInput.OFFER_POLITE): (NegState.OFFERED, ErrorCode.GLARE.value),
    (NegState.OFFERED, NegInput.ANSWER_OTHER_SIDE): (NegState.STABLE, _RELAY),
    (NegState.OFFERED, NegInput.ANSWER_SAME_SIDE): (
        NegState.OFFERED,
        ErrorCode.INVALID_STATE.value,
    ),
}
"""``(state, input) -> (next state, "relay" or the error code refusing it)``."""

_MESSAGES: Final = {
    ErrorCode.NO_DESCRIPTION.value: "answer cannot be sent in state stable: no offer from {peer}",
    ErrorCode.GLARE.value: "offers crossed: roll back and answer the offer from {peer}",
    ErrorCode.INVALID_STATE.value: (
        "answer cannot be sent while your own offer to {peer} is pending"
    ),
}


class PairState:
    """One pair's state: who has an offer outstanding, and each side's last description."""

    __slots__ = ("descriptions", "negotiation", "offerer", "offers")

    def __init__(self) -> None:
        self.offerer: str | None = None
        self.negotiation: str | None = None  # the pending offer's id
        self.offers = 0  # offers made in this pair, for server-assigned ids
        self.descriptions: dict[str, object] = {}

    @property
    def state(self) -> NegState:
        """The pair's :class:`NegState`."""
        return NegState.STABLE if self.offerer is None else NegState.OFFERED


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class Negotiations:
    """Every pair's :class:`PairState` in one room, with O(pairs of p) cleanup of p."""

    __slots__ = ("_by_participant", "_pairs")

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], PairState] = {}
        self._by_participant: dict[str, set[tuple[str, str]]] = {}

    def __len__(self) -> int:
        return len(self._pairs)

    def pair(self, a: str, b: str) -> PairState | None:
        """The state of pair ``(a, b)``, if either side ever sent a description."""
        return self._pairs.get(_key(a, b))

    def _input(self, pair: PairState, sender: str, is_offer: bool, sender_polite: bool) -> NegInput:
        if pair.offerer is None:
            return NegInput.OFFER if is_offer else NegInput.ANSWER
        if is_offer:
            if pair.offerer == sender:
                return NegInput.OFFER_SAME_SIDE
            return NegInput.OFFER_POLITE if sender_polite else NegInput.OFFER_IMPOLITE
        return NegInput.ANSWER_SAME_SIDE if pair.offerer == sender else NegInput.ANSWER_OTHER_SIDE

    def check(
        self,
        sender: str,
        target: str,
        *,
        is_offer: bool,
        sender_polite: bool,
        negotiation: str | None = None,
    ) -> object | None:
        """Check an offer or answer from ``sender`` to ``target`` without changing state.

        Args:
            negotiation: for an answer, the id of the offer it answers, if it names one.

        Returns:
            For an answer, the offer description it answers (what the validator checks
            the answer against); ``None`` for an offer.

        Raises:
            CoreError: ``no_description``, ``glare`` or ``invalid_state`` per the table;
                ``stale_answer`` for an answer naming an offer that was replaced.
        """
        pair = self._pairs.get(_key(sender, target)) or PairState()
        nxt, verdict = NEGOTIATION_TRANSITIONS[
            (pair.state, self._input(pair, sender, is_offer, sender_polite))
        ]
        del nxt
        if verdict != _RELAY:
            raise CoreError(ErrorCode(verdict), _MESSAGES[verdict].format(peer=target))
        if is_offer:
            return None
        if negotiation is not None and negotiation != pair.negotiation:
            raise CoreError(
                ErrorCode.STALE_ANSWER,
                f"offer {negotiation} from {target} was replaced by offer "
                f"{pair.negotiation}: answer that one",
                details={"pending": pair.negotiation},
            )
        return pair.descriptions.get(target)

    def record(
        self,
        sender: str,
        target: str,
        *,
        is_offer: bool,
        description: object,
        negotiation: str | None = None,
    ) -> str | None:
        """Apply a checked offer or answer: move the pair and keep ``description``.

        Args:
            negotiation: for an offer, the id its sender chose, if any.

        Returns:
            The negotiation id the relayed message carries: the offer's (its sender's,
            else a fresh one, unique in the pair), or for an answer the id of the offer
            it answered.
        """
        key = _key(sender, target)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = PairState()
            self._by_participant.setdefault(sender, set()).add(key)
            self._by_participant.setdefault(target, set()).add(key)
        pair.offerer = sender if is_offer else None
        pair.descriptions[sender] = description
        if is_offer:
            pair.offers += 1
            pair.negotiation = negotiation or f"n{pair.offers}"
            return pair.negotiation
        answered, pair.negotiation = pair.negotiation, None
        return answered

    def description_of(self, sender: str, target: str) -> object | None:
        """The last description ``sender`` sent to ``target`` (candidates attach to it)."""
        pair = self._pairs.get(_key(sender, target))
        return None if pair is None else pair.descriptions.get(sender)

    def forget(self, participant: str) -> None:
        """Drop every pair involving ``participant`` (it left the room)."""
        for key in self._by_participant.pop(participant, ()):
            self._pairs.pop(key, None)
            other = key[0] if key[1] == participant else key[1]
            keys = self._by_participant.get(other)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_participant[other]
