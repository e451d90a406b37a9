"""Helpers for testing code that speaks the protocol: golden vectors and a
pair of connected `Connection`s that pass bytes to each other in memory.

The golden vectors are the examples printed in `docs/protocol.md`; the test
suite checks that the encoder produces them and that the document shows them.
"""

from __future__ import annotations

from protocol.connection import Connection, Event, Role
from protocol.constants import (
    PROTOCOL_VERSION,
    ErrorCode,
    ModerationAction,
    RoomActionKind,
    RoomEventKind,
    RoomRole,
)
from protocol.messages import (
    AccountStatus,
    AwayChanged,
    Bye,
    ChangeNick,
    ChangePassword,
    Delivered,
    Error,
    FetchHistory,
    Hello,
    HistoryEnd,
    Identify,
    JoinRoom,
    Limits,
    ListMembers,
    ListRooms,
    ListUsers,
    Logout,
    Message,
    Moderate,
    Moderated,
    NickChanged,
    PartRoom,
    Ping,
    Pong,
    Post,
    Recalled,
    Register,
    RoomAction,
    RoomEvent,
    RoomInfo,
    RoomJoined,
    RoomMembers,
    Search,
    SendDirect,
    SendText,
    SessionToken,
    SetAway,
    Typing,
    TypingNotice,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
)

