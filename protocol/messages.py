"""Every message on the wire, one frozen attrs class per type tag.

Field order is wire order; each field's helper from `protocol.fields` picks
its encoding and enforces its limits. Adding a message means declaring a
class here and listing it in `MESSAGE_CLASSES`; no byte layout is written.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from protocol import fields
from protocol.constants import (
    MAX_CAPABILITIES,
    MAX_MOTD_CHARS,
    MAX_NAME_CHARS,
    MAX_PASSWORD_CHARS,
    MAX_PING_PAYLOAD,
    MAX_QUERY_CHARS,
    MAX_REASON_CHARS,
    MAX_TEXT_CHARS,
    MAX_TOKEN_BYTES,
    MAX_TOPIC_CHARS,
    MAX_USER_LIST_CHUNK,
    TXN_BYTES,
    ErrorCode,
    MessageType,
    ModerationAction,
    RoomActionKind,
    RoomEventKind,
    RoomRole,
)


def _chat_text() -> str:
    return fields.text(MAX_TEXT_CHARS, min_chars=1, too_long=ErrorCode.TEXT_TOO_LONG)  # type: ignore[no-any-return]


def _nick() -> str:
    return fields.text(MAX_NAME_CHARS, min_chars=1)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Hello:
    """Client → server, first frame: who I am and what I can do."""

    TYPE: ClassVar[MessageType] = MessageType.HELLO
    version: int = fields.uint(16)
    client_name: str = fields.text(MAX_NAME_CHARS)
    nick: str = _nick()
    capabilities: tuple[str, ...] = fields.text_list(MAX_CAPABILITIES, MAX_NAME_CHARS)


@attrs.frozen(kw_only=True)
class Welcome:
    """Server → client, accepts Hello: the nick actually assigned and what was agreed."""

    TYPE: ClassVar[MessageType] = MessageType.WELCOME
    version: int = fields.uint(16)
    nick: str = _nick()
    server_name: str = fields.text(MAX_NAME_CHARS)
    capabilities: tuple[str, ...] = fields.text_list(MAX_CAPABILITIES, MAX_NAME_CHARS)
    motd: str = fields.text(MAX_MOTD_CHARS, default="")


@attrs.frozen(kw_only=True)
class Ping:
    """Either way: are you there? The receiver answers Pong with the same payload."""

    TYPE: ClassVar[MessageType] = MessageType.PING
    payload: bytes = fields.blob(MAX_PING_PAYLOAD, default=b"")


@attrs.frozen(kw_only=True)
class Pong:
    """Either way: the answer to a Ping, echoing its payload."""

    TYPE: ClassVar[MessageType] = MessageType.PONG
    payload: bytes = fields.blob(MAX_PING_PAYLOAD, default=b"")


@attrs.frozen(kw_only=True)
class Bye:
    """Either way: I am closing this connection, and why."""

    TYPE: ClassVar[MessageType] = MessageType.BYE
    reason: str = fields.text(MAX_REASON_CHARS, default="")


@attrs.frozen(kw_only=True)
class Error:
    """Mostly server → client: something was refused. `ref` names the request, 0 if none."""

    TYPE: ClassVar[MessageType] = MessageType.ERROR
    code: ErrorCode = fields.enum_field(ErrorCode)
    text: str = fields.text(MAX_REASON_CHARS)
    ref: int = fields.uint(32, default=0)


@attrs.frozen(kw_only=True)
class Limits:
    """Server → client, version 2 with capability `limits`, right after Welcome.

    How fast the client may send: a burst of `rate_burst` frames, then one
    more every `rate_interval_ms`; `flood_kick_after` frames over the limit
    in a row end the connection. `max_frame_size` is the largest frame body
    the server accepts.
    """

    TYPE: ClassVar[MessageType] = MessageType.LIMITS
    rate_burst: int = fields.uint(16)
    rate_interval_ms: int = fields.uint(32)
    flood_kick_after: int = fields.uint(16)
    max_frame_size: int = fields.uint(32)


@attrs.frozen(kw_only=True)
class Identify:
    """Client → server, version 2 with capability `session`: sent right after Hello.

    `token` is the one an earlier `SessionToken` gave (empty for a new
    session); `password` logs in to the account named by Hello's nick.
    """

    TYPE: ClassVar[MessageType] = MessageType.IDENTIFY
    token: bytes = fields.blob(MAX_TOKEN_BYTES, default=b"")
    password: str | None = fields.optional_text(MAX_PASSWORD_CHARS, min_chars=1)


@attrs.frozen(kw_only=True)
class SessionToken:
    """Server → client, version 2 with capability `session`, right after Welcome.

    `token` lets the next connection resume this session. `resumed` is true
    when this connection took over an earlier one of the same session (same
    nick, no join or leave seen by others); `last_ref` is then the highest
    ref of a SendText or SendDirect the server delivered for it, so the
    client resends only what came after. `account` names the account this
    connection is logged in to, absent for a guest.
    """

    TYPE: ClassVar[MessageType] = MessageType.SESSION_TOKEN
    token: bytes = fields.blob(MAX_TOKEN_BYTES)
    account: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)
    resumed: bool = fields.flag(default=False)
    last_ref: int = fields.uint(32, default=0)


@attrs.frozen(kw_only=True)
class SendText:
    """Client → server: say `text` to everyone. `ref` is the client's own request id."""

    TYPE: ClassVar[MessageType] = MessageType.SEND_TEXT
    ref: int = fields.uint(32, default=0)
    text: str = _chat_text()


