"""`Conversations`: the conversation list of one session (issue 15).

#lobby, the rooms the user is in and the direct conversations; which one is
active; unread counts and highlights; who is in each, who is typing (until
6 s pass without a notice, spec 12.6) and who is away. Sans-IO: the session
feeds it what the server said and the clock's reading; no sockets, threads,
files or protocol messages here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import attrs

from clients.core import events as ev
from protocol import LOBBY, is_room, nick_key, room_key

TYPING_EXPIRY = 6.0
"""Seconds a typist is shown without a new notice (spec 12.6)."""

LOBBY_KEY = room_key(LOBBY)
_ROLE_NAMES = {0: "", 1: "operator", 2: "owner"}


def conversation_key(name: str) -> str:
    """What makes two conversation names the same: a room's key, or a nick's."""
    return room_key(name) if is_room(name) else nick_key(name)


def role_name(role: int) -> str:
    """`RoomRole` as `Conversation.role` spells it ("" for a plain member)."""
    return _ROLE_NAMES.get(int(role), "")


@attrs.define
class _Entry:
    name: str
    kind: ev.ConversationKind
    unread: int = 0
    highlight: bool = False
    topic: str = ""
    invite_only: bool = False
    role: str = ""
    members: dict[str, str] = attrs.field(factory=dict)
    """nick_key -> nick; unused for #lobby (the roster) and direct ones."""
    typing: dict[str, tuple[str, float]] = attrs.field(factory=dict)
    """nick_key -> (nick, when the notice expires)."""
    hidden: bool = False
    activity: int = 0
    restored: bool = True
    """A room seen again since the connection last dropped (spec 12.5:
    an account's rooms come back at login)."""


