"""Test helpers for code built on the session core: a manual clock and a
driver that plays the UI thread for a `ChatClient` without any UI."""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Callable

import attrs

from clients.core import events as ev
from clients.core.client import ChatClient
from clients.core.formatting import address_label
from clients.core.journal import Journal
from clients.core.session import AccountSettings, Backoff, ChatSession
from clients.core.tls import TlsInfo
from clients.core.transport import Closed, Connected, DataReceived, TransportEvent
from protocol import (
    CAP_ACCOUNTS,
    CAP_AWAY,
    CAP_HISTORY,
    CAP_LIMITS,
    CAP_ROOMS,
    CAP_SESSION,
    CAP_TYPING,
    LOBBY,
    MAX_HISTORY_PAGE,
    AccountStatus,
    AwayChanged,
    ChangePassword,
    Connection,
    Delivered,
    Error,
    ErrorCode,
    FetchHistory,
    Hello,
    HistoryEnd,
    Identify,
    JoinRoom,
    Limits,
    ListMembers,
    ListRooms,
    ListUsers,
    Message,
    Moderated,
    PartRoom,
    Post,
    Recalled,
    Register,
    Rejected,
    Role,
    RoomAction,
    RoomActionKind,
    RoomEvent,
    RoomEventKind,
    RoomInfo,
    RoomJoined,
    RoomMembers,
    RoomRole,
    Search,
    SessionToken,
    SetAway,
    UserList,
    Welcome,
    is_room,
    nick_key,
    normalize_room,
    room_key,
)

FAKE_TOKEN = b"fake-session-token-0123456789abc"
ACCOUNT_TOKEN = b"account-login-token-0123456789ab"
"""The login token `PlayedServer` hands out when it offers accounts."""

_fake_ids = itertools.count(1_000_000)


class ManualClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


PLAYED_EPOCH_MS = 1_772_366_400_000
"""When `PlayedHistory`'s first message was said, unless told: 2026-03-01 12:00 UTC."""


@attrs.frozen(kw_only=True)
class StoredMessage:
    """One message a `PlayedHistory` keeps."""

    id: int
    timestamp_ms: int
    sender: str
    target: str | None
    text: str

    def recalled(self, ref: int) -> Recalled:
        return Recalled(
            ref=ref,
            id=self.id,
            timestamp_ms=self.timestamp_ms,
            sender=self.sender,
            target=self.target,
            text=self.text,
        )

    def delivered(self, ref: int = 0) -> Delivered:
        return Delivered(
            id=self.id,
            timestamp_ms=self.timestamp_ms,
            sender=self.sender,
            target=self.target,
            text=self.text,
            ref=ref,
        )

    def visible_to(self, nick: str) -> bool:
        return (
            self.target is None
            or is_room(self.target)
            or nick_key(nick)
            in {
                nick_key(self.sender),
                nick_key(self.target),
            }
        )

    def in_conversation(self, conversation: str | None, nick: str) -> bool:
        """Whether it belongs to `conversation` (None: any) as `nick` sees it."""
        if conversation is None:
            return True
        if is_room(conversation):
            if room_key(conversation) == room_key(LOBBY):
                return self.target is None
            return self.target is not None and (
                is_room(self.target) and room_key(self.target) == room_key(conversation)
            )
        if self.target is None or is_room(self.target):
            return False
        other = self.target if nick_key(self.sender) == nick_key(nick) else self.sender
        return nick_key(other) == nick_key(conversation)