@attrs.frozen(kw_only=True)
class SendDirect:
    """Client → server: say `text` to `target` only."""

    TYPE: ClassVar[MessageType] = MessageType.SEND_DIRECT
    ref: int = fields.uint(32, default=0)
    target: str = _nick()
    text: str = _chat_text()


@attrs.frozen(kw_only=True)
class Delivered:
    """Server → client: a chat message as the server accepted it.

    `target` is None for a broadcast and the recipient's nick for a direct
    message. `ref` is the sender's request id in the sender's own copy, 0 in
    everyone else's.
    """

    TYPE: ClassVar[MessageType] = MessageType.DELIVERED
    id: int = fields.uint(64)
    timestamp_ms: int = fields.uint(64)
    sender: str = _nick()
    target: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)
    text: str = _chat_text()
    ref: int = fields.uint(32, default=0)


@attrs.frozen(kw_only=True)
class Post:
    """Client → server (capability `history`): say `text`, exactly once.

    `target` absent: to everyone; else to that nick, or to that account
    while it is offline (kept until it logs in). `txn` is the client's own
    random id for this line: sending it again (after a drop, or a restart)
    gets the original confirmation back, never a second message.
    """

    TYPE: ClassVar[MessageType] = MessageType.POST
    ref: int = fields.uint(32, default=0)
    txn: bytes = fields.blob(TXN_BYTES, min_bytes=TXN_BYTES)
    target: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)
    text: str = _chat_text()


@attrs.frozen(kw_only=True)
class FetchHistory:
    """Client → server (capability `history`): stored messages I may see.

    Those with `after` < id < `before` (`before` 0: up to where this
    connection's live messages begin), the newest `limit` of them when
    `after` is 0, else the oldest `limit`. Answered by `Recalled` frames in
    id order and a `HistoryEnd`. `conversation` narrows it to one room
    (`#name`) or the direct messages with one nick; absent: everything.
    """

    TYPE: ClassVar[MessageType] = MessageType.FETCH_HISTORY
    ref: int = fields.uint(32, default=0)
    before: int = fields.uint(64, default=0)
    after: int = fields.uint(64, default=0)
    limit: int = fields.uint(16, default=100)
    conversation: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)


@attrs.frozen(kw_only=True)
class Search:
    """Client → server (capability `history`): stored messages I may see
    that hold every word of `query`; the newest `limit` below `before`."""

    TYPE: ClassVar[MessageType] = MessageType.SEARCH
    ref: int = fields.uint(32, default=0)
    query: str = fields.text(MAX_QUERY_CHARS, min_chars=1)
    before: int = fields.uint(64, default=0)
    limit: int = fields.uint(16, default=50)
    conversation: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)


