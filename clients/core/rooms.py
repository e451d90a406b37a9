"""`RoomDesk`: rooms, typing notices and away status on the wire (issue 15).

It makes the requests of spec 12.5/12.6 (remembering what each ref asked
for), turns the answers and the server's room events into changes of the
`Conversations` list and `Notice`s, and paces outgoing typing notices
(`TypingPacer`). Sans-IO: the session sends what it returns; no sockets,
threads, clock or files here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from clients.core import commands as cmd
from clients.core import events as ev
from clients.core.conversations import Conversations, conversation_key
from protocol import (
    CAP_AWAY,
    CAP_ROOMS,
    LOBBY,
    AwayChanged,
    JoinRoom,
    ListMembers,
    ListRooms,
    Message,
    ModerationAction,
    PartRoom,
    RoomAction,
    RoomActionKind,
    RoomEvent,
    RoomEventKind,
    RoomInfo,
    RoomJoined,
    RoomMembers,
    SetAway,
    Typing,
    TypingNotice,
    nick_key,
    room_key,
)

TYPING_INTERVAL = 3.0
"""Seconds between two typing notices to one conversation (spec 12.6)."""

RoomMessage = (
    RoomJoined | RoomMembers | RoomInfo | RoomEvent | TypingNotice | AwayChanged
)
"""What the server sends that `RoomDesk.received` understands."""

_ACTION_WORDS = {
    RoomActionKind.TOPIC: "set the topic of {room}",
    RoomActionKind.INVITE: "invite {target} to {room}",
    RoomActionKind.KICK: "kick {target} from {room}",
    RoomActionKind.BAN: "ban {target} from {room}",
    RoomActionKind.UNBAN: "unban {target} from {room}",
    RoomActionKind.OPERATOR: "make {target} an operator of {room}",
    RoomActionKind.DEOPERATOR: "make {target} a plain member of {room}",
    RoomActionKind.INVITE_ONLY: "make {room} invite-only",
    RoomActionKind.OPEN: "open {room} to everyone",
}


DEFAULT_AWAY = "away"
"""The reason sent by /away without one (an empty one means back)."""

_ROOM_MODERATION = {
    ModerationAction.KICK: RoomActionKind.KICK,
    ModerationAction.BAN: RoomActionKind.BAN,
    ModerationAction.UNBAN: RoomActionKind.UNBAN,
}

RoomCommand = (
    cmd.EnterRoom
    | cmd.LeaveRoom
    | cmd.ShowRooms
    | cmd.SetTopic
    | cmd.ShowMembers
    | cmd.RoomModeration
    | cmd.GoAway
    | cmd.ComeBack
)
"""The commands `RoomDesk.plan` turns into requests."""


@attrs.frozen
class Plan:
    """What a room command comes to: a request to send, or words for the
    user (`refusal`: nothing was done, keep the line in the input box)."""

    send: Message | None = None
    events: tuple[ev.UiEvent, ...] = ()
    refusal: str | None = None


class _Kind(enum.Enum):
    JOIN = "join"
    PART = "part"
    ROOMS = "rooms"
    MEMBERS = "members"
    ACTION = "action"


@attrs.frozen
class _Asked:
    kind: _Kind
    room: str
    what: str
    """For a refusal: "could not <what>"."""


@attrs.define
class RoomStep:
    """What a room message means for the session.

    Attributes:
        events: what to show.
        entered: a room the user asked to join is joined: go there.
        left: a room the user is no longer in: forget its log's state.
    """

    events: list[ev.UiEvent] = attrs.field(factory=list)
    entered: str | None = None
    left: str | None = None


class RoomDesk:
    """Room requests in flight and what the server says about rooms.

    Args:
        conversations: the list it keeps up to date.
        refs: gives a fresh request ref (shared with the session's others).
    """

    def __init__(self, conversations: Conversations, refs: Callable[[], int]) -> None:
        self._conversations = conversations
        self._refs = refs
        self._asked: dict[int, _Asked] = {}
        self._chunks: dict[tuple[int, str], list[str]] = {}
        self._listing: dict[int, list[RoomInfo]] = {}

    # --- requests ---------------------------------------------------------------------

    def join(self, room: str) -> JoinRoom:
        return JoinRoom(ref=self._ask(_Kind.JOIN, room, f"join {room}"), room=room)

    def part(self, room: str, reason: str) -> PartRoom:
        ref = self._ask(_Kind.PART, room, f"leave {room}")
        return PartRoom(ref=ref, room=room, reason=reason)

    def list_rooms(self) -> ListRooms:
        return ListRooms(ref=self._ask(_Kind.ROOMS, "", "list the rooms"))

    def list_members(self, room: str) -> ListMembers:
        ref = self._ask(_Kind.MEMBERS, room, f"list who is in {room}")
        return ListMembers(ref=ref, room=room)

    def act(
        self, room: str, action: RoomActionKind, target: str = "", text: str = ""
    ) -> RoomAction:
        what = _ACTION_WORDS[action].format(room=room, target=target)
        ref = self._ask(_Kind.ACTION, room, what)
        return RoomAction(ref=ref, room=room, action=action, target=target, text=text)

    def _ask(self, kind: _Kind, room: str, what: str) -> int:
        ref = self._refs()
        self._asked[ref] = _Asked(kind, room, what)
        return ref

    def plan(
        self, command: RoomCommand | cmd.Moderation, capabilities: frozenset[str]
    ) -> Plan:
        """The request for a room or away command, in the active conversation.

        A `Moderation` (kick, ban, unban) comes here only in a room.
        """
        if isinstance(command, cmd.GoAway | cmd.ComeBack):
            if CAP_AWAY not in capabilities:
                return Plan(refusal="this server does not keep away status")
            reason = command.reason if isinstance(command, cmd.GoAway) else ""
            if isinstance(command, cmd.GoAway) and not reason:
                reason = DEFAULT_AWAY
            return Plan(send=SetAway(text=reason))
        if isinstance(command, cmd.SetTopic) and not command.text:
            return self._plan_moderation(command)  # shows what is known
        if CAP_ROOMS not in capabilities:
            return Plan(refusal="this server has no rooms besides #lobby")
        if isinstance(
            command, cmd.EnterRoom | cmd.LeaveRoom | cmd.ShowRooms | cmd.ShowMembers
        ):
            return self._plan_membership(command)
        return self._plan_moderation(command)

    def _plan_membership(  # noqa: PLR0911 - one arm per command
        self, command: cmd.EnterRoom | cmd.LeaveRoom | cmd.ShowRooms | cmd.ShowMembers
    ) -> Plan:
        active = self._conversations.active
        in_room = self._conversations.active_kind is ev.ConversationKind.ROOM
        match command:
            case cmd.EnterRoom(room=room):
                if conversation_key(room) == conversation_key(LOBBY):
                    return Plan(refusal="everyone is in #lobby already")
                return Plan(send=self.join(room))
            case cmd.LeaveRoom(room=room, reason=reason):
                room = room or (active if in_room else None)
                if room is None:
                    return Plan(refusal="which room? usage: /part #room [reason]")
                if conversation_key(room) == conversation_key(LOBBY):
                    return Plan(refusal="#lobby cannot be left")
                return Plan(send=self.part(room, reason))
            case cmd.ShowRooms():
                return Plan(send=self.list_rooms())
            case cmd.ShowMembers():
                if not in_room:
                    return Plan(
                        refusal="/members lists who is in a room; /users who is online"
                    )
                return Plan(send=self.list_members(active))

    def _plan_moderation(  # noqa: PLR0911 - one arm per command
        self, command: cmd.SetTopic | cmd.RoomModeration | cmd.Moderation
    ) -> Plan:
        conversations = self._conversations
        active = conversations.active
        in_room = conversations.active_kind is ev.ConversationKind.ROOM
        match command:
            case cmd.SetTopic(text=""):
                topic = conversations.topic_of(active)
                said = (
                    f"the topic of {active}: {topic}"
                    if topic
                    else f"{active} has no topic"
                )
                return Plan(events=(ev.Notice(said, conversation=active),))
            case cmd.SetTopic(text=text):
                if not in_room and active != LOBBY:
                    return Plan(refusal="a private conversation has no topic")
                return Plan(send=self.act(active, RoomActionKind.TOPIC, text=text))
            case _ if not in_room:
                return Plan(refusal="go to the room first: that works in a room")
            case cmd.RoomModeration(action=action, target=target):
                return Plan(send=self.act(active, action, target=target))
            case cmd.Moderation(action=action, target=target, reason=reason):
                if command.minutes:
                    return Plan(
                        refusal="a ban from a room lasts until /unban; usage: /ban <nick> [reason]"
                    )
                kind = _ROOM_MODERATION[action]
                return Plan(send=self.act(active, kind, target=target, text=reason))

    @staticmethod
    def for_room(command: cmd.Moderation) -> bool:
        """Whether this admin command has a room's meaning (in a room)."""
        return command.action in _ROOM_MODERATION

    # --- answers -------------------------------------------------------------------------

    def moderated(self, ref: int, text: str) -> ev.Notice | None:
        """`Moderated` for one of our room actions: the notice, in its room."""
        asked = self._asked.pop(ref, None)
        if asked is None:
            return None
        return ev.Notice(text, conversation=self._where(asked.room))

    def refused(self, ref: int, text: str) -> ev.Notice | None:
        """An `Error` with one of our refs: the notice, or None if not ours."""
        asked = self._asked.pop(ref, None) if ref else None
        if asked is None:
            return None
        self._listing.pop(ref, None)
        for key in [k for k in self._chunks if k[0] == ref]:
            del self._chunks[key]
        return ev.Notice(
            f"could not {asked.what}: {text}",
            ev.NoticeLevel.ERROR,
            self._where(asked.room) if asked.kind is not _Kind.JOIN else None,
        )

    def connection_lost(self) -> None:
        """The requests in flight will never be answered."""
        self._asked.clear()
        self._chunks.clear()
        self._listing.clear()

    def received(self, message: RoomMessage, me: str, now: float) -> RoomStep:  # noqa: PLR0911 - one arm per message
        """A room, typing or away message from the server."""
        match message:
            case RoomJoined():
                return self._joined(message)
            case RoomMembers():
                return RoomStep(self._members(message))
            case RoomInfo():
                return RoomStep(self._room_info(message))
            case RoomEvent():
                return self._event(message, me)
            case TypingNotice(conversation=conversation, nick=nick, active=active):
                self._conversations.typing_notice(conversation, nick, active, now)
                return RoomStep()
            case AwayChanged(nick=nick, text=text):
                self._conversations.away_changed(nick, text)
                if nick_key(nick) != nick_key(me):
                    return RoomStep()
                said = f"you are away: {text}" if text else "you are back"
                return RoomStep([ev.Notice(said)])

    def _joined(self, message: RoomJoined) -> RoomStep:
        # The RoomMembers that follow answer the same ref: it stays asked.
        asked = self._asked.get(message.ref) if message.ref else None
        if asked is not None and asked.kind is not _Kind.JOIN:
            asked = None
        new = self._conversations.joined_room(
            message.room,
            topic=message.topic,
            invite_only=message.invite_only,
            role=message.role,
        )
        step = RoomStep()
        if asked is not None:
            step.entered = message.room
        if asked is not None or new:
            text = f"you are in {message.room}"
            if message.topic:
                text += f"; the topic is: {message.topic}"
            step.events.append(ev.Notice(text, conversation=message.room))
        return step

    def _members(self, message: RoomMembers) -> list[ev.UiEvent]:
        key = (message.ref, room_key(message.room))
        nicks = self._chunks.setdefault(key, [])
        nicks.extend(message.nicks)
        if not message.final:
            return []
        del self._chunks[key]
        self._conversations.room_members(message.room, nicks)
        asked = self._asked.get(message.ref) if message.ref else None
        if asked is None:
            return []
        del self._asked[message.ref]
        if asked.kind is not _Kind.MEMBERS:
            return []
        return [
            ev.Notice(
                f"{len(nicks)} in {message.room}: {', '.join(nicks)}",
                conversation=self._where(message.room),
            )
        ]

    def _room_info(self, message: RoomInfo) -> list[ev.UiEvent]:
        infos = self._listing.setdefault(message.ref, [])
        infos.append(message)
        if not message.final:
            return []
        del self._listing[message.ref]
        self._asked.pop(message.ref, None)
        lines = ["Rooms:"]
        for info in infos:
            people = "1 online" if info.members == 1 else f"{info.members} online"
            closed = ", invite-only" if info.invite_only else ""
            topic = f": {info.topic}" if info.topic else ""
            lines.append(f"{info.room} ({people}{closed}){topic}")
        lines.append("Type /join #name to join one, or to make a new one.")
        return [ev.Notice("\n".join(lines))]

    def _event(self, message: RoomEvent, me: str) -> RoomStep:  # noqa: C901, PLR0911 - one arm per kind
        room, nick, actor, text = (
            message.room,
            message.nick,
            message.actor,
            message.text,
        )
        conversations = self._conversations
        known = conversations.find_name(room)
        is_me = nick_key(nick) == nick_key(me)
        if known is None and not (is_me and message.kind is RoomEventKind.INVITED):
            return RoomStep()  # about a room we are not in
        room = known or room
        who = "you" if is_me else nick
        match message.kind:
            case RoomEventKind.JOINED:
                conversations.member_joined(room, nick)
                return RoomStep([] if is_me else [_in(room, f"{nick} joined {room}")])
            case RoomEventKind.LEFT:
                return self._gone(room, nick, is_me, f"{who} left {room}", text)
            case RoomEventKind.KICKED | RoomEventKind.BANNED:
                done = (
                    "kicked from"
                    if message.kind is RoomEventKind.KICKED
                    else "banned from"
                )
                was = "you were" if is_me else f"{nick} was"
                by = f" by {actor}" if actor else ""
                return self._gone(room, nick, is_me, f"{was} {done} {room}{by}", text)
            case RoomEventKind.TOPIC:
                conversations.room_changed(room, topic=text)
                said = (
                    f"{nick} set the topic: {text}"
                    if text
                    else f"{nick} cleared the topic"
                )
                return RoomStep([_in(room, said)])
            case RoomEventKind.ROLE:
                role = "" if text == "member" else text
                if is_me:
                    conversations.room_changed(room, role=role)
                article = "an" if text[:1] in ("a", "e", "i", "o", "u") else "a"
                said = f"{actor or 'the server'} made {who} {article} {text} of {room}"
                return RoomStep([_in(room, said)])
            case RoomEventKind.INVITE_ONLY | RoomEventKind.OPEN:
                closed = message.kind is RoomEventKind.INVITE_ONLY
                conversations.room_changed(room, invite_only=closed)
                said = (
                    f"{nick} made {room} invite-only"
                    if closed
                    else f"{nick} opened {room} to everyone"
                )
                return RoomStep([_in(room, said)])
            case RoomEventKind.INVITED:
                if is_me and known is None:
                    said = f"{actor} invited you to {room}; type /join {room} to go in"
                    return RoomStep([ev.Notice(said)])
                return RoomStep([_in(room, f"{actor} invited {who} to {room}")])

    def _gone(
        self, room: str, nick: str, is_me: bool, said: str, reason: str
    ) -> RoomStep:
        text = f"{said}: {reason}" if reason else said
        if not is_me:
            self._conversations.member_gone(room, nick)
            return RoomStep([_in(room, text)])
        self._conversations.remove_room(room)
        # The room's tab is gone: say it wherever the user is.
        return RoomStep([ev.Notice(text)], left=room)

    def _where(self, room: str) -> str | None:
        """The conversation a notice about `room` belongs in (None: wherever
        the user is, when it is not in the list)."""
        if not room:
            return None
        return self._conversations.find_name(room)


def _in(room: str, text: str) -> ev.Notice:
    return ev.Notice(text, conversation=room)


class TypingPacer:
    """When to tell a conversation that the user types (spec 12.6).

    At most every `TYPING_INTERVAL` seconds per conversation while the input
    holds text, and "stopped" once when it is emptied without sending. The
    server passes on at most one Typing a second from a connection and
    drops the rest, so frames are also kept `gap` apart (a little more than
    a second: the two clocks and the network must not make a frame arrive
    inside the server's second): what cannot go yet waits for `due` (the
    session calls it on every tick), and a stop is never lost that way.
    """

    def __init__(self, interval: float = TYPING_INTERVAL, gap: float = 1.25) -> None:
        self._interval = interval
        self._gap = gap
        self._told: dict[str, float] = {}
        """conversation key -> when it was last told "typing"."""
        self._waiting: dict[str, Typing] = {}
        self._last_frame: float | None = None

    def changed(self, conversation: str, text: str, now: float) -> list[Typing]:
        """The input box for `conversation` now holds `text`; returns what
        to send now."""
        key = conversation_key(conversation)
        told = self._told.get(key)
        if _composing(text):
            if told is not None and now - told < self._interval:
                self._waiting.pop(key, None)  # a stop it no longer needs
            else:
                self._waiting[key] = Typing(conversation=conversation, active=True)
            return self.due(now)
        return self.stopped(conversation, now)

    def stopped(self, conversation: str, now: float) -> list[Typing]:
        """The user stopped typing in `conversation` (emptied the input, or
        went to another conversation); returns what to send now."""
        key = conversation_key(conversation)
        self._waiting.pop(key, None)
        if key in self._told:
            self._waiting[key] = Typing(conversation=conversation, active=False)
        return self.due(now)

    def sent(self, conversation: str) -> None:
        """A line went to `conversation`: it ends the typing there by itself."""
        key = conversation_key(conversation)
        self._told.pop(key, None)
        self._waiting.pop(key, None)

    def due(self, now: float) -> list[Typing]:
        """The waiting notice that may go now (one at most)."""
        if not self._waiting:
            return []
        if self._last_frame is not None and now - self._last_frame < self._gap:
            return []
        key = next(iter(self._waiting))
        notice = self._waiting.pop(key)
        self._last_frame = now
        if notice.active:
            self._told[key] = now
        else:
            self._told.pop(key, None)
        return [notice]

    def reset(self) -> None:
        """A new connection: nobody was told anything on it."""
        self._told.clear()
        self._waiting.clear()
        self._last_frame = None


def _composing(text: str) -> bool:
    """Text a person is writing to others, not a command being typed."""
    if not text.strip():
        return False
    if text.startswith(("//", "/me ")):
        return True
    return not text.startswith("/")