class PlayedHistory:
    """A server's stored messages, for a `FakeTransport` that speaks history.

    Shared by every transport a factory makes, so it outlives reconnections
    like a real server's database. It answers `FetchHistory` and `Search` as
    the spec says (a page below the join point, or the oldest after `after`),
    keeps each `Post` once per `txn`, and can hand out direct messages kept
    while offline (`offline`). Everyone may see every message to everyone and
    the direct messages they sent or received (by nick).

    Args:
        page_limit: answer at most this many messages at once (the server
            may send fewer than asked), so `more` is exercised.
    """

    def __init__(self, *, page_limit: int = MAX_HISTORY_PAGE) -> None:
        self.messages: list[StoredMessage] = []
        self.offline: list[StoredMessage] = []
        self.page_limit = page_limit
        self.refuse: ErrorCode | None = None
        self._txns: dict[bytes, StoredMessage] = {}

    @property
    def last_id(self) -> int:
        return self.messages[-1].id if self.messages else 0

    def add(
        self,
        sender: str,
        text: str,
        *,
        target: str | None = None,
        timestamp_ms: int | None = None,
    ) -> StoredMessage:
        """Store a message (someone said it), with the next id."""
        message_id = self.last_id + 1
        message = StoredMessage(
            id=message_id,
            timestamp_ms=(
                PLAYED_EPOCH_MS + message_id * 1000
                if timestamp_ms is None
                else timestamp_ms
            ),
            sender=sender,
            target=target,
            text=text,
        )
        self.messages.append(message)
        return message

    def keep_for_later(self, sender: str, target: str, text: str) -> StoredMessage:
        """A direct message to `target` while offline: stored, and handed
        out (Recalled ref 0) at `target`'s next login."""
        message = self.add(sender, text, target=target)
        self.offline.append(message)
        return message

    def post(self, sender: str, post: Post) -> StoredMessage:
        """Store a `Post` once per `txn`; a repeat returns the stored one."""
        stored = self._txns.get(post.txn)
        if stored is None:
            stored = self.add(sender, post.text, target=post.target)
            self._txns[post.txn] = stored
        return stored

    def answer(
        self,
        request: FetchHistory | Search,
        nick: str,
        join: int,
        rooms: frozenset[str] | None = None,
    ) -> list[Message]:
        """The Recalled frames and HistoryEnd for `request` (or an Error).

        Args:
            rooms: the keys of the rooms `nick` is in (None: every room's
                messages are visible).
        """
        if self.refuse is not None:
            return [Error(code=self.refuse, text="history refused", ref=request.ref)]
        mine = [
            m
            for m in self.messages
            if m.visible_to(nick)
            and m.in_conversation(request.conversation, nick)
            and (
                rooms is None
                or m.target is None
                or not is_room(m.target)
                or room_key(m.target) in rooms
            )
        ]
        limit = max(1, min(request.limit, self.page_limit))
        if isinstance(request, Search):
            words = request.query.casefold().split()
            found = [
                m
                for m in mine
                if (request.before == 0 or m.id < request.before)
                and all(word in m.text.casefold() for word in words)
            ]
            chosen, more = found[-limit:], len(found) > limit
        else:
            before = request.before or join + 1
            found = [m for m in mine if request.after < m.id < before]
            if request.after == 0:
                chosen, more = found[-limit:], len(found) > limit
            else:
                chosen, more = found[:limit], len(found) > limit
        return [
            *(m.recalled(request.ref) for m in chosen),
            HistoryEnd(ref=request.ref, count=len(chosen), more=more),
        ]

    def take_offline(self, nick: str) -> list[Message]:
        """Direct messages kept for `nick`, then HistoryEnd (ref 0)."""
        kept = [
            m
            for m in self.offline
            if m.target is not None and nick_key(m.target) == nick_key(nick)
        ]
        if not kept:
            return []
        self.offline = [m for m in self.offline if m not in kept]
        return [
            *(m.recalled(0) for m in kept),
            HistoryEnd(ref=0, count=len(kept)),
        ]


@attrs.define
class PlayedRoom:
    """One room of `PlayedRooms`: members are nick keys with their nick and role."""

    name: str
    topic: str = ""
    invite_only: bool = False
    members: dict[str, tuple[str, RoomRole]] = attrs.field(factory=dict)

    def nicks(self) -> tuple[str, ...]:
        return tuple(sorted((n for n, _ in self.members.values()), key=nick_key))