class Conversations:
    """The list and its state, across connections.

    Every change bumps `version`; the session sends a `ConversationsChanged`
    (from `snapshot`) whenever the version moved and the snapshot differs.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {
            LOBBY_KEY: _Entry(LOBBY, ev.ConversationKind.LOBBY)
        }
        self._active = LOBBY_KEY
        self._roster: dict[str, str] = {}
        self._roster_sorted: tuple[str, ...] = ()
        self._away: dict[str, tuple[str, str]] = {}
        self._activity = itertools.count(1)
        self.version = 0
        self._told_version = -1
        self._told: ev.ConversationsChanged | None = None

    # --- queries -------------------------------------------------------------------

    @property
    def active(self) -> str:
        """The name of the active conversation."""
        return self._entries[self._active].name

    @property
    def active_kind(self) -> ev.ConversationKind:
        return self._entries[self._active].kind

    def target(self) -> str | None:
        """Where a plain line goes: None for #lobby, else the room or nick."""
        entry = self._entries[self._active]
        return None if entry.kind is ev.ConversationKind.LOBBY else entry.name

    def find_name(self, name: str) -> str | None:
        """The known spelling of conversation `name`, or None."""
        entry = self._entries.get(conversation_key(name))
        return entry.name if entry is not None else None

    def kind_of(self, name: str) -> ev.ConversationKind | None:
        entry = self._entries.get(conversation_key(name))
        return entry.kind if entry is not None else None

    def topic_of(self, name: str) -> str:
        entry = self._entries.get(conversation_key(name))
        return entry.topic if entry is not None else ""

    def members_of(self, name: str) -> tuple[str, ...]:
        entry = self._entries.get(conversation_key(name))
        return self._members(entry) if entry is not None else ()

    def rooms(self) -> list[str]:
        """The rooms the user is in (#lobby not included), by name."""
        return [e.name for e in self._ordered(hidden=True) if _is_room_entry(e)]

    def names(self) -> list[str]:
        """The visible conversations, in display order."""
        return [e.name for e in self._ordered()]

    def conversation_of(self, sender: str, target: str | None, me: str) -> str:
        """Where a message belongs: #lobby, its room, or the other party's
        direct conversation (the known spelling when there is one)."""
        if target is None:
            return LOBBY
        if is_room(target):
            return self.find_name(target) or target
        other = target if nick_key(sender) == nick_key(me) else sender
        return self.find_name(other) or other

    def snapshot(self) -> ev.ConversationsChanged:
        """The whole list, in display order, for the UI."""
        return ev.ConversationsChanged(
            conversations=tuple(
                ev.Conversation(
                    name=e.name,
                    kind=e.kind,
                    unread=e.unread,
                    highlight=e.highlight,
                    topic=e.topic,
                    members=self._members(e),
                    typing=tuple(
                        sorted((nick for nick, _ in e.typing.values()), key=nick_key)
                    ),
                    role=e.role,
                )
                for e in self._ordered()
            ),
            active=self.active,
            away=tuple(sorted(self._away.values(), key=lambda pair: nick_key(pair[0]))),
        )

    def news(self) -> ev.ConversationsChanged | None:
        """The snapshot if it changed since the last call, else None."""
        if self.version == self._told_version:
            return None
        self._told_version = self.version
        snapshot = self.snapshot()
        if snapshot == self._told:
            return None
        self._told = snapshot
        return snapshot

    def find(self, query: str) -> list[str]:
        """Conversations whose name holds the letters of `query` in order
        (any case), best first: the tightest match, then the earliest, then
        the shortest name, then display order; all of them, in display order,
        for an empty query. Closed ones are included (switching to one opens
        it again)."""
        needle = query.strip().casefold()
        if not needle:
            return [entry.name for entry in self._ordered(hidden=True)]
        scored: list[tuple[tuple[int, int, int, int], str]] = []
        for position, entry in enumerate(self._ordered(hidden=True)):
            match = _subsequence(needle, entry.name.casefold())
            if match is not None:
                span, start = match
                scored.append(((span, start, len(entry.name), position), entry.name))
        return [name for _, name in sorted(scored)]

    # --- what the user does -------------------------------------------------------

    def switch(self, name: str) -> str | None:
        """Make `name` active (it is read now, and shown again if closed).

        Returns:
            Its known spelling, or None if there is no such conversation.
        """
        key = conversation_key(name)
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._activate(key)
        self._bump()
        return entry.name

    def switch_to(self, index: int) -> str | None:
        """The `index`-th visible conversation (1-based), made active."""
        names = self.names()
        if not 1 <= index <= len(names):
            return None
        return self.switch(names[index - 1])

    def open_direct(self, nick: str) -> str:
        """A direct conversation with `nick` (new, or shown again); returns its name."""
        entry = self._direct(nick)
        entry.hidden = False
        self._bump()
        return entry.name

    def close(self, name: str) -> str | None:
        """Hide `name` until a line arrives in it.

        Returns:
            Why it cannot be closed, or None when it was.
        """
        key = conversation_key(name)
        entry = self._entries.get(key)
        if entry is None:
            return f"there is no conversation {name}"
        if entry.kind is ev.ConversationKind.LOBBY:
            return f"{LOBBY} cannot be closed"
        entry.hidden = True
        entry.unread = 0
        entry.highlight = False
        if self._active == key:
            self._activate(LOBBY_KEY)
        self._bump()
        return None

    # --- what arrives ---------------------------------------------------------------

    def add_line(self, line: ev.ChatLine, *, news: bool = True) -> None:
        """A line shown in its conversation (`line.conversation`).

        Args:
            news: it is new to the user (live, or missed while away), not
                an old page shown for context: it counts as unread.
        """
        key = conversation_key(line.conversation)
        entry = self._entries.get(key)
        if entry is None:
            kind = (
                ev.ConversationKind.ROOM
                if is_room(line.conversation)
                else ev.ConversationKind.DIRECT
            )
            entry = self._entries[key] = _Entry(line.conversation, kind)
        entry.hidden = False
        entry.activity = next(self._activity)
        entry.typing.pop(nick_key(line.sender), None)
        if news and not line.is_own and key != self._active:
            entry.unread += 1
            if line.mentions_me or line.is_direct:
                entry.highlight = True
        self._bump()

    def set_roster(self, nicks: Iterable[str]) -> None:
        """Who is online (the lobby's members)."""
        self._roster = {nick_key(n): n for n in nicks}
        # Sorted once here, not at every snapshot: the lobby can be large.
        self._roster_sorted = tuple(sorted(self._roster.values(), key=nick_key))
        self._bump()

    def user_left(self, nick: str) -> None:
        """`nick` went offline: out of every room, no longer typing or away."""
        key = nick_key(nick)
        for entry in self._entries.values():
            entry.members.pop(key, None)
            entry.typing.pop(key, None)
        self._away.pop(key, None)
        self._bump()

    def renamed(self, old: str, new: str) -> None:
        """`old` is now called `new`: in rooms, typing, away and its direct
        conversation (merged into one with `new` if both exist)."""
        old_key, new_key = nick_key(old), nick_key(new)
        for entry in self._entries.values():
            if entry.members.pop(old_key, None) is not None:
                entry.members[new_key] = new
            typing = entry.typing.pop(old_key, None)
            if typing is not None:
                entry.typing[new_key] = (new, typing[1])
        if (away := self._away.pop(old_key, None)) is not None:
            self._away[new_key] = (new, away[1])
        direct = self._entries.get(old_key)
        if direct is not None and direct.kind is ev.ConversationKind.DIRECT:
            del self._entries[old_key]
            kept = self._entries.get(new_key)
            if kept is None:
                direct.name = new
                self._entries[new_key] = direct
            else:
                kept.unread += direct.unread
                kept.highlight = kept.highlight or direct.highlight
                kept.activity = max(kept.activity, direct.activity)
            if self._active == old_key:
                self._activate(new_key)
        self._bump()

    def joined_room(
        self, name: str, *, topic: str, invite_only: bool, role: int
    ) -> bool:
        """The user is in room `name` (RoomJoined). Returns True if it is new."""
        key = room_key(name)
        entry = self._entries.get(key)
        new = entry is None
        if entry is None:
            entry = self._entries[key] = _Entry(name, ev.ConversationKind.ROOM)
            entry.activity = next(self._activity)
        entry.name = name
        entry.topic = topic
        entry.invite_only = invite_only
        entry.role = role_name(role)
        entry.restored = True
        self._bump()
        return new

    def room_members(self, name: str, nicks: Iterable[str]) -> None:
        """Who is online in room `name` (a complete RoomMembers answer)."""
        entry = self._room(name)
        if entry is not None:
            entry.members = {nick_key(n): n for n in nicks}
            self._bump()

    def member_joined(self, name: str, nick: str) -> None:
        entry = self._room(name)
        if entry is not None:
            entry.members[nick_key(nick)] = nick
            self._bump()

    def member_gone(self, name: str, nick: str) -> None:
        """`nick` left room `name`, or was kicked or banned from it."""
        entry = self._room(name)
        if entry is not None:
            entry.members.pop(nick_key(nick), None)
            entry.typing.pop(nick_key(nick), None)
            self._bump()

    def remove_room(self, name: str) -> bool:
        """The user is no longer in room `name`. Returns True if it was there."""
        key = room_key(name)
        entry = self._entries.get(key)
        if entry is None or entry.kind is not ev.ConversationKind.ROOM:
            return False
        del self._entries[key]
        if self._active == key:
            self._activate(LOBBY_KEY)
        self._bump()
        return True

    def room_changed(
        self,
        name: str,
        *,
        topic: str | None = None,
        invite_only: bool | None = None,
        role: str | None = None,
    ) -> None:
        """A room's topic, openness or the user's role in it changed."""
        entry = self._entries.get(room_key(name))
        if entry is None:
            return
        if topic is not None:
            entry.topic = topic
        if invite_only is not None:
            entry.invite_only = invite_only
        if role is not None:
            entry.role = role
        self._bump()

    def typing_notice(
        self, conversation: str, nick: str, active: bool, now: float
    ) -> None:
        """`nick` types (or stopped) in `conversation` (a room, or for a
        direct conversation the typist's nick)."""
        key = conversation_key(conversation)
        entry = self._entries.get(key)
        if entry is None:
            # Someone starting a direct conversation: it opens when the line
            # arrives; until then their typing has nowhere to show.
            return
        if active:
            entry.typing[nick_key(nick)] = (nick, now + TYPING_EXPIRY)
        elif entry.typing.pop(nick_key(nick), None) is None:
            return
        self._bump()

    def expire(self, now: float) -> None:
        """Forget typists whose last notice is `TYPING_EXPIRY` old."""
        for entry in self._entries.values():
            stale = [k for k, (_, until) in entry.typing.items() if until <= now]
            for key in stale:
                del entry.typing[key]
            if stale:
                self._bump()

    def away_changed(self, nick: str, text: str) -> None:
        """`nick` is away (`text` says why), or back (`text` empty)."""
        key = nick_key(nick)
        if text:
            self._away[key] = (nick, text)
        elif self._away.pop(key, None) is None:
            return
        self._bump()

    def away_text(self, nick: str) -> str | None:
        """Why `nick` is away, or None."""
        away = self._away.get(nick_key(nick))
        return away[1] if away is not None else None

    # --- connections ------------------------------------------------------------------

    def connection_lost(self) -> None:
        """Who is online, typing or away is unknown until the next connection;
        each room must be seen again (`restore_done`) to stay."""
        for entry in self._entries.values():
            entry.members.clear()
            entry.typing.clear()
            entry.restored = False
        self._roster = {}
        self._roster_sorted = ()
        self._away.clear()
        self._bump()

    def restore_done(self) -> list[str]:
        """The new connection has said which rooms the user is in: drop
        the others. Returns the names dropped."""
        gone = [
            e.name
            for e in self._entries.values()
            if e.kind is ev.ConversationKind.ROOM and not e.restored
        ]
        for name in gone:
            self.remove_room(name)
        for entry in self._entries.values():
            entry.restored = True
        return gone

    # --- helpers ------------------------------------------------------------------------

    def _bump(self) -> None:
        self.version += 1

    def _activate(self, key: str) -> None:
        """The user looks at `key` now: it is shown and read."""
        self._active = key
        entry = self._entries[key]
        entry.hidden = False
        entry.unread = 0
        entry.highlight = False

    def _room(self, name: str) -> _Entry | None:
        entry = self._entries.get(room_key(name))
        if entry is None or entry.kind is ev.ConversationKind.LOBBY:
            return None
        return entry

    def _direct(self, nick: str) -> _Entry:
        key = nick_key(nick)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(nick, ev.ConversationKind.DIRECT)
            entry.activity = next(self._activity)
        return entry

    def _members(self, entry: _Entry) -> tuple[str, ...]:
        match entry.kind:
            case ev.ConversationKind.LOBBY:
                return self._roster_sorted
            case ev.ConversationKind.ROOM:
                members = entry.members
            case ev.ConversationKind.DIRECT:
                key = nick_key(entry.name)
                members = {key: self._roster[key]} if key in self._roster else {}
        return tuple(sorted(members.values(), key=nick_key))

    def _ordered(self, *, hidden: bool = False) -> list[_Entry]:
        """#lobby, the rooms by name, then direct conversations, the most
        recently active first; closed ones only with `hidden` (the active
        one always)."""
        shown = [
            e
            for key, e in self._entries.items()
            if hidden or not e.hidden or key == self._active
        ]
        lobby = [e for e in shown if e.kind is ev.ConversationKind.LOBBY]
        rooms = sorted(
            (e for e in shown if _is_room_entry(e)), key=lambda e: room_key(e.name)
        )
        direct = sorted(
            (e for e in shown if e.kind is ev.ConversationKind.DIRECT),
            key=lambda e: -e.activity,
        )
        return lobby + rooms + direct


def _is_room_entry(entry: _Entry) -> bool:
    return entry.kind is ev.ConversationKind.ROOM


def _subsequence(needle: str, haystack: str) -> tuple[int, int] | None:
    """The tightest match of `needle`'s characters in order in `haystack`:
    (its span, its start), or None. An empty needle matches at 0."""
    if not needle:
        return (0, 0)
    best: tuple[int, int] | None = None
    for start, char in enumerate(haystack):
        if char != needle[0]:
            continue
        position = start
        for wanted in needle[1:]:
            position = haystack.find(wanted, position + 1)
            if position < 0:
                break
        else:
            span = position - start + 1
            if best is None or span < best[0]:
                best = (span, start)
        if position < 0:
            break  # no later start can match either
    return best
