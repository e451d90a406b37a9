"""Chinwag's wire protocol: typed messages, framing and a sans-IO connection.

This package does no I/O and imports nothing else from the project.
"""

from __future__ import annotations

from protocol.codec import decode_body, encode_body, encode_frame
from protocol.connection import TRANSITIONS, Connection, Event, Rejected, Role, State
from protocol.constants import (
    DEFAULT_MAX_FRAME_SIZE,
    MAX_NICK_CHARS,
    MAX_TEXT_CHARS,
    MAX_USER_LIST_CHUNK,
    PROTOCOL_VERSION,
    ErrorCode,
    MessageType,
)
from protocol.errors import (
    FrameTooLarge,
    InvalidMessage,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from protocol.framing import FrameDecoder, frame
from protocol.messages import (
    MESSAGE_CLASSES,
    Bye,
    ChangeNick,
    Delivered,
    Error,
    Hello,
    ListUsers,
    Message,
    NickChanged,
    Ping,
    Pong,
    SendDirect,
    SendText,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
)
from protocol.nicks import InvalidNick, is_valid_nick, nick_key, normalize_nick

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MAX_NICK_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_USER_LIST_CHUNK",
    "MESSAGE_CLASSES",
    "PROTOCOL_VERSION",
    "TRANSITIONS",
    "Bye",
    "ChangeNick",
    "Connection",
    "Delivered",
    "Error",
    "ErrorCode",
    "Event",
    "FrameDecoder",
    "FrameTooLarge",
    "Hello",
    "InvalidMessage",
    "InvalidNick",
    "ListUsers",
    "LocalProtocolError",
    "Message",
    "MessageType",
    "NickChanged",
    "Ping",
    "Pong",
    "ProtocolError",
    "Rejected",
    "RemoteProtocolError",
    "Role",
    "SendDirect",
    "SendText",
    "State",
    "UserJoined",
    "UserLeft",
    "UserList",
    "Welcome",
    "decode_body",
    "encode_body",
    "encode_frame",
    "frame",
    "is_valid_nick",
    "nick_key",
    "normalize_nick",
]