class PlayedRooms:
    """A server's rooms, for a `FakeTransport` that speaks rooms, typing and
    away (spec 12.5, 12.6).

    Shared by every transport a factory makes, so memberships outlive
    reconnections like an account's: each login gets `RoomJoined(ref 0)`
    and `RoomMembers(ref 0)` for the rooms its nick is in. Every member
    counts as online. It answers JoinRoom (creating the room, the joiner its
    owner), PartRoom, ListRooms, ListMembers, a topic set by anyone, and
    SetAway (AwayChanged back); Typing goes nowhere. Other people's doings
    are played with `FakeTransport.deliver`.
    """

    def __init__(self) -> None:
        self.rooms: dict[str, PlayedRoom] = {}
        self.away: dict[str, tuple[str, str]] = {}

    def add(
        self, name: str, *members: str, topic: str = "", owner: str | None = None
    ) -> PlayedRoom:
        """A room that exists already, with these members (`owner` owns it)."""
        room = self.rooms.setdefault(room_key(name), PlayedRoom(normalize_room(name)))
        room.topic = topic
        for nick in members:
            role = RoomRole.OWNER if nick == owner else RoomRole.MEMBER
            room.members[nick_key(nick)] = (nick, role)
        return room

    def of(self, nick: str) -> list[PlayedRoom]:
        return sorted(
            (r for r in self.rooms.values() if nick_key(nick) in r.members),
            key=lambda r: room_key(r.name),
        )

    def entered(self, room: PlayedRoom, nick: str, ref: int) -> list[Message]:
        role = room.members[nick_key(nick)][1]
        return [
            RoomJoined(
                ref=ref,
                room=room.name,
                topic=room.topic,
                invite_only=room.invite_only,
                role=role,
            ),
            RoomMembers(ref=ref, room=room.name, nicks=room.nicks(), final=True),
        ]

    def answer(self, message: Message, nick: str) -> list[Message]:  # noqa: C901, PLR0911, PLR0912 - one arm per request
        """The server's answer to a room or away request from `nick`."""
        match message:
            case JoinRoom(ref=ref, room=name):
                room = self.rooms.get(room_key(name))
                if room is None:
                    room = self.rooms[room_key(name)] = PlayedRoom(normalize_room(name))
                    room.members[nick_key(nick)] = (nick, RoomRole.OWNER)
                room.members.setdefault(nick_key(nick), (nick, RoomRole.MEMBER))
                return self.entered(room, nick, ref)
            case PartRoom(ref=ref, room=name, reason=reason):
                room = self.rooms.get(room_key(name))
                if room is None or nick_key(nick) not in room.members:
                    return [_no_such_room(ref, name)]
                del room.members[nick_key(nick)]
                return [
                    RoomEvent(
                        room=room.name, kind=RoomEventKind.LEFT, nick=nick, text=reason
                    )
                ]
            case ListRooms(ref=ref):
                infos = [RoomInfo(ref=ref, room=LOBBY, members=1)]
                infos += [
                    RoomInfo(
                        ref=ref,
                        room=r.name,
                        members=len(r.members),
                        topic=r.topic,
                        invite_only=r.invite_only,
                    )
                    for r in sorted(self.rooms.values(), key=lambda r: room_key(r.name))
                ]
                return [attrs.evolve(i, final=i is infos[-1]) for i in infos]
            case ListMembers(ref=ref, room=name):
                room = self.rooms.get(room_key(name))
                if room is None or nick_key(nick) not in room.members:
                    return [_no_such_room(ref, name)]
                return [RoomMembers(ref=ref, room=room.name, nicks=room.nicks())]
            case RoomAction(ref=ref, room=name, action=RoomActionKind.TOPIC, text=text):
                room = self.rooms.get(room_key(name))
                if room is None:
                    return [_no_such_room(ref, name)]
                room.topic = text
                return [
                    Moderated(ref=ref, text=f"topic of {room.name} set"),
                    RoomEvent(
                        room=room.name, kind=RoomEventKind.TOPIC, nick=nick, text=text
                    ),
                ]
            case RoomAction(ref=ref):
                return [Error(code=ErrorCode.NOT_PERMITTED, text="not played", ref=ref)]
            case SetAway(text=text):
                if text:
                    self.away[nick_key(nick)] = (nick, text)
                else:
                    self.away.pop(nick_key(nick), None)
                return [AwayChanged(nick=nick, text=text)]
        return []


