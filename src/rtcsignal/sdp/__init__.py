"""SDP and ICE parsing and validation for WebRTC signaling (pure: no I/O, no clock).

* :func:`parse` reads RFC 8866 syntax into a :class:`SessionDescription` that
  serializes back to the same text;
* :func:`validate_offer` / :func:`validate_answer` apply the WebRTC/JSEP rules
  (RFC 8829, 8839, 8842, 8843, 8841) and an operator :class:`SdpPolicy`;
* :func:`parse_candidate` / :func:`validate_candidate` handle trickled ICE candidates
  (RFC 8839 §5.1), telling "invalid" (:class:`CandidateError`) from "stale, drop it"
  (:class:`CandidateDropped`); :func:`check_candidate` makes the same checks for a
  relay, which needs only the verdict;
* :func:`validate_ice_server_url`, :func:`validate_ice_server` and
  :func:`mint_turn_credentials` cover ICE server configuration (RFC 7064, 7065, TURN REST).

Every error is an :class:`SdpError` with ``rule``, ``line``, ``field``, ``ref`` and
``message``; :data:`RULES` lists every rule id. See ``docs/sdp.md``.
"""

from __future__ import annotations

from ._attributes import Extmap as Extmap
from ._attributes import Fingerprint as Fingerprint
from ._attributes import Fmtp as Fmtp
from ._attributes import Group as Group
from ._attributes import Msid as Msid
from ._attributes import Rid as Rid
from ._attributes import RtcpFb as RtcpFb
from ._attributes import Rtpmap as Rtpmap
from ._attributes import Simulcast as Simulcast
from ._attributes import Ssrc as Ssrc
from ._attributes import SsrcGroup as SsrcGroup
from ._candidate import Candidate as Candidate
from ._candidate import classify_address as classify_address
from ._candidate import parse_candidate as parse_candidate
from ._errors import RULES as RULES
from ._errors import CandidateDropped as CandidateDropped
from ._errors import CandidateError as CandidateError
from ._errors import IceServerError as IceServerError
from ._errors import SdpError as SdpError
from ._errors import SdpSyntaxError as SdpSyntaxError
from ._errors import SdpValidationError as SdpValidationError
from ._iceservers import IceServer as IceServer
from ._iceservers import IceServerUrl as IceServerUrl
from ._iceservers import TurnCredentials as TurnCredentials
from ._iceservers import mint_turn_credentials as mint_turn_credentials
from ._iceservers import validate_ice_server as validate_ice_server
from ._iceservers import validate_ice_server_url as validate_ice_server_url
from ._model import Attribute as Attribute
from ._model import Line as Line
from ._model import MediaSection as MediaSection
from ._model import Origin as Origin
from ._model import SessionDescription as SessionDescription
from ._model import attribute_to_sdp as attribute_to_sdp
from ._parser import parse as parse
from ._policy import ALWAYS_ALLOWED_CODECS as ALWAYS_ALLOWED_CODECS
from ._policy import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ._policy import DEFAULT_MAX_CANDIDATES as DEFAULT_MAX_CANDIDATES
from ._policy import DEFAULT_MAX_LINE_LENGTH as DEFAULT_MAX_LINE_LENGTH
from ._policy import DEFAULT_MAX_MEDIA_SECTIONS as DEFAULT_MAX_MEDIA_SECTIONS
from ._policy import CandidateAddressPolicy as CandidateAddressPolicy
from ._policy import SdpPolicy as SdpPolicy
from ._trickle import EndOfCandidates as EndOfCandidates
from ._trickle import check_candidate as check_candidate
from ._trickle import validate_candidate as validate_candidate
from ._validate import validate_answer as validate_answer
from ._validate import validate_offer as validate_offer

__all__ = [
    "ALWAYS_ALLOWED_CODECS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_MEDIA_SECTIONS",
    "RULES",
    "Attribute",
    "Candidate",
    "CandidateAddressPolicy",
    "CandidateDropped",
    "CandidateError",
    "EndOfCandidates",
    "Extmap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "IceServer",
    "IceServerError",
    "IceServerUrl",
    "Line",
    "MediaSection",
    "Msid",
    "Origin",
    "Rid",
    "RtcpFb",
    "Rtpmap",
    "SdpError",
    "SdpPolicy",
    "SdpSyntaxError",
    "SdpValidationError",
    "SessionDescription",
    "Simulcast",
    "Ssrc",
    "SsrcGroup",
    "TurnCredentials",
    "attribute_to_sdp",
    "check_candidate",
    "classify_address",
    "mint_turn_credentials",
    "parse",
    "parse_candidate",
    "validate_answer",
    "validate_candidate",
    "validate_ice_server",
    "validate_ice_server_url",
    "validate_offer",
]
