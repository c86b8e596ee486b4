"""Offer/answer/candidate relay: addressing, JSEP state per pair, glare, validation."""

from __future__ import annotations

from rtcsignal import protocol as p
from rtcsignal._demo import ANSWER, CANDIDATE, OFFER
from rtcsignal.core import NegState
from rtcsignal.core._negotiation import NEGOTIATION_TRANSITIONS
from rtcsignal.protocol import ErrorCode
from rtcsignal.testing import Harness, Peer


def code(reply: object) -> str:
    assert isinstance(reply, p.Error), reply
    return reply.code


def three() -> tuple[Harness, list[Peer], list[str]]:
    h = Harness()
    peers = [h.peer(u) for u in ("alice", "bob", "carol")]
    pids = []
    for peer in peers:
        snap = peer.ok(p.Join(room="room1"))
        pids.append(snap.you)
    for peer in peers:
        peer.drain()
    return h, peers, pids


def test_offer_reaches_only_the_addressee_with_sender_stamped() -> None:
    h, (alice, bob, carol), (a, b, _) = three()
    outsider = h.peer("dave")
    outsider.ok(p.Join(room="other"))
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER, from_="forged", seq=999))
    (offer,) = bob.drain("offer")
    assert offer.from_ == a and offer.sdp == OFFER and offer.id is None
    assert offer.seq != 999
    assert alice.drain() == [] and carol.drain() == [] and outsider.drain("offer") == []


def test_full_exchange_and_candidates_in_order() -> None:
    _, (alice, bob, _), (a, b, _) = three()
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))
    alice.send(p.Candidate(room="room1", to=b, candidate=CANDIDATE, sdp_mid="0", sdp_mline_index=0))
    alice.send(p.EndOfCandidates(room="room1", to=b))
    bob.ok(p.Answer(room="room1", to=a, sdp=ANSWER))
    assert bob.types() == ["offer", "candidate", "end_of_candidates"]
    seqs = [m.seq for m in bob.drain()]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert alice.types() == ["answer"]


def test_answer_without_offer_is_refused() -> None:
    _, (alice, bob, _), (a, _, _) = three()
    assert code(bob.request(p.Answer(room="room1", to=a, sdp=ANSWER))) == ErrorCode.NO_DESCRIPTION
    assert alice.drain() == []


def test_offerer_cannot_answer_its_own_offer() -> None:
    _, (alice, _, _), (_, b, _) = three()
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))
    assert code(alice.request(p.Answer(room="room1", to=b, sdp=ANSWER))) == ErrorCode.INVALID_STATE


def test_candidate_before_any_description_is_refused() -> None:
    _, (alice, bob, _), (_, b, _) = three()
    reply = alice.request(p.Candidate(room="room1", to=b, candidate=CANDIDATE, sdp_mid="0"))
    assert code(reply) == ErrorCode.NO_DESCRIPTION
    assert bob.drain() == []


def test_glare_polite_offer_refused_impolite_wins() -> None:
    # alice joined first: impolite; bob joined later: polite.
    _, (alice, bob, _), (a, b, _) = three()
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))
    reply = bob.request(p.Offer(room="room1", to=a, sdp=OFFER))
    assert code(reply) == ErrorCode.GLARE
    assert alice.drain("offer") == []
    bob.ok(p.Answer(room="room1", to=a, sdp=ANSWER))
    assert len(alice.drain("answer")) == 1


def test_glare_impolite_offer_replaces_polite_one() -> None:
    _, (alice, bob, _), (a, b, _) = three()
    bob.ok(p.Offer(room="room1", to=a, sdp=OFFER))  # polite side offers first
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))  # impolite crosses: relayed
    assert len(bob.drain("offer")) == 1
    # the polite side rolls back and answers; the pair is stable again
    bob.ok(p.Answer(room="room1", to=a, sdp=ANSWER))
    assert code(alice.request(p.Answer(room="room1", to=b, sdp=ANSWER))) == ErrorCode.NO_DESCRIPTION


def test_invalid_sdp_is_refused_with_rule_and_not_relayed() -> None:
    _, (alice, bob, _), (_, b, _) = three()
    reply = alice.request(p.Offer(room="room1", to=b, sdp="v=0\r\nthis is not sdp\r\n"))
    assert code(reply) == ErrorCode.INVALID_SDP
    assert isinstance(reply, p.Error) and reply.details and reply.details.get("rule")
    assert bob.drain() == []
    # the pair's state did not move: a later valid offer is a first offer
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))