def _no_such_room(ref: int, name: str) -> Error:
    return Error(code=ErrorCode.NO_SUCH_ROOM, text=f"you are not in {name}", ref=ref)


class FakeTransport:
    """Stands in for `Transport` in UI tests: no socket, the test is the server.

    It "connects" at once, records every message the client sends, and can
    answer the handshake and the first user list by itself so a UI reaches
    its connected state without a server. It speaks version 2 with both
    capabilities, with limits too generous to pace a test.

    Args:
        sink: where transport events go, as with the real transport.
        users: the nicks the automatic user list reports (the client's own
            nick is added).
        auto_welcome: answer Hello (and Identify) and ListUsers by itself.
        last_ref: what the automatic SessionToken says was delivered.
        resumed: what the automatic SessionToken says of the session.
        history: speak the `history` capability with these stored messages
            (answers FetchHistory, Search and Post, hands out offline direct
            messages); None (the default): no history, as before.
        rooms: speak `rooms`, `typing` and `away` with these rooms (needs
            `history`, as on a real server); None: none of them.
    """

    instances: list[FakeTransport] = []  # noqa: RUF012 - the tests' registry

    def __init__(
        self,
        sink: Callable[[TransportEvent], object],
        *,
        users: tuple[str, ...] = (),
        auto_welcome: bool = True,
        last_ref: int = 0,
        resumed: bool = False,
        history: PlayedHistory | None = None,
        rooms: PlayedRooms | None = None,
    ) -> None:
        self.id = next(_fake_ids)
        self.history = history
        self.rooms = rooms
        self.join = 0
        self._sink = sink
        self._users = users
        self._auto = auto_welcome
        self._last_ref = last_ref
        self._resumed = resumed
        self._hello: Hello | None = None
        self._caps: frozenset[str] = frozenset()
        self._server = Connection(Role.SERVER)
        self.received: list[Message] = []
        self.nick = ""
        self.closed = False
        FakeTransport.instances.append(self)

    @classmethod
    def factory(
        cls,
        *,
        users: tuple[str, ...] = (),
        auto_welcome: bool = True,
        last_ref: int = 0,
        resumed: bool = False,
        history: PlayedHistory | None = None,
        rooms: PlayedRooms | None = None,
    ) -> Callable[[str, int, Callable[[TransportEvent], object]], FakeTransport]:
        """A `transport_factory` for `ChatClient` making fakes with these options."""

        def make(
            _host: str, _port: int, sink: Callable[[TransportEvent], object]
        ) -> FakeTransport:
            return cls(
                sink,
                users=users,
                auto_welcome=auto_welcome,
                last_ref=last_ref,
                resumed=resumed,
                history=history,
                rooms=rooms,
            )

        return make

    def start(self) -> None:
        self._sink(Connected(self.id))

    def send(self, data: bytes) -> None:
        for message in self._server.receive_data(data):
            assert not isinstance(message, Rejected)  # noqa: S101 - test helper
            self.received.append(message)
            if self._auto:
                self._answer(message)

    def close(self, *, flush: bool = True, timeout: float = 1.0) -> None:  # noqa: ARG002
        self.closed = True

    def deliver(self, *messages: Message) -> None:
        """Play the server: send `messages` to the client."""
        data = b"".join(self._server.send(m) for m in messages)
        self._sink(DataReceived(self.id, data))

    def drop(self, reason: str = "the server closed the connection") -> None:
        """Play a lost connection."""
        self._sink(Closed(self.id, reason))

    def say(self, sender: str, text: str, *, target: str | None = None) -> Delivered:
        """Play someone else talking: stored (with history) and delivered live."""
        if self.history is not None:
            message = self.history.add(sender, text, target=target).delivered()
        else:
            message = Delivered(
                id=next(_fake_ids),
                timestamp_ms=PLAYED_EPOCH_MS,
                sender=sender,
                target=target,
                text=text,
            )
        self.deliver(message)
        return message

    def _answer(self, message: Message) -> None:
        if isinstance(message, Hello):
            self.nick = message.nick
            self._hello = message
            if CAP_SESSION not in message.capabilities:
                self._welcome(message)
        elif isinstance(message, Identify) and self._hello is not None:
            self._welcome(self._hello)
        elif isinstance(message, ListUsers):
            self.deliver(
                UserList(nicks=tuple(sorted({*self._users, self.nick})), final=True)
            )
        elif self.history is not None:
            self._answer_history(message, self.history)
        if self.rooms is not None and CAP_ROOMS in self.capabilities:
            answer = self.rooms.answer(message, self.nick)
            if answer:
                self.deliver(*answer)

    def _answer_history(self, message: Message, history: PlayedHistory) -> None:
        if isinstance(message, Post):
            self.deliver(history.post(self.nick, message).delivered(message.ref))
        elif isinstance(message, FetchHistory | Search):
            rooms = None
            if self.rooms is not None:
                rooms = frozenset(room_key(r.name) for r in self.rooms.of(self.nick))
            self.deliver(*history.answer(message, self.nick, self.join, rooms))

    @property
    def capabilities(self) -> frozenset[str]:
        """What the automatic Welcome enabled."""
        return self._caps

    def _welcome(self, hello: Hello) -> None:
        version = min(hello.version, 2)
        wanted = {CAP_LIMITS, CAP_SESSION} if version >= 2 else set()
        if version >= 2 and self.history is not None:
            wanted.add(CAP_HISTORY)
            self.join = self.history.last_id
            if self.rooms is not None:
                wanted |= {CAP_ROOMS, CAP_TYPING, CAP_AWAY}
        caps = tuple(sorted(wanted.intersection(hello.capabilities)))
        self._caps = frozenset(caps)
        messages: list[Message] = [
            Welcome(
                version=version, nick=hello.nick, server_name="fake", capabilities=caps
            )
        ]
        if CAP_LIMITS in caps:
            messages.append(
                Limits(
                    rate_burst=10_000,
                    rate_interval_ms=1,
                    flood_kick_after=50,
                    max_frame_size=65536,
                )
            )
        if CAP_SESSION in caps:
            messages.append(
                SessionToken(
                    token=FAKE_TOKEN, resumed=self._resumed, last_ref=self._last_ref
                )
            )
        if CAP_ROOMS in caps and self.rooms is not None:
            for room in self.rooms.of(hello.nick):
                messages += self.rooms.entered(room, hello.nick, 0)
        if CAP_HISTORY in caps and self.history is not None:
            messages += self.history.take_offline(hello.nick)
        if CAP_AWAY in caps and self.rooms is not None:
            messages += [
                AwayChanged(nick=n, text=t) for n, t in self.rooms.away.values()
            ]
        self.deliver(*messages)


