"""Trickled ICE candidates: checking one against the description it belongs to.

A trickled candidate arrives with ``sdpMid``, ``sdpMLineIndex`` and ``usernameFragment``
(W3C ``RTCIceCandidateInit``). It is checked in this order:

1. an empty candidate string is end-of-candidates (RFC 8838 §4): returned as
   :class:`EndOfCandidates`, after the same target and generation checks;
2. the framing: ``RTCIceCandidate.candidate`` is the attribute without ``a=`` and
   without a line end, ``candidate:<foundation> ...`` (W3C WebRTC §4.8.1, RFC 8839
   §5.1); an ``a=candidate:`` line or a bare value is a copy from SDP, not what a browser
   trickles, and is refused (``candidate.framing``);
3. the RFC 8839 §5.1 grammar (:func:`parse_candidate`) and the address policy;
4. with a description (a parsed :class:`SessionDescription`, or SDP text that is
   parsed here): a target is named (RFC 8829 §4.1.17: sdpMid, else sdpMLineIndex),
   and it exists. When both are given, ``sdpMid`` wins and the index is not compared
   (the W3C ``addIceCandidate`` receiver rule);
5. the ICE generation: a ``usernameFragment`` (or ``ufrag`` extension) that is not the
   target m-section's current ``ice-ufrag`` belongs to a previous generation
   (RFC 8839 §4.4, ICE restart); :class:`CandidateDropped` says "drop, do not relay".
"""

from __future__ import annotations

import attrs

from ._candidate import (
    Candidate,
    check_address_policy,
    match_candidate,
    parse_candidate,
    refuse_address,
)
from ._errors import CandidateDropped, CandidateError
from ._model import SessionDescription
from ._parser import parse
from ._policy import DEFAULT_POLICY, SdpPolicy

__all__ = ["EndOfCandidates", "check_candidate", "validate_candidate"]


@attrs.frozen(kw_only=True)
class EndOfCandidates:
    """The empty candidate: the sender finished gathering (RFC 8838 §4).

    Attributes:
        sdp_mid: the m-section it concerns, as given (``None`` for all).
        sdp_mline_index: as given.
        username_fragment: the ICE generation it ends, as given.
    """

    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    username_fragment: str | None = None


def _target(
    description: SessionDescription, sdp_mid: str | None, sdp_mline_index: int | None
) -> int:
    if sdp_mid is not None:
        index = description.index_of_mid(sdp_mid) if isinstance(sdp_mid, str) else None
        if index is not None:
            return index
        raise CandidateError(
            "candidate.unknown_mid", f"sdpMid {sdp_mid[:64]!r} names no m-section",
            field="sdpMid",
        )  # fmt: skip
    if sdp_mline_index is None:
        raise CandidateError(
            "candidate.no_target", "a candidate needs sdpMid or sdpMLineIndex", field="sdpMid"
        )
    if (
        not isinstance(sdp_mline_index, int)
        or isinstance(sdp_mline_index, bool)
        or not 0 <= sdp_mline_index < len(description.media)
    ):
        raise CandidateError(
            "candidate.mline_index",
            f"sdpMLineIndex {sdp_mline_index!r} is not 0 to {len(description.media) - 1}",
            field="sdpMLineIndex",
        )
    return sdp_mline_index


