"""`Rejoin`: which rooms the user is still in after a reconnect (spec 12.5).

On a new connection the server re-joins the rooms of the account (or of
the resumed session) and says so before it answers the first ListUsers;
a room it has not re-joined by then is gone, and a server without rooms
keeps none. This part knows whether that wait is on, drops the rooms gone
from `Conversations` and words the notices. No I/O.
"""

from __future__ import annotations

import attrs

from clients.core import events as ev
from clients.core.conversations import Conversations
from clients.core.link import Link
from protocol import CAP_ROOMS


@attrs.frozen
class Gone:
    """The rooms the user is no longer in, and what to tell them."""

    rooms: tuple[str, ...]
    events: tuple[ev.UiEvent, ...]


class Rejoin:
    """The wait for the server to re-join the user's rooms.

    Args:
        conversations: the conversation list (shared with the session).
    """

    def __init__(self, conversations: Conversations) -> None:
        self._conversations = conversations
        self._waiting = False

    def welcomed(self, link: Link) -> Gone | None:
        """A connection was welcomed: wait for the rooms if the server has
        them (None), else every room is gone now."""
        self._waiting = link.has(CAP_ROOMS)
        return None if self._waiting else self._done(link)

    def listed(self, link: Link) -> Gone | None:
        """The answer to ListUsers came: the rooms not re-joined are gone
        (None if nothing was waited for)."""
        return self._done(link) if self._waiting else None

    def connection_lost(self) -> None:
        self._waiting = False

    def _done(self, link: Link) -> Gone:
        self._waiting = False
        rooms = tuple(self._conversations.restore_done())
        return Gone(rooms, tuple(_gone(room, link) for room in rooms))


def _gone(room: str, link: Link) -> ev.Notice:
    text = (
        f"you are no longer in {room}; type /join {room} to go back"
        if link.has(CAP_ROOMS)
        else f"{link.server} has no rooms now: you are no longer in {room}"
    )
    return ev.Notice(text, ev.NoticeLevel.ERROR)