class PlayedServer(FakeTransport):
    """`FakeTransport` that can show a TLS certificate and offer accounts.

    Args:
        tls: what the "handshake" showed (None: plaintext).
        accounts: enable the accounts capability: a password in Identify
            logs in (the SessionToken names the account), Register and
            ChangePassword succeed.
        history: enable the history capability (see `FakeTransport`).
    """

    def __init__(
        self,
        sink: Callable[[TransportEvent], object],
        *,
        users: tuple[str, ...] = (),
        tls: TlsInfo | None = None,
        accounts: bool = False,
        history: PlayedHistory | None = None,
    ) -> None:
        self._events = sink
        self.tls = tls
        self.accounts = accounts
        super().__init__(sink, users=users, history=history)

    def start(self) -> None:
        self._events(Connected(self.id, tls=self.tls))

    def send(self, data: bytes) -> None:
        seen = len(self.received)
        super().send(data)
        for message in self.received[seen:]:
            if isinstance(message, Register | ChangePassword) and self.accounts:
                self.deliver(
                    AccountStatus(
                        ref=message.ref, account=self.nick, token=ACCOUNT_TOKEN
                    )
                )

    def deliver(self, *messages: Message) -> None:
        super().deliver(*(self._as_configured(m) for m in messages))

    def _as_configured(self, message: Message) -> Message:
        if isinstance(message, Welcome) and self.accounts:
            caps = tuple(sorted({*message.capabilities, CAP_ACCOUNTS}))
            return attrs.evolve(message, capabilities=caps)
        if isinstance(message, SessionToken) and self.accounts and self.logged_in:
            return attrs.evolve(message, account=self.nick, token=ACCOUNT_TOKEN)
        return message

    @property
    def logged_in(self) -> bool:
        return any(
            isinstance(m, Identify)
            and (m.password is not None or m.token == ACCOUNT_TOKEN)
            for m in self.received
        )


