"""The negotiation validation hook: what the core asks before relaying SDP and ICE.

The core calls a :class:`NegotiationValidator` for every offer, answer and candidate and
relays nothing that fails. The default, :class:`SdpValidator`, is the strict
:mod:`rtcsignal.sdp` validator; an application may supply its own (for instance with a
custom :class:`rtcsignal.sdp.SdpPolicy`). A validator raises :class:`CoreError` with
``invalid_sdp``, ``invalid_candidate`` or ``stale_candidate``; it never rewrites the text.
"""

from __future__ import annotations

from typing import Any, Protocol

from rtcsignal import sdp
from rtcsignal.protocol import Candidate, ErrorCode

from ._errors import CoreError

__all__ = ["NegotiationValidator", "SdpValidator"]


class NegotiationValidator(Protocol):
    """Checks what peers send before the core relays it.

    Each method returns an opaque *description* object the core stores for the pair
    (and hands back when checking the answer and the candidates that belong to it), or
    raises :class:`CoreError`.
    """

    def offer(self, text: str) -> object:
        """Validate an offer; return its description."""
        ...

    def answer(self, text: str, offer: object | None) -> object:
        """Validate an answer against the offer it answers; return its description."""
        ...

    def candidate(self, message: Candidate, description: object | None) -> None:
        """Validate a trickled candidate against its sender's description."""
        ...


def _details(err: sdp.SdpError) -> dict[str, Any]:
    return dict(err.to_dict())


class SdpValidator:
    """The default validator: :mod:`rtcsignal.sdp` with an optional policy.

    Args:
        policy: the SDP policy (limits, codecs, candidate address policy); ``None`` for
            the documented defaults.
    """

    __slots__ = ("policy",)

    def __init__(self, policy: sdp.SdpPolicy | None = None) -> None:
        self.policy = policy

    def offer(self, text: str) -> object:
        """Validate an offer (RFC 8829 §5.2); raise ``invalid_sdp`` with the rule."""
        try:
            return sdp.validate_offer(text, policy=self.policy)
        except sdp.SdpError as err:
            raise CoreError(ErrorCode.INVALID_SDP, str(err), details=_details(err)) from None

    def answer(self, text: str, offer: object | None) -> object:
        """Validate an answer (RFC 8829 §5.3) against its offer."""
        if not isinstance(offer, sdp.SessionDescription):
            raise CoreError(ErrorCode.NO_DESCRIPTION, "answer cannot be sent in state stable")
        try:
            return sdp.validate_answer(text, offer=offer, policy=self.policy)
        except sdp.SdpError as err:
            raise CoreError(ErrorCode.INVALID_SDP, str(err), details=_details(err)) from None

    def candidate(self, message: Candidate, description: object | None) -> None:
        """Validate a trickled candidate (RFC 8839 §5.1, RFC 8838 §4)."""
        if not message.candidate:
            return  # an empty candidate is end-of-candidates (RFC 8838 §4): nothing to check
        desc = description if isinstance(description, sdp.SessionDescription) else None
        try:
            sdp.check_candidate(
                message.candidate,
                sdp_mid=message.sdp_mid,
                sdp_mline_index=message.sdp_mline_index,
                username_fragment=message.username_fragment,
                description=desc,
                policy=self.policy,
            )
        except sdp.CandidateDropped as err:
            raise CoreError(ErrorCode.STALE_CANDIDATE, str(err), details=_details(err)) from None
        except sdp.SdpError as err:
            raise CoreError(ErrorCode.INVALID_CANDIDATE, str(err), details=_details(err)) from None
