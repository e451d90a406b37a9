"""`Focus`: the conversation the user is in, and what the server hears of it.

Moving to another conversation stops our typing notice in the one left
(spec 12.6) and asks for the first page of the new one's history (issue
14); what the input box holds becomes paced typing notices (`TypingPacer`).
`Conversations` keeps the list; `ChatSession` sends what this part returns.
No I/O: the time is passed in.
"""

from __future__ import annotations

import attrs

from clients.core import events as ev
from clients.core.conversations import Conversations
from clients.core.link import Link
from clients.core.recall import Recall
from clients.core.rooms import TypingPacer
from protocol import CAP_TYPING, Message


@attrs.frozen(kw_only=True)
class Moved:
    """What a change of conversation leads to.

    Attributes:
        refusal: nothing changed, and why.
        events: what to show.
        send: what the server must hear (typing stopped, a first page).
    """

    refusal: str | None = None
    events: tuple[ev.UiEvent, ...] = ()
    send: tuple[Message, ...] = ()


class Focus:
    """The active conversation and the typing notices.

    Args:
        conversations: the conversation list (shared with the session).
        recall: asks for a conversation's first page of history.
    """

    def __init__(self, conversations: Conversations, recall: Recall) -> None:
        self._conversations = conversations
        self._recall = recall
        self._typing = TypingPacer()

    def switch(self, name: str, link: Link, now: float) -> Moved:
        """Make the conversation `name` active."""
        before = self._conversations.active
        found = self._conversations.switch(name)
        if found is None:
            return Moved(refusal=f"there is no conversation {name}")
        send: tuple[Message, ...] = ()
        if found != before:
            send += self.left(before, link, now)
        return Moved(send=send + self._recall.opened(found, link))

    def close(self, name: str | None, link: Link, now: float) -> Moved:
        """Hide a conversation (None: the active one) until a line arrives in it."""
        conversations = self._conversations
        name = conversations.find_name(name or conversations.active) or name or ""
        before = conversations.active
        if (problem := conversations.close(name)) is not None:
            return Moved(refusal=problem)
        events: tuple[ev.UiEvent, ...] = ()
        if conversations.kind_of(name) is ev.ConversationKind.ROOM:
            events = (
                ev.Notice(
                    f"{name} is hidden until someone writes in it; you are still in it (/part {name} leaves it)"
                ),
            )
        send = self.left(before, link, now) if conversations.active != before else ()
        return Moved(events=events, send=send)

    def typed(self, text: str, link: Link, now: float) -> tuple[Message, ...]:
        """The input box now holds `text`: what to tell the active
        conversation now (nothing without the `typing` capability)."""
        if not link.open or not link.has(CAP_TYPING):
            return ()
        active = self._conversations.active
        return tuple(self._typing.changed(active, text, now))

    def left(self, name: str, link: Link, now: float) -> tuple[Message, ...]:
        """The user went elsewhere: they no longer type in `name`."""
        if not link.open or not link.has(CAP_TYPING):
            return ()
        return tuple(self._typing.stopped(name, now))

    def sent(self, conversation: str) -> None:
        """A line went to `conversation`: that ends the typing there."""
        self._typing.sent(conversation)

    def due(self, now: float) -> tuple[Message, ...]:
        """A typing notice that had to wait and may go now."""
        return tuple(self._typing.due(now))

    def connection_lost(self) -> None:
        """Nobody will have been told anything on the next connection."""
        self._typing.reset()