def test_invalid_candidate_is_refused() -> None:
    _, (alice, bob, _), (_, b, _) = three()
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))
    bob.drain()
    reply = alice.request(
        p.Candidate(room="room1", to=b, candidate="candidate:1 1 udp x", sdp_mid="0")
    )
    assert code(reply) == ErrorCode.INVALID_CANDIDATE
    assert bob.drain() == []


def test_signalling_yourself_or_a_stranger_is_refused() -> None:
    h, (alice, _, _), (a, _, _) = three()
    assert (
        code(alice.request(p.Offer(room="room1", to=a, sdp=OFFER))) == ErrorCode.UNKNOWN_PARTICIPANT
    )
    assert (
        code(alice.request(p.Offer(room="room1", to="nobody", sdp=OFFER)))
        == ErrorCode.UNKNOWN_PARTICIPANT
    )
    other = h.peer("zed")
    snap = other.ok(p.Join(room="elsewhere"))
    reply = alice.request(p.Offer(room="room1", to=snap.you, sdp=OFFER))
    assert code(reply) == ErrorCode.UNKNOWN_PARTICIPANT
    assert (
        code(alice.request(p.Offer(room="elsewhere", to=snap.you, sdp=OFFER)))
        == ErrorCode.NOT_IN_ROOM
    )
    assert other.drain("offer") == []


def test_participant_leaving_while_offer_in_flight() -> None:
    _, (alice, bob, _), (_, b, _) = three()
    bob.ok(p.Leave(room="room1"))
    reply = alice.request(p.Offer(room="room1", to=b, sdp=OFFER))
    assert code(reply) == ErrorCode.UNKNOWN_PARTICIPANT
    assert bob.drain("offer") == []


def test_transition_table_is_complete() -> None:
    for state in NegState:
        inputs = {i for (s, i) in NEGOTIATION_TRANSITIONS if s is state}
        assert inputs, state


def test_a_relayed_candidate_arms_no_timer() -> None:
    # the runtime asks next_deadline() again only when timers_armed changed
    h, (alice, bob, _), (a, b, _) = three()
    armed = h.server.timers_armed
    h.peer("dave")  # hello arms the ping timer
    assert h.server.timers_armed > armed
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))
    bob.ok(p.Answer(room="room1", to=a, sdp=ANSWER))
    armed, deadline = h.server.timers_armed, h.server.next_deadline()
    for _ in range(3):
        alice.send(p.Candidate(room="room1", to=b, candidate=CANDIDATE, sdp_mid="0"))
    assert len(bob.drain("candidate")) == 3
    assert h.server.timers_armed == armed
    assert h.server.next_deadline() == deadline


def test_offers_carry_their_negotiation_and_a_replaced_one_cannot_be_answered() -> None:
    _, (alice, bob, _), (a, b, _) = three()
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))
    (first,) = bob.drain("offer")
    assert first.negotiation == "n1"  # assigned by the server, per pair
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER))  # a re-offer replaces it
    (second,) = bob.drain("offer")
    assert second.negotiation == "n2"
    stale = bob.request(p.Answer(room="room1", to=a, sdp=ANSWER, negotiation="n1"))
    assert code(stale) == ErrorCode.STALE_ANSWER and stale.details == {"pending": "n2"}  # type: ignore[union-attr]
    assert alice.drain("answer") == []  # not relayed, and the pair still waits for n2
    bob.ok(p.Answer(room="room1", to=a, sdp=ANSWER, negotiation="n2"))
    (answer,) = alice.drain("answer")
    assert answer.negotiation == "n2"


def test_a_chosen_negotiation_is_relayed_and_an_answer_without_one_still_answers() -> None:
    _, (alice, bob, _), (a, b, _) = three()
    alice.ok(p.Offer(room="room1", to=b, sdp=OFFER, negotiation="mine-1"))
    (offer,) = bob.drain("offer")
    assert offer.negotiation == "mine-1"
    bob.ok(p.Answer(room="room1", to=a, sdp=ANSWER))  # an older client names none
    (answer,) = alice.drain("answer")
    assert answer.negotiation == "mine-1"  # the relayed answer says which offer it answered
    later = bob.request(p.Answer(room="room1", to=a, sdp=ANSWER, negotiation="mine-1"))
    assert code(later) == ErrorCode.NO_DESCRIPTION  # stable again: nothing to answer


def test_a_malformed_negotiation_is_refused_at_decode() -> None:
    _, (alice, _, _), (_, b, _) = three()
    bad = alice.request(p.Offer(room="room1", to=b, sdp=OFFER, negotiation="no spaces"))
    assert code(bad) == ErrorCode.INVALID_MESSAGE