GOLDEN_VECTORS: tuple[tuple[Message, str], ...] = (
    (
        Hello(
            version=1, client_name="chinwag-tui", nick="ann", capabilities=("typing",)
        ),
        (
            "00 00 00 1f 01 00 01 00 0b 63 68 69 6e 77 61 67 2d 74 75 69 00 03 61 6e 6e"
            " 00 01 00 06 74 79 70 69 6e 67"
        ),
    ),
    (
        Welcome(
            version=1, nick="ann_1", server_name="chinwag", capabilities=(), motd="Hi!"
        ),
        (
            "00 00 00 1a 02 00 01 00 05 61 6e 6e 5f 31 00 07 63 68 69 6e 77 61 67 00 00"
            " 00 03 48 69 21"
        ),
    ),
    (Ping(payload=b"\x00\x2a"), "00 00 00 07 03 00 00 00 02 00 2a"),
    (Pong(payload=b"\x00\x2a"), "00 00 00 07 04 00 00 00 02 00 2a"),
    (Bye(reason="see you"), "00 00 00 0a 05 00 07 73 65 65 20 79 6f 75"),
    (
        Error(code=ErrorCode.UNKNOWN_USER, text="no such user: bob", ref=7),
        (
            "00 00 00 1a 06 00 08 00 11 6e 6f 20 73 75 63 68 20 75 73 65 72 3a 20 62 6f"
            " 62 00 00 00 07"
        ),
    ),
    (
        Limits(
            rate_burst=20,
            rate_interval_ms=100,
            flood_kick_after=50,
            max_frame_size=65536,
        ),
        "00 00 00 0d 07 00 14 00 00 00 64 00 32 00 01 00 00",
    ),
    (Identify(), "00 00 00 06 08 00 00 00 00 00"),
    (
        Identify(token=bytes(range(16))),
        (
            "00 00 00 16 08 00 00 00 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
            " 00"
        ),
    ),
    (
        Identify(password="hunter22"),  # noqa: S106 - the spec's example
        "00 00 00 10 08 00 00 00 00 01 00 08 68 75 6e 74 65 72 32 32",
    ),
    (
        SessionToken(token=bytes(range(16)), resumed=True, last_ref=7),
        (
            "00 00 00 1b 09 00 00 00 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
            " 00 01 00 00 00 07"
        ),
    ),
    (SendText(ref=1, text="hello"), "00 00 00 0c 10 00 00 00 01 00 05 68 65 6c 6c 6f"),
    (
        SendDirect(ref=2, target="bob", text="psst"),
        "00 00 00 10 11 00 00 00 02 00 03 62 6f 62 00 04 70 73 73 74",
    ),
    (
        Delivered(
            id=42, timestamp_ms=1_700_000_000_000, sender="ann", text="hello", ref=1
        ),
        (
            "00 00 00 22 12 00 00 00 00 00 00 00 2a 00 00 01 8b cf e5 68 00 00 03 61 6e"
            " 6e 00 00 05 68 65 6c 6c 6f 00 00 00 01"
        ),
    ),
    (
        Delivered(
            id=43,
            timestamp_ms=1_700_000_000_500,
            sender="ann",
            target="bob",
            text="psst",
        ),
        (
            "00 00 00 26 12 00 00 00 00 00 00 00 2b 00 00 01 8b cf e5 69 f4 00 03 61 6e"
            " 6e 01 00 03 62 6f 62 00 04 70 73 73 74 00 00 00 00"
        ),
    ),
    (ListUsers(), "00 00 00 01 20"),
    (
        UserList(nicks=("ann", "bob"), final=True),
        "00 00 00 0e 21 00 02 00 03 61 6e 6e 00 03 62 6f 62 01",
    ),
    (UserJoined(nick="bob"), "00 00 00 06 22 00 03 62 6f 62"),
    (
        UserLeft(nick="bob", reason="quit"),
        "00 00 00 0c 23 00 03 62 6f 62 00 04 71 75 69 74",
    ),
    (ChangeNick(ref=3, nick="anna"), "00 00 00 0b 24 00 00 00 03 00 04 61 6e 6e 61"),
    (
        NickChanged(old="ann", new="anna"),
        "00 00 00 0c 25 00 03 61 6e 6e 00 04 61 6e 6e 61",
    ),
    (
        Register(ref=4, password="hunter22"),  # noqa: S106 - the spec's example
        "00 00 00 10 30 00 00 00 04 00 08 68 75 6e 74 65 72 32 32 00",
    ),
    (
        AccountStatus(ref=4, account="ann", token=bytes(range(16))),
        (
            "00 00 00 20 33 00 00 00 04 01 00 03 61 6e 6e 00 00 00 00 10 00 01 02 03 04"
            " 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
        ),
    ),
    (
        ChangePassword(ref=6, old_password="a", new_password="b"),  # noqa: S106
        "00 00 00 0b 31 00 00 00 06 00 01 61 00 01 62",
    ),
    (Logout(ref=7, everywhere=True), "00 00 00 06 32 00 00 00 07 01"),
    (
        Moderate(
            ref=8, action=ModerationAction.BAN, target="bob", reason="spam", minutes=60
        ),
        (
            "00 00 00 16 34 00 00 00 08 00 02 00 03 62 6f 62 00 04 73 70 61 6d 00 00 00"
            " 3c"
        ),
    ),
    (
        Moderated(ref=8, text="bob is banned for 60 minutes"),
        (
            "00 00 00 23 35 00 00 00 08 00 1c 62 6f 62 20 69 73 20 62 61 6e 6e 65 64 20"
            " 66 6f 72 20 36 30 20 6d 69 6e 75 74 65 73"
        ),
    ),
    # Version 2, capability history (spec 12.4).
    (
        Post(ref=9, txn=bytes(range(16)), target=None, text="hi"),
        (
            "00 00 00 1e 13 00 00 00 09 00 00 00 10 00 01 02 03 04 05 06 07 08 09 0a 0b"
            " 0c 0d 0e 0f 00 00 02 68 69"
        ),
    ),
    (
        Post(ref=10, txn=bytes(range(16, 32)), target="bob", text="psst"),
        (
            "00 00 00 25 13 00 00 00 0a 00 00 00 10 10 11 12 13 14 15 16 17 18 19 1a 1b"
            " 1c 1d 1e 1f 01 00 03 62 6f 62 00 04 70 73 73 74"
        ),
    ),
    (
        FetchHistory(ref=11, before=0, after=0, limit=100),
        (
            "00 00 00 18 40 00 00 00 0b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
            " 00 64 00"
        ),
    ),
    (
        FetchHistory(ref=12, before=0, after=41, limit=500),
        (
            "00 00 00 18 40 00 00 00 0c 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 29"
            " 01 f4 00"
        ),
    ),
    (
        Search(ref=13, query="lunch", before=0, limit=50),
        (
            "00 00 00 17 41 00 00 00 0d 00 05 6c 75 6e 63 68 00 00 00 00 00 00 00 00 00"
            " 32 00"
        ),
    ),
    (
        Recalled(
            ref=11,
            id=42,
            timestamp_ms=1_700_000_000_000,
            sender="bob",
            target=None,
            text="hi",
        ),
        (
            "00 00 00 1f 42 00 00 00 0b 00 00 00 00 00 00 00 2a 00 00 01 8b cf e5 68 00"
            " 00 03 62 6f 62 00 00 02 68 69"
        ),
    ),
    (
        Recalled(
            ref=0,
            id=43,
            timestamp_ms=1_700_000_060_000,
            sender="bob",
            target="ann",
            text="psst",
        ),
        (
            "00 00 00 26 42 00 00 00 00 00 00 00 00 00 00 00 2b 00 00 01 8b cf e6 52 60"
            " 00 03 62 6f 62 01 00 03 61 6e 6e 00 04 70 73 73 74"
        ),
    ),
    (
        HistoryEnd(ref=11, count=1, more=True),
        "00 00 00 0a 43 00 00 00 0b 00 00 00 01 01",
    ),
    # Version 2, capabilities rooms, typing and away (spec 12.5, 12.6).
    (
        JoinRoom(ref=14, room="#rust"),
        "00 00 00 0c 50 00 00 00 0e 00 05 23 72 75 73 74",
    ),
    (
        RoomJoined(
            ref=14, room="#rust", topic="crabs", invite_only=False, role=RoomRole.OWNER
        ),
        (
            "00 00 00 16 52 00 00 00 0e 00 05 23 72 75 73 74 00 05 63 72 61 62 73 00 00"
            " 02"
        ),
    ),
    (
        RoomMembers(ref=14, room="#rust", nicks=("ann", "bob"), final=True),
        (
            "00 00 00 19 53 00 00 00 0e 00 05 23 72 75 73 74 00 02 00 03 61 6e 6e 00 03"
            " 62 6f 62 01"
        ),
    ),
    (
        PartRoom(ref=15, room="#rust", reason="bye"),
        "00 00 00 11 51 00 00 00 0f 00 05 23 72 75 73 74 00 03 62 79 65",
    ),
    (
        ListRooms(ref=16),
        "00 00 00 05 54 00 00 00 10",
    ),
    (
        RoomInfo(
            ref=16,
            room="#rust",
            members=2,
            topic="crabs",
            invite_only=False,
            final=True,
        ),
        (
            "00 00 00 19 55 00 00 00 10 00 05 23 72 75 73 74 00 00 00 02 00 05 63 72 61"
            " 62 73 00 01"
        ),
    ),
    (
        RoomAction(
            ref=17, room="#rust", action=RoomActionKind.KICK, target="bob", text="spam"
        ),
        (
            "00 00 00 19 56 00 00 00 11 00 05 23 72 75 73 74 00 03 00 03 62 6f 62 00 04"
            " 73 70 61 6d"
        ),
    ),
    (
        RoomEvent(
            room="#rust",
            kind=RoomEventKind.KICKED,
            nick="bob",
            actor="ann",
            text="spam",
        ),
        (
            "00 00 00 1a 57 00 05 23 72 75 73 74 00 03 00 03 62 6f 62 00 03 61 6e 6e 00"
            " 04 73 70 61 6d"
        ),
    ),
    (
        ListMembers(ref=18, room="#rust"),
        "00 00 00 0c 58 00 00 00 12 00 05 23 72 75 73 74",
    ),
    (
        Typing(conversation="#rust", active=True),
        "00 00 00 09 60 00 05 23 72 75 73 74 01",
    ),
    (
        TypingNotice(conversation="#rust", nick="ann", active=True),
        "00 00 00 0e 61 00 05 23 72 75 73 74 00 03 61 6e 6e 01",
    ),
    (
        SetAway(text="lunch"),
        "00 00 00 08 62 00 05 6c 75 6e 63 68",
    ),
    (
        AwayChanged(nick="ann", text="lunch"),
        "00 00 00 0d 63 00 03 61 6e 6e 00 05 6c 75 6e 63 68",
    ),
)


class ConnectionPair:
    """A client and a server `Connection` wired back to back in memory."""

    def __init__(self) -> None:
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER)

    def peer_of(self, conn: Connection) -> Connection:
        return self.server if conn is self.client else self.client

    def send(self, conn: Connection, message: Message) -> list[Event]:
        """Send `message` from `conn`; return what the other end receives."""
        data = conn.send(message)
        return list(self.peer_of(conn).receive_data(data))

    def handshake(self, nick: str = "ann") -> None:
        """Bring both ends to OPEN with a plain Hello/Welcome exchange."""
        self.send(
            self.client,
            Hello(version=PROTOCOL_VERSION, client_name="test", nick=nick),
        )
        self.send(
            self.server,
            Welcome(version=PROTOCOL_VERSION, nick=nick, server_name="test"),
        )