def validate_candidate(
    candidate: object,
    *,
    sdp_mid: str | None,
    sdp_mline_index: int | None,
    username_fragment: str | None,
    description: object,
    policy: SdpPolicy | None = None,
) -> Candidate | EndOfCandidates:
    """Check a trickled candidate against the description of the peer that sent it.

    Args:
        candidate: the candidate string as ``RTCIceCandidate.candidate`` gives it
            (``"candidate:..."``, or ``""`` for end-of-candidates) or a parsed
            :class:`Candidate` (typed ``object``, as ``description`` is: anything else is
            refused with a :class:`CandidateError`, in the compiled build too).
        sdp_mid: ``RTCIceCandidateInit.sdpMid``.
        sdp_mline_index: ``RTCIceCandidateInit.sdpMLineIndex``.
        username_fragment: ``RTCIceCandidateInit.usernameFragment``.
        description: the sender's current description (its offer or answer), parsed or
            as SDP text (``str``/UTF-8 ``bytes``, parsed under ``policy``), or ``None``
            when unknown (then only the grammar and the policy are checked).
        policy: limits and the candidate address policy; ``None`` for the defaults.

    Returns:
        The parsed :class:`Candidate`, or :class:`EndOfCandidates` for ``""``.

    Raises:
        CandidateDropped: ``ice.stale_generation``: the candidate belongs to a previous
            ICE generation; drop it quietly.
        CandidateError: the candidate is malformed (``candidate.*``; not framed as
            ``candidate:...``: ``candidate.framing``), mis-addressed, too long
            (``limit.line_length``), refused by policy (``policy.candidate_address``), or
            the description is neither text nor parsed (``candidate.description``).
        SdpError: the description text does not parse.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    description = _description(description, policy)
    if isinstance(candidate, Candidate):
        parsed: Candidate | EndOfCandidates = candidate
    elif not isinstance(candidate, str):
        raise CandidateError(
            "candidate.syntax", f"a candidate must be text, not {type(candidate).__name__}"
        )
    elif len(candidate) > policy.max_line_length:
        raise CandidateError(
            "limit.line_length",
            f"the candidate is {len(candidate)} characters; the limit is {policy.max_line_length}",
            field="candidate",
        )
    elif candidate == "":
        parsed = EndOfCandidates(
            sdp_mid=sdp_mid, sdp_mline_index=sdp_mline_index, username_fragment=username_fragment
        )
    elif not candidate.startswith("candidate:"):
        shown = candidate if len(candidate) <= 40 else candidate[:37] + "..."
        raise CandidateError(
            "candidate.framing",
            f"{shown!r} is not framed as RTCIceCandidate.candidate is: 'candidate:...', "
            "without 'a=' and without a line end",
            field="candidate",
        )
    else:
        parsed = parse_candidate(candidate)
    if isinstance(parsed, Candidate):
        check_address_policy(parsed, policy.candidate_address_policy)
        ufrag = _generation(parsed.ufrag, username_fragment)
    else:
        ufrag = username_fragment
    if description is not None:
        _check_target(description, sdp_mid, sdp_mline_index, ufrag)
    return parsed


def check_candidate(
    candidate: object,
    *,
    sdp_mid: str | None,
    sdp_mline_index: int | None,
    username_fragment: str | None,
    description: object,
    policy: SdpPolicy | None = None,
) -> None:
    """Check a trickled candidate exactly as :func:`validate_candidate` does, without
    building its :class:`Candidate`: for relays, which need only the verdict.

    Every check runs, in the same order, and raises the same error. A candidate of the
    common shape (what browsers send) takes a fast path of one match and a few lookups;
    any other goes through :func:`validate_candidate` itself.

    Args / Raises: as :func:`validate_candidate`.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    description = _description(description, policy)
    quick = (
        match_candidate(candidate)
        if type(candidate) is str and len(candidate) <= policy.max_line_length
        else None
    )
    if quick is None:
        validate_candidate(
            candidate,
            sdp_mid=sdp_mid,
            sdp_mline_index=sdp_mline_index,
            username_fragment=username_fragment,
            description=description,
            policy=policy,
        )
        return
    kind, address, ext_ufrag = quick
    refuse_address(kind, address, policy.candidate_address_policy)
    ufrag = ext_ufrag if username_fragment is None else _generation(ext_ufrag, username_fragment)
    if description is not None:
        _check_target(description, sdp_mid, sdp_mline_index, ufrag)


def _description(description: object, policy: SdpPolicy) -> SessionDescription | None:
    """The description a candidate is checked against: parsed from SDP text if need be."""
    if description is None or isinstance(description, SessionDescription):
        return description
    if isinstance(description, str | bytes):
        return parse(description, policy=policy)
    raise CandidateError(
        "candidate.description",
        "the description must be a SessionDescription or SDP text, not "
        f"{type(description).__name__}",
        field="description",
    )


def _generation(ext_ufrag: str | None, username_fragment: str | None) -> str | None:
    """The candidate's ICE generation: ``usernameFragment``, else its ``ufrag`` extension;
    both given must agree."""
    if username_fragment is None:
        return ext_ufrag
    if ext_ufrag is not None and ext_ufrag != username_fragment:
        raise CandidateError(
            "candidate.ufrag_mismatch",
            f"the candidate's ufrag {ext_ufrag!r} differs from usernameFragment "
            f"{username_fragment!r}",
            field="usernameFragment",
        )
    return username_fragment


def _check_target(
    description: SessionDescription,
    sdp_mid: str | None,
    sdp_mline_index: int | None,
    ufrag: str | None,
) -> None:
    """The named m-section exists and ``ufrag`` is its current ICE generation."""
    index = _target(description, sdp_mid, sdp_mline_index)
    current = description.ice_ufrag_of(index)
    if ufrag is not None and current is not None and ufrag != current:
        raise CandidateDropped(
            "ice.stale_generation",
            f"usernameFragment {ufrag[:64]!r} is not the current ICE generation "
            f"({current!r}); dropped, not relayed",
            field="usernameFragment",
        )
