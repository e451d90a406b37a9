"""Wire constants: message type tags, error codes, struct formats and limits.

Every number that appears on the wire or bounds it lives here, so the spec
(`docs/protocol.md`) and the code have one place to agree on.
"""

from __future__ import annotations

import enum
import struct

PROTOCOL_VERSION = 2
"""The highest protocol version this package speaks."""

MIN_PROTOCOL_VERSION = 1
"""The lowest protocol version this package still speaks."""

FRAME_HEADER = struct.Struct(">I")
"""Every frame starts with the body length as a 4-byte big-endian unsigned int."""

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")

DEFAULT_MAX_FRAME_SIZE = 64 * 1024
"""Largest body length accepted by default; peers may agree on less, never more."""

MAX_STRING_BYTES = 0xFFFF
"""Strings carry a u16 byte length, so no string can be longer than this."""

MAX_LIST_ITEMS = 0xFFFF
"""Lists carry a u16 item count."""

MAX_TEXT_CHARS = 4000
"""A chat message holds at most this many characters (code points)."""

MAX_NICK_CHARS = 32
"""A nickname holds at most this many characters after NFC normalisation."""

MAX_NAME_CHARS = 64
"""Client and server names, and capability tokens, are at most this long."""

MAX_REASON_CHARS = 400
"""Bye reasons, error texts and the message of the day are bounded too."""

MAX_MOTD_CHARS = 2000

MAX_CAPABILITIES = 64

MAX_TOKEN_BYTES = 64
"""Session tokens (Identify, SessionToken) are opaque and at most this long."""

MAX_PASSWORD_CHARS = 256
"""A password sent in Identify is 1 to this many characters."""

MIN_MAX_FRAME_SIZE = 17_033
"""No server limit may be lower: the largest legal client frame (a Hello with
every field at its limit in 4-byte UTF-8) has this many body bytes."""

CAP_LIMITS = "limits"
"""Version 2 capability: the server sends `Limits` right after Welcome."""

CAP_SESSION = "session"
"""Version 2 capability: Identify after Hello, `SessionToken` after Welcome,
so a client that drops can take its nick (and its place) back."""

CAP_ACCOUNTS = "accounts"
"""Version 2 capability: registration, login, tokens, moderation (spec 12.3)."""

CAP_HISTORY = "history"
"""Version 2 capability: stored messages, `Post` with transaction ids,
`FetchHistory` and `Search` (spec 12.4). Needs `session`."""

CAP_ROOMS = "rooms"
"""Version 2 capability: rooms besides #lobby (spec 12.5). Needs `session`
and `history`."""

CAP_TYPING = "typing"
"""Version 2 capability: typing notices (spec 12.6)."""

CAP_AWAY = "away"
"""Version 2 capability: away status (spec 12.6)."""

MAX_TOPIC_CHARS = 400
"""A room topic is at most this long."""

TXN_BYTES = 16
"""A `Post`'s transaction id is exactly this many client-made random bytes."""

MAX_HISTORY_PAGE = 500
"""A FetchHistory or Search answers with at most this many messages."""

MAX_QUERY_CHARS = 400
"""A Search query is 1 to this many characters."""

MAX_USER_LIST_CHUNK = 200
"""A server sends at most this many nicks per UserList frame (200 * 130 B < 64 KiB)."""


class MessageType(enum.IntEnum):
    """The one-byte tag that opens every frame body."""

    HELLO = 0x01
    WELCOME = 0x02
    PING = 0x03
    PONG = 0x04
    BYE = 0x05
    ERROR = 0x06
    LIMITS = 0x07
    IDENTIFY = 0x08
    SESSION_TOKEN = 0x09
    SEND_TEXT = 0x10
    SEND_DIRECT = 0x11
    DELIVERED = 0x12
    POST = 0x13
    LIST_USERS = 0x20
    USER_LIST = 0x21
    USER_JOINED = 0x22
    USER_LEFT = 0x23
    CHANGE_NICK = 0x24
    NICK_CHANGED = 0x25
    REGISTER = 0x30
    CHANGE_PASSWORD = 0x31
    LOGOUT = 0x32
    ACCOUNT_STATUS = 0x33
    MODERATE = 0x34
    MODERATED = 0x35
    FETCH_HISTORY = 0x40
    SEARCH = 0x41
    RECALLED = 0x42
    HISTORY_END = 0x43
    JOIN_ROOM = 0x50
    PART_ROOM = 0x51
    ROOM_JOINED = 0x52
    ROOM_MEMBERS = 0x53
    LIST_ROOMS = 0x54
    ROOM_INFO = 0x55
    ROOM_ACTION = 0x56
    ROOM_EVENT = 0x57
    LIST_MEMBERS = 0x58
    TYPING = 0x60
    TYPING_NOTICE = 0x61
    SET_AWAY = 0x62
    AWAY_CHANGED = 0x63


class ErrorCode(enum.IntEnum):
    """Why something was refused; carried as a u16 in Error frames."""

    MALFORMED_FRAME = 1
    FRAME_TOO_LARGE = 2
    UNKNOWN_MESSAGE_TYPE = 3
    UNEXPECTED_MESSAGE = 4
    UNSUPPORTED_VERSION = 5
    INVALID_NICK = 6
    NICK_IN_USE = 7
    UNKNOWN_USER = 8
    TEXT_TOO_LONG = 9
    INVALID_FIELD = 10
    RATE_LIMITED = 11
    SERVER_FULL = 12
    HANDSHAKE_TIMEOUT = 13
    SLOW_CONSUMER = 14
    PING_TIMEOUT = 15
    INTERNAL_ERROR = 16
    # Version 2, capability "accounts" only (spec 12.3): never sent to others.
    AUTH_FAILED = 17
    ACCOUNT_REQUIRED = 18
    NOT_PERMITTED = 19
    BANNED = 20
    TRY_LATER = 21
    # Version 2, capability "rooms" only (spec 12.5).
    NO_SUCH_ROOM = 22


class ModerationAction(enum.IntEnum):
    """What a `Moderate` request asks for (spec 12.3)."""

    KICK = 1
    BAN = 2
    UNBAN = 3
    INVITE = 4
    PROMOTE = 5


class RoomRole(enum.IntEnum):
    """What a member may do in a room (spec 12.5)."""

    MEMBER = 0
    OPERATOR = 1
    OWNER = 2


class RoomActionKind(enum.IntEnum):
    """What a `RoomAction` asks for (spec 12.5)."""

    TOPIC = 1
    INVITE = 2
    KICK = 3
    BAN = 4
    UNBAN = 5
    OPERATOR = 6
    DEOPERATOR = 7
    INVITE_ONLY = 8
    OPEN = 9


class RoomEventKind(enum.IntEnum):
    """What a `RoomEvent` tells (spec 12.5)."""

    JOINED = 1
    LEFT = 2
    KICKED = 3
    BANNED = 4
    TOPIC = 5
    ROLE = 6
    INVITE_ONLY = 7
    OPEN = 8
    INVITED = 9


MAX_PING_PAYLOAD = 64
"""Ping and Pong carry an opaque payload of at most this many bytes."""