@attrs.frozen(kw_only=True)
class Recalled:
    """Server → client (capability `history`): one stored message.

    Part of the answer to the request `ref` (FetchHistory or Search), or,
    with `ref` 0 right after login, a direct message kept while offline.
    The other fields are those of `Delivered`.
    """

    TYPE: ClassVar[MessageType] = MessageType.RECALLED
    ref: int = fields.uint(32, default=0)
    id: int = fields.uint(64)
    timestamp_ms: int = fields.uint(64)
    sender: str = _nick()
    target: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)
    text: str = _chat_text()


@attrs.frozen(kw_only=True)
class HistoryEnd:
    """Server → client (capability `history`): the answer to `ref` is complete.

    `count` Recalled frames came before it; `more` is true when further
    matching messages exist beyond them (older for a page or a search,
    newer for a FetchHistory with `after`).
    """

    TYPE: ClassVar[MessageType] = MessageType.HISTORY_END
    ref: int = fields.uint(32, default=0)
    count: int = fields.uint(32, default=0)
    more: bool = fields.flag(default=False)


def _room() -> str:
    return fields.text(MAX_NAME_CHARS, min_chars=1)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class JoinRoom:
    """Client → server (capability `rooms`): join `room`, creating it if new."""

    TYPE: ClassVar[MessageType] = MessageType.JOIN_ROOM
    ref: int = fields.uint(32, default=0)
    room: str = _room()


@attrs.frozen(kw_only=True)
class PartRoom:
    """Client → server (capability `rooms`): leave `room` for good."""

    TYPE: ClassVar[MessageType] = MessageType.PART_ROOM
    ref: int = fields.uint(32, default=0)
    room: str = _room()
    reason: str = fields.text(MAX_REASON_CHARS, default="")


@attrs.frozen(kw_only=True)
class RoomJoined:
    """Server → client (capability `rooms`): you are in `room` now.

    Answers JoinRoom (its ref), or with ref 0 restores a room at login or
    after an invitation was accepted. `RoomMembers` frames follow.
    """

    TYPE: ClassVar[MessageType] = MessageType.ROOM_JOINED
    ref: int = fields.uint(32, default=0)
    room: str = _room()
    topic: str = fields.text(MAX_TOPIC_CHARS, default="")
    invite_only: bool = fields.flag(default=False)
    role: RoomRole = fields.enum_field(RoomRole)


@attrs.frozen(kw_only=True)
class RoomMembers:
    """Server → client (capability `rooms`): one chunk of who is in `room`
    and online; `final` marks the last chunk."""

    TYPE: ClassVar[MessageType] = MessageType.ROOM_MEMBERS
    ref: int = fields.uint(32, default=0)
    room: str = _room()
    nicks: tuple[str, ...] = fields.text_list(MAX_USER_LIST_CHUNK, MAX_NAME_CHARS)
    final: bool = fields.flag(default=True)


@attrs.frozen(kw_only=True)
class ListRooms:
    """Client → server (capability `rooms`): which rooms are there?"""

    TYPE: ClassVar[MessageType] = MessageType.LIST_ROOMS
    ref: int = fields.uint(32, default=0)


@attrs.frozen(kw_only=True)
class RoomInfo:
    """Server → client (capability `rooms`): one room in the answer to
    ListRooms; `final` marks the last."""

    TYPE: ClassVar[MessageType] = MessageType.ROOM_INFO
    ref: int = fields.uint(32, default=0)
    room: str = _room()
    members: int = fields.uint(32, default=0)
    topic: str = fields.text(MAX_TOPIC_CHARS, default="")
    invite_only: bool = fields.flag(default=False)
    final: bool = fields.flag(default=True)


@attrs.frozen(kw_only=True)
class RoomAction:
    """Client → server (capability `rooms`): change something in `room`.

    `target` is the nick concerned (invite, kick, ban, unban, operator,
    deoperator); `text` the topic, or the reason of a kick or ban.
    Answered by `Moderated`, or an Error with the ref.
    """

    TYPE: ClassVar[MessageType] = MessageType.ROOM_ACTION
    ref: int = fields.uint(32, default=0)
    room: str = _room()
    action: RoomActionKind = fields.enum_field(RoomActionKind)
    target: str = fields.text(MAX_NAME_CHARS, default="")
    text: str = fields.text(MAX_TOPIC_CHARS, default="")