class HeadlessDriver:
    """Plays the UI thread: pumps transport events into a real `ChatClient`.

    Every UI event is recorded in `events`, in order. With a `journal`, the
    session keeps unconfirmed lines and the last message seen in it; with
    `accounts`, it keeps login tokens (and may log in).
    """

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        *,
        backoff: Backoff | None = None,
        ping_interval: float = 20.0,
        dead_after: float = 45.0,
        journal: Journal | None = None,
        accounts: AccountSettings | None = None,
    ) -> None:
        self.inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        self.session = ChatSession(
            nick=nick,
            server=address_label(host, port),
            backoff=backoff or Backoff(base=0.05, cap=0.5),
            ping_interval=ping_interval,
            dead_after=dead_after,
            journal=journal,
            accounts=accounts,
        )
        self.client = ChatClient(self.session, host, port, self.inbox.put)
        self.events: list[ev.UiEvent] = []
        self.events += self.client.start()

    def pump(self, duration: float = 0.05) -> None:
        """Process whatever arrives for `duration` seconds."""
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.inbox.get(timeout=min(remaining, 0.02))
            except queue.Empty:
                self.events += self.client.tick()
            else:
                self.events += self.client.handle(event)

    def wait_for(
        self,
        predicate: Callable[[ev.UiEvent], bool],
        timeout: float = 5.0,
        *,
        since: int = 0,
    ) -> ev.UiEvent:
        """Pump until an event matching `predicate` is recorded at index >= `since`."""
        seen = since
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                msg = f"no matching event in {timeout} s; got {self.events!r}"
                raise TimeoutError(msg)
            self.pump(0.02)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Pump until `condition()` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                msg = f"condition not met in {timeout} s; got {self.events[-5:]!r}"
                raise TimeoutError(msg)
            self.pump(0.02)

    def wait_status(
        self, status: ev.ConnectionStatus, timeout: float = 5.0, *, since: int = 0
    ) -> None:
        """Until the connection is reported `status` (after event `since`)."""
        self.wait_for(
            lambda e: isinstance(e, ev.ConnectionChanged) and e.status is status,
            timeout,
            since=since,
        )

    def wait_connected(self, timeout: float = 5.0, *, since: int = 0) -> None:
        self.wait_status(ev.ConnectionStatus.CONNECTED, timeout, since=since)

    def wait_reconnecting(self, timeout: float = 5.0, *, since: int = 0) -> None:
        self.wait_status(ev.ConnectionStatus.RECONNECTING, timeout, since=since)

    def submit(self, line: str) -> bool:
        result = self.client.submit(line)
        self.events += result.events
        return result.accepted

    def lines(self, conversation: str | None = None) -> list[ev.ChatLine]:
        """The chat lines shown (in `conversation` only, if given)."""
        return [
            e
            for e in self.events
            if isinstance(e, ev.ChatLine)
            and (conversation is None or e.conversation == conversation)
        ]

    def do(self, events: list[ev.UiEvent]) -> None:
        """Record what a `ChatClient` call returned: `do(client.switch(x))`."""
        self.events += events

    def conversation(self, name: str) -> ev.Conversation | None:
        """The entry `name` of the conversation list as the UI was last told."""
        for event in reversed(self.events):
            if isinstance(event, ev.ConversationsChanged):
                return next((c for c in event.conversations if c.name == name), None)
        return None

    def listed(self) -> ev.ConversationsChanged | None:
        """The conversation list as the UI was last told."""
        return next(
            (
                e
                for e in reversed(self.events)
                if isinstance(e, ev.ConversationsChanged)
            ),
            None,
        )

    def close(self) -> None:
        self.client.close("test over")
        self.pump(0.05)
