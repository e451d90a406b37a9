"""`Roster`: who is online, and our requests about nicks (/who, /nick).

The server sends the whole list in chunks after ListUsers, then each join,
departure and nick change (spec 5); this part keeps the list by nick key,
remembers which ListUsers the user asked for (only those are shown as a
listing) and which nick each ChangeNick asked for, so a refusal can name
it. `ChatSession` passes the messages in and shows the events. No I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import attrs

from clients.core import events as ev
from protocol import (
    ChangeNick,
    Error,
    ListUsers,
    NickChanged,
    UserJoined,
    UserLeft,
    UserList,
    nick_key,
)

RosterMessage = UserList | UserJoined | UserLeft | NickChanged
"""The server's messages about who is online."""


@attrs.frozen(kw_only=True)
class Change:
    """What a roster message changed.

    Attributes:
        events: what to show.
        me: our own nick is now this (the server renamed us).
        listed: a complete list arrived (the answer to ListUsers).
    """

    events: tuple[ev.UiEvent, ...]
    me: str | None = None
    listed: bool = False


class Roster:
    """The nicks online on the current connection.

    Args:
        refs: the session's ref counter (refs are shared by every request).
    """

    def __init__(self, refs: Callable[[], int]) -> None:
        self._refs = refs
        self._online: dict[str, str] = {}
        self._chunks: list[str] = []
        self._asked: deque[bool] = deque()
        self._nick_requests: dict[int, str] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """Who is online, sorted case-insensitively."""
        return tuple(sorted(self._online.values(), key=nick_key))

    def others(self, me: str) -> list[str]:
        """Who is online besides `me`."""
        mine = nick_key(me)
        return [nick for key, nick in self._online.items() if key != mine]

    def offline(self, nick: str) -> bool:
        """`nick` is known not to be online (False while no list is known)."""
        return bool(self._online) and nick_key(nick) not in self._online

    def ask(self, *, shown: bool) -> ListUsers:
        """A request for the list; `shown`: the user asked to see it."""
        self._asked.append(shown)
        return ListUsers()

    def change_nick(self, nick: str) -> ChangeNick:
        """A request to be called `nick`."""
        ref = self._refs()
        self._nick_requests[ref] = nick
        return ChangeNick(ref=ref, nick=nick)

    def received(self, message: RosterMessage, me: str) -> Change | None:
        """A roster message from the server; None while a list is incomplete.

        Args:
            me: our nick, to tell whether a nick change is ours.
        """
        match message:
            case UserList(nicks=nicks, final=final):
                self._chunks.extend(nicks)
                if not final:
                    return None
                self._online = {nick_key(n): n for n in self._chunks}
                self._chunks = []
                events: tuple[ev.UiEvent, ...] = (ev.RosterChanged(self.names),)
                if self._asked and self._asked.popleft():
                    events += (ev.UsersListed(self.names),)
                return Change(events=events, listed=True)
            case UserJoined(nick=nick):
                self._online[nick_key(nick)] = nick
                return Change(events=(ev.Joined(nick), ev.RosterChanged(self.names)))
            case UserLeft(nick=nick, reason=reason):
                self._online.pop(nick_key(nick), None)
                return Change(
                    events=(ev.Left(nick, reason), ev.RosterChanged(self.names))
                )
            case NickChanged(old=old, new=new):
                is_me = nick_key(old) == nick_key(me)
                self._online.pop(nick_key(old), None)
                self._online[nick_key(new)] = new
                return Change(
                    events=(ev.Renamed(old, new, is_me), ev.RosterChanged(self.names)),
                    me=new if is_me else None,
                )

    def refused(self, error: Error) -> str | None:
        """The notice for an Error about one of our nick changes, or None
        if it is about something else."""
        nick = self._nick_requests.pop(error.ref, None)
        if nick is None:
            return None
        return f"could not change your nick to {nick}: {error.text}"

    def connection_lost(self) -> bool:
        """Forget the list and the requests; True if a list was known (the
        UI then shows an empty one)."""
        self._asked.clear()
        self._chunks = []
        self._nick_requests.clear()
        known = bool(self._online)
        self._online = {}
        return known