@attrs.frozen(kw_only=True)
class RoomEvent:
    """Server → client (capability `rooms`): something happened in `room`.

    `nick` is who it happened to, `actor` who did it (empty when the same),
    `text` the reason, the new topic, or the new role's name.
    """

    TYPE: ClassVar[MessageType] = MessageType.ROOM_EVENT
    room: str = _room()
    kind: RoomEventKind = fields.enum_field(RoomEventKind)
    nick: str = fields.text(MAX_NAME_CHARS, default="")
    actor: str = fields.text(MAX_NAME_CHARS, default="")
    text: str = fields.text(MAX_TOPIC_CHARS, default="")


@attrs.frozen(kw_only=True)
class ListMembers:
    """Client → server (capability `rooms`): who is in `room`? (RoomMembers)"""

    TYPE: ClassVar[MessageType] = MessageType.LIST_MEMBERS
    ref: int = fields.uint(32, default=0)
    room: str = _room()


@attrs.frozen(kw_only=True)
class Typing:
    """Client → server (capability `typing`): I am (or stopped) typing to
    `conversation` (a room, or a nick)."""

    TYPE: ClassVar[MessageType] = MessageType.TYPING
    conversation: str = _room()
    active: bool = fields.flag(default=True)


@attrs.frozen(kw_only=True)
class TypingNotice:
    """Server → client (capability `typing`): `nick` is (or stopped) typing
    in `conversation` (a room, or, for a direct message, the typist's nick)."""

    TYPE: ClassVar[MessageType] = MessageType.TYPING_NOTICE
    conversation: str = _room()
    nick: str = _nick()
    active: bool = fields.flag(default=True)


@attrs.frozen(kw_only=True)
class SetAway:
    """Client → server (capability `away`): I am away (`text` says why), or
    back (empty `text`)."""

    TYPE: ClassVar[MessageType] = MessageType.SET_AWAY
    text: str = fields.text(MAX_REASON_CHARS, default="")


@attrs.frozen(kw_only=True)
class AwayChanged:
    """Server → client (capability `away`): `nick` is away (`text`), or back."""

    TYPE: ClassVar[MessageType] = MessageType.AWAY_CHANGED
    nick: str = _nick()
    text: str = fields.text(MAX_REASON_CHARS, default="")


@attrs.frozen(kw_only=True)
class ListUsers:
    """Client → server: who is online?"""

    TYPE: ClassVar[MessageType] = MessageType.LIST_USERS


@attrs.frozen(kw_only=True)
class UserList:
    """Server → client: one chunk of the online nicks; `final` marks the last chunk."""

    TYPE: ClassVar[MessageType] = MessageType.USER_LIST
    nicks: tuple[str, ...] = fields.text_list(MAX_USER_LIST_CHUNK, MAX_NAME_CHARS)
    final: bool = fields.flag(default=True)


@attrs.frozen(kw_only=True)
class UserJoined:
    """Server → client: `nick` came online."""

    TYPE: ClassVar[MessageType] = MessageType.USER_JOINED
    nick: str = _nick()


@attrs.frozen(kw_only=True)
class UserLeft:
    """Server → client: `nick` went offline, and why."""

    TYPE: ClassVar[MessageType] = MessageType.USER_LEFT
    nick: str = _nick()
    reason: str = fields.text(MAX_REASON_CHARS, default="")


@attrs.frozen(kw_only=True)
class ChangeNick:
    """Client → server: please call me `nick` from now on."""

    TYPE: ClassVar[MessageType] = MessageType.CHANGE_NICK
    ref: int = fields.uint(32, default=0)
    nick: str = _nick()


@attrs.frozen(kw_only=True)
class NickChanged:
    """Server → client: `old` is now called `new` (sent to everyone, the renamed included)."""

    TYPE: ClassVar[MessageType] = MessageType.NICK_CHANGED
    old: str = _nick()
    new: str = _nick()


