"""Wire protocol v1: messages, codecs, error codes and limits (pure, no I/O).

See ``docs/protocol.md`` for every message with a JSON example.
"""

from __future__ import annotations

from ._codec import Format as Format
from ._codec import decode_client as decode_client
from ._codec import decode_server as decode_server
from ._codec import encode as encode
from ._codec import encoded_size as encoded_size
from ._codec import encoder as encoder
from ._codec import frame_format as frame_format
from ._errors import BackplaneUnavailable as BackplaneUnavailable
from ._errors import CloseCode as CloseCode
from ._errors import ErrorCode as ErrorCode
from ._errors import InternalFault as InternalFault
from ._errors import PeerError as PeerError
from ._errors import ProtocolError as ProtocolError
from ._errors import SignalingError as SignalingError
from ._errors import UsageError as UsageError
from ._limits import MAX_APP_PAYLOAD_BYTES as MAX_APP_PAYLOAD_BYTES
from ._limits import MAX_APP_TYPE_CHARS as MAX_APP_TYPE_CHARS
from ._limits import MAX_BAN_SECONDS as MAX_BAN_SECONDS
from ._limits import MAX_CANDIDATE_CHARS as MAX_CANDIDATE_CHARS
from ._limits import MAX_CHAT_CHARS as MAX_CHAT_CHARS
from ._limits import MAX_FRAME_BYTES as MAX_FRAME_BYTES
from ._limits import MAX_ICE_CREDENTIAL_CHARS as MAX_ICE_CREDENTIAL_CHARS
from ._limits import MAX_ICE_SERVERS as MAX_ICE_SERVERS
from ._limits import MAX_ICE_URL_CHARS as MAX_ICE_URL_CHARS
from ._limits import MAX_ICE_URLS as MAX_ICE_URLS
from ._limits import MAX_INVITEES as MAX_INVITEES
from ._limits import MAX_LAYOUT_CHARS as MAX_LAYOUT_CHARS
from ._limits import MAX_METADATA_BYTES as MAX_METADATA_BYTES
from ._limits import MAX_NAME_CHARS as MAX_NAME_CHARS
from ._limits import MAX_REACTION_CHARS as MAX_REACTION_CHARS
from ._limits import MAX_REASON_CHARS as MAX_REASON_CHARS
from ._limits import MAX_REQUEST_ID_CHARS as MAX_REQUEST_ID_CHARS
from ._limits import MAX_REQUEST_ID_INT as MAX_REQUEST_ID_INT
from ._limits import MAX_SDP_BYTES as MAX_SDP_BYTES
from ._limits import MAX_STATS_KEYS as MAX_STATS_KEYS
from ._limits import MAX_TOKEN_CHARS as MAX_TOKEN_CHARS
from ._limits import MAX_USER_ID_CHARS as MAX_USER_ID_CHARS
from ._limits import PARTICIPANT_ID_PATTERN as PARTICIPANT_ID_PATTERN
from ._limits import PROTOCOL_VERSION as PROTOCOL_VERSION
from ._limits import ROOM_ID_PATTERN as ROOM_ID_PATTERN
from ._limits import SUPPORTED_VERSIONS as SUPPORTED_VERSIONS
from ._messages import Admit as Admit
from ._messages import Answer as Answer
from ._messages import App as App
from ._messages import BansUpdated as BansUpdated
from ._messages import CallAccept as CallAccept
from ._messages import CallCancel as CallCancel
from ._messages import CallDecline as CallDecline
from ._messages import CallEnding as CallEnding
from ._messages import CallHangup as CallHangup
from ._messages import CallInvite as CallInvite
from ._messages import CallUpdated as CallUpdated
from ._messages import Candidate as Candidate
from ._messages import Chat as Chat
from ._messages import ClientMessage as ClientMessage
from ._messages import Directed as Directed
from ._messages import EndOfCandidates as EndOfCandidates
from ._messages import Error as Error
from ._messages import Event as Event
from ._messages import GoingAway as GoingAway
from ._messages import Hello as Hello
from ._messages import HostChanged as HostChanged
from ._messages import IncomingCall as IncomingCall
from ._messages import Join as Join
from ._messages import Kick as Kick
from ._messages import Leave as Leave
from ._messages import LobbyUpdated as LobbyUpdated
from ._messages import LobbyWait as LobbyWait
from ._messages import Lock as Lock
from ._messages import MediaState as MediaState
from ._messages import Message as Message
from ._messages import Mute as Mute
from ._messages import Muted as Muted
from ._messages import NegotiationReset as NegotiationReset
from ._messages import Offer as Offer
from ._messages import Ok as Ok
from ._messages import ParticipantJoined as ParticipantJoined
from ._messages import ParticipantLeft as ParticipantLeft
from ._messages import ParticipantUpdated as ParticipantUpdated
from ._messages import Ping as Ping
from ._messages import Pong as Pong
from ._messages import Reaction as Reaction
from ._messages import Recording as Recording
from ._messages import Relayed as Relayed
from ._messages import Removed as Removed
from ._messages import Request as Request
from ._messages import RoleChanged as RoleChanged
from ._messages import RoomRequest as RoomRequest
from ._messages import RoomSnapshot as RoomSnapshot
from ._messages import RoomUpdated as RoomUpdated
from ._messages import ServerLimits as ServerLimits
from ._messages import ServerMessage as ServerMessage
from ._messages import SetLayout as SetLayout
from ._messages import SetRole as SetRole
from ._messages import Stats as Stats
from ._messages import TransferHost as TransferHost
from ._messages import Typing as Typing
from ._messages import Unban as Unban
from ._messages import UpdateMe as UpdateMe
from ._messages import Welcome as Welcome
from ._types import AssignableRole as AssignableRole
from ._types import BanEntry as BanEntry
from ._types import CallEndReason as CallEndReason
from ._types import CallInfo as CallInfo
from ._types import CallStateName as CallStateName
from ._types import ChatText as ChatText
from ._types import Emoji as Emoji
from ._types import IceCredential as IceCredential
from ._types import IceServer as IceServer
from ._types import IceUrl as IceUrl
from ._types import JoinPolicyName as JoinPolicyName
from ._types import Layout as Layout
from ._types import LeaveReason as LeaveReason
from ._types import LobbyEntry as LobbyEntry
from ._types import Name as Name
from ._types import ParticipantInfo as ParticipantInfo
from ._types import PeerId as PeerId
from ._types import PresenceState as PresenceState
from ._types import Reason as Reason
from ._types import RecordingAction as RecordingAction
from ._types import RecordingState as RecordingState
from ._types import RequestId as RequestId
from ._types import Role as Role
from ._types import RoomId as RoomId
from ._types import Seq as Seq
from ._types import Token as Token
from ._types import UserId as UserId

