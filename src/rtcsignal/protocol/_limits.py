"""Protocol limits: every bound a frame or a field must respect, with its reason.

These are the defaults; a server announces the ones in force in ``welcome.limits``.
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1
"""The newest wire protocol version this library speaks."""
SUPPORTED_VERSIONS: Final = frozenset({1})
"""Every version a server built from this library accepts in ``hello``."""

MAX_FRAME_BYTES: Final = 65_536
"""A Chromium offer with 3 simulcast video layers and gathered candidates is ~12 KB;
64 KiB leaves 5x headroom and matches the SDP layer's own ``max_bytes`` default."""
MAX_SDP_BYTES: Final = 60_000
"""The SDP text inside a frame: the frame limit minus room for the envelope."""
MAX_CANDIDATE_CHARS: Final = 1_024
"""RFC 8839 candidate lines are ~100-200 chars; vendor extensions stay far below 1 KiB."""
ROOM_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{3,64}$"
"""Room ids: 3-64 URL-safe characters, so they fit in paths, keys and logs unescaped."""
PARTICIPANT_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
"""Server-generated ids (participants, sessions, calls) are URL-safe tokens."""
MAX_REQUEST_ID_CHARS: Final = 64
"""A client-chosen request id (string form); UUIDs are 36."""
MAX_REQUEST_ID_INT: Final = 2**53 - 1
"""JavaScript's largest exact integer: ids survive a round trip through a browser."""
MAX_NAME_CHARS: Final = 64
"""Display names; long enough for any real name, short enough for a tile label."""
MAX_CHAT_CHARS: Final = 2_000
"""About a page of text; matches common chat products' message limits."""
MAX_REACTION_CHARS: Final = 32
"""An emoji sequence (ZWJ families, flags with modifiers) fits in 32 code points."""
MAX_REASON_CHARS: Final = 200
"""Free-text reasons (kick, hang up) are a sentence, not a document."""
MAX_LAYOUT_CHARS: Final = 32
"""Layout names are identifiers such as ``grid`` or ``speaker``."""
MAX_TOKEN_CHARS: Final = 256
"""Resume and invite tokens: server-minted, 32-43 chars; 256 bounds a hostile one."""
MAX_APP_TYPE_CHARS: Final = 64
"""Namespaced application message types, e.g. ``acme.whiteboard.stroke``."""
MAX_APP_PAYLOAD_BYTES: Final = 16_384
"""Application payloads, measured re-encoded as JSON: generous for app state sync,
small enough that a room of 50 does not amplify one message into megabytes."""
MAX_METADATA_BYTES: Final = 1_024
"""A participant's application ``metadata`` (``update_me``), measured re-encoded as
JSON: an avatar URL, a status and a few flags. It rides in every snapshot and every
``participant_updated`` of a room of 50, so it stays small (LiveKit's is similar)."""
MAX_BAN_SECONDS: Final = 30 * 24 * 3600.0
"""The longest timed ban (``kick`` with ``duration``): 30 days; a longer one is a ban
until the room ends (no ``duration``)."""
MAX_INVITEES: Final = 16
"""One call invitation rings at most 16 users (group calls beyond that are rooms)."""
MAX_STATS_KEYS: Final = 64
"""A stats report is a flat summary (bitrate, loss, rtt ...), not a full getStats dump."""
MAX_USER_ID_CHARS: Final = 128
"""Authenticated user ids come from the service's identity provider (emails, UUIDs, subs)."""
MAX_ICE_SERVERS: Final = 16
"""ICE servers announced in ``welcome``: a STUN and a TURN server per region, a few
regions; 16 bounds the welcome (W3C WebRTC §4.2.1 sets no limit)."""
MAX_ICE_URLS: Final = 32
"""URLs of one ICE server (UDP, TCP and TLS per host): the SDP layer's own bound."""
MAX_ICE_URL_CHARS: Final = 2_048
"""A STUN/TURN URI is a host, a port and a transport: under 300 characters in practice."""
MAX_ICE_CREDENTIAL_CHARS: Final = 1_024
"""TURN usernames (RFC 8489 §14.3: under 509 bytes) and passwords or REST credentials
(28-64 characters) fit; 1 KiB bounds a hostile one."""