def _password() -> str:
    return fields.text(MAX_PASSWORD_CHARS, min_chars=1)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Register:
    """Client → server (capability `accounts`): make my current nick an account."""

    TYPE: ClassVar[MessageType] = MessageType.REGISTER
    ref: int = fields.uint(32, default=0)
    password: str = _password()
    invite: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)


@attrs.frozen(kw_only=True)
class ChangePassword:
    """Client → server (capability `accounts`): logs out every other device."""

    TYPE: ClassVar[MessageType] = MessageType.CHANGE_PASSWORD
    ref: int = fields.uint(32, default=0)
    old_password: str = _password()
    new_password: str = _password()


@attrs.frozen(kw_only=True)
class Logout:
    """Client → server (capability `accounts`): forget my token (all, if `everywhere`)."""

    TYPE: ClassVar[MessageType] = MessageType.LOGOUT
    ref: int = fields.uint(32, default=0)
    everywhere: bool = fields.flag(default=False)


@attrs.frozen(kw_only=True)
class AccountStatus:
    """Server → client (capability `accounts`): who this connection is now.

    `token` replaces the one from SessionToken: keep it and give it in the
    next Identify. `account` is absent for a guest.
    """

    TYPE: ClassVar[MessageType] = MessageType.ACCOUNT_STATUS
    ref: int = fields.uint(32, default=0)
    account: str | None = fields.optional_text(MAX_NAME_CHARS, min_chars=1)
    admin: bool = fields.flag(default=False)
    token: bytes = fields.blob(MAX_TOKEN_BYTES, default=b"")


@attrs.frozen(kw_only=True)
class Moderate:
    """Client → server (capability `accounts`, admins): kick, ban, invite…"""

    TYPE: ClassVar[MessageType] = MessageType.MODERATE
    ref: int = fields.uint(32, default=0)
    action: ModerationAction = fields.enum_field(ModerationAction)
    target: str = fields.text(MAX_NAME_CHARS, default="")
    reason: str = fields.text(MAX_REASON_CHARS, default="")
    minutes: int = fields.uint(32, default=0)


@attrs.frozen(kw_only=True)
class Moderated:
    """Server → client (capability `accounts`): a Moderate request was done."""

    TYPE: ClassVar[MessageType] = MessageType.MODERATED
    ref: int = fields.uint(32, default=0)
    text: str = fields.text(MAX_REASON_CHARS)


Message = (
    Hello
    | Welcome
    | Ping
    | Pong
    | Bye
    | Error
    | Limits
    | Identify
    | SessionToken
    | SendText
    | SendDirect
    | Delivered
    | ListUsers
    | UserList
    | UserJoined
    | UserLeft
    | ChangeNick
    | NickChanged
    | Register
    | ChangePassword
    | Logout
    | AccountStatus
    | Moderate
    | Moderated
    | Post
    | FetchHistory
    | Search
    | Recalled
    | HistoryEnd
    | JoinRoom
    | PartRoom
    | RoomJoined
    | RoomMembers
    | ListRooms
    | RoomInfo
    | RoomAction
    | RoomEvent
    | ListMembers
    | Typing
    | TypingNotice
    | SetAway
    | AwayChanged
)
"""Any message that can travel in a frame."""

MESSAGE_CLASSES: tuple[type[Message], ...] = (
    Hello,
    Welcome,
    Ping,
    Pong,
    Bye,
    Error,
    Limits,
    Identify,
    SessionToken,
    SendText,
    SendDirect,
    Delivered,
    ListUsers,
    UserList,
    UserJoined,
    UserLeft,
    ChangeNick,
    NickChanged,
    Register,
    ChangePassword,
    Logout,
    AccountStatus,
    Moderate,
    Moderated,
    Post,
    FetchHistory,
    Search,
    Recalled,
    HistoryEnd,
    JoinRoom,
    PartRoom,
    RoomJoined,
    RoomMembers,
    ListRooms,
    RoomInfo,
    RoomAction,
    RoomEvent,
    ListMembers,
    Typing,
    TypingNotice,
    SetAway,
    AwayChanged,
)

REGISTRY: dict[MessageType, type[Message]] = {cls.TYPE: cls for cls in MESSAGE_CLASSES}
"""Type tag → message class; the single source the decoder dispatches on."""