__all__ = [
    "MAX_APP_PAYLOAD_BYTES",
    "MAX_APP_TYPE_CHARS",
    "MAX_BAN_SECONDS",
    "MAX_CANDIDATE_CHARS",
    "MAX_CHAT_CHARS",
    "MAX_FRAME_BYTES",
    "MAX_ICE_CREDENTIAL_CHARS",
    "MAX_ICE_SERVERS",
    "MAX_ICE_URLS",
    "MAX_ICE_URL_CHARS",
    "MAX_INVITEES",
    "MAX_LAYOUT_CHARS",
    "MAX_METADATA_BYTES",
    "MAX_NAME_CHARS",
    "MAX_REACTION_CHARS",
    "MAX_REASON_CHARS",
    "MAX_REQUEST_ID_CHARS",
    "MAX_REQUEST_ID_INT",
    "MAX_SDP_BYTES",
    "MAX_STATS_KEYS",
    "MAX_TOKEN_CHARS",
    "MAX_USER_ID_CHARS",
    "PARTICIPANT_ID_PATTERN",
    "PROTOCOL_VERSION",
    "ROOM_ID_PATTERN",
    "SUPPORTED_VERSIONS",
    "Admit",
    "Answer",
    "App",
    "AssignableRole",
    "BackplaneUnavailable",
    "BanEntry",
    "BansUpdated",
    "CallAccept",
    "CallCancel",
    "CallDecline",
    "CallEndReason",
    "CallEnding",
    "CallHangup",
    "CallInfo",
    "CallInvite",
    "CallStateName",
    "CallUpdated",
    "Candidate",
    "Chat",
    "ChatText",
    "ClientMessage",
    "CloseCode",
    "Directed",
    "Emoji",
    "EndOfCandidates",
    "Error",
    "ErrorCode",
    "Event",
    "Format",
    "GoingAway",
    "Hello",
    "HostChanged",
    "IceCredential",
    "IceServer",
    "IceUrl",
    "IncomingCall",
    "InternalFault",
    "Join",
    "JoinPolicyName",
    "Kick",
    "Layout",
    "Leave",
    "LeaveReason",
    "LobbyEntry",
    "LobbyUpdated",
    "LobbyWait",
    "Lock",
    "MediaState",
    "Message",
    "Mute",
    "Muted",
    "Name",
    "NegotiationReset",
    "Offer",
    "Ok",
    "ParticipantInfo",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantUpdated",
    "PeerError",
    "PeerId",
    "Ping",
    "Pong",
    "PresenceState",
    "ProtocolError",
    "Reaction",
    "Reason",
    "Recording",
    "RecordingAction",
    "RecordingState",
    "Relayed",
    "Removed",
    "Request",
    "RequestId",
    "Role",
    "RoleChanged",
    "RoomId",
    "RoomRequest",
    "RoomSnapshot",
    "RoomUpdated",
    "Seq",
    "ServerLimits",
    "ServerMessage",
    "SetLayout",
    "SetRole",
    "SignalingError",
    "Stats",
    "Token",
    "TransferHost",
    "Typing",
    "Unban",
    "UpdateMe",
    "UsageError",
    "UserId",
    "Welcome",
    "decode_client",
    "decode_server",
    "encode",
    "encoded_size",
    "encoder",
    "frame_format",
]
