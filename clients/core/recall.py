"""`Recall`: what the user asks of the server's stored history (issue 14).

Earlier pages (scrolling up, /history), /search, the context of a found
line and the first page of a conversation opened for the first time: this
part checks that the server can answer, words the refusals, asks
`Scrollback` for the request and remembers a first page that has to wait
for the catch-up. `Scrollback` keeps what the log shows; `ChatSession`
sends the requests and shows the lines. No I/O, no clock.
"""

from __future__ import annotations

import attrs

from clients.core import events as ev
from clients.core.link import Link
from clients.core.scrollback import EARLIER_PAGE, Refusal, Scrollback
from protocol import (
    CAP_HISTORY,
    CAP_ROOMS,
    MAX_QUERY_CHARS,
    Error,
    ErrorCode,
    FetchHistory,
    HistoryEnd,
    Message,
    Search,
)


@attrs.frozen(kw_only=True)
class Ask:
    """What a request for stored history leads to.

    Attributes:
        refusal: nothing is asked, and why (the user's line is kept).
        events: what to show when nothing needs sending.
        send: the requests to send, in order.
    """

    refusal: str | None = None
    events: tuple[ev.UiEvent, ...] = ()
    send: tuple[Message, ...] = ()


@attrs.frozen(kw_only=True)
class Answer:
    """What an answer (or a refusal) from the server leads to.

    Attributes:
        events: what to show; chat lines go into their conversations.
        send: requests to send, in order.
        later: a request the server refused for now (rate limit): send it
            again once the pacer allows.
    """

    events: tuple[ev.UiEvent, ...] = ()
    send: tuple[Message, ...] = ()
    later: FetchHistory | Search | None = None


class Recall:
    """The user's requests for stored history, across connections.

    Args:
        scrollback: the log's state (shared with the session).
    """

    def __init__(self, scrollback: Scrollback) -> None:
        self._scrollback = scrollback
        self._wants_page: str | None = None

    def earlier(
        self,
        count: int,
        conversation: str,
        link: Link,
        *,
        asked: bool,
    ) -> Ask:
        """The `count` messages of `conversation` before its oldest line shown.

        Args:
            asked: the user typed /history: say so when nothing is sent
                (a page is on its way, or none is left); scrolling up stays
                quiet then.
        """
        if refused := self._refusal("load earlier messages", link):
            return Ask(refusal=refused)
        request = self._scrollback.earlier(
            count, conversation, by_server=link.has(CAP_ROOMS)
        )
        if request is Refusal.IN_FLIGHT:
            return _say("earlier messages are on their way", asked=asked)
        if request is Refusal.NONE_LEFT:
            return _say("that is the start of the history", asked=asked)
        return Ask(send=(request,))

    def search(self, words: str, link: Link) -> Ask:
        """Stored messages holding every word of `words`."""
        query = " ".join(words.split())
        if not query:
            return Ask(refusal="what to search for? usage: /search <words>")
        if len(query) > MAX_QUERY_CHARS:
            return Ask(refusal=f"a search has at most {MAX_QUERY_CHARS} characters")
        if refused := self._refusal("search", link):
            return Ask(refusal=refused)
        return Ask(send=(self._scrollback.search(query),))

    def context(self, message_id: int, link: Link) -> Ask:
        """The lines around `message_id`."""
        if refused := self._refusal("show the context", link):
            return Ask(refusal=refused)
        if message_id < 1:
            return Ask(refusal=f"there is no message {message_id}")
        return Ask(send=self._scrollback.context(message_id))

    def opened(self, name: str, link: Link) -> tuple[Message, ...]:
        """The user opened the conversation `name`: its first page of
        history, unless it was asked for already (or there is none)."""
        if not link.has(CAP_HISTORY) or self._scrollback.fetched(name):
            return ()
        return self.first_page(name, link)

    def first_page(self, name: str, link: Link) -> tuple[Message, ...]:
        """The newest page of `name`'s own history, asked for once; while
        the catch-up runs it waits for `ended`."""
        if not link.open:
            return ()
        request = self._scrollback.earlier(
            EARLIER_PAGE, name, by_server=link.has(CAP_ROOMS)
        )
        if isinstance(request, FetchHistory):
            self._wants_page = None
            return (request,)
        if request is Refusal.IN_FLIGHT:
            self._wants_page = name  # once the catch-up is done
        return ()

    def ended(
        self,
        message: HistoryEnd,
        active: str,
        link: Link,
    ) -> Answer:
        """`HistoryEnd`: show what the answer held, and ask for the first
        page that waited for the catch-up if its conversation is still
        the active one."""
        step = self._scrollback.ended(message.ref, message.count, message.more)
        send: tuple[Message, ...] = () if step.request is None else (step.request,)
        wanted = self._wants_page
        if wanted is not None and not self._scrollback.catching_up:
            if wanted == active and not self._scrollback.fetched(wanted):
                send += self.first_page(wanted, link)
            else:
                self._wants_page = None
        return Answer(events=tuple(step.events), send=send)

    def refused(self, error: Error) -> Answer | None:
        """An Error about one of our history requests, or None if it is
        about something else."""
        if not error.ref:
            return None
        if (request := self._scrollback.request(error.ref)) is None:
            return None
        if error.code is ErrorCode.RATE_LIMITED:
            # Paced like every frame; if refused anyway, ask again later.
            return Answer(later=request)
        return Answer(events=tuple(self._scrollback.failed(error.ref, error.text)))

    def connection_lost(self) -> None:
        """A first page that waited is not asked for on the next connection."""
        self._wants_page = None

    def _refusal(self, what: str, link: Link) -> str | None:
        if not link.open:
            return f"cannot {what}: not connected"
        if not link.has(CAP_HISTORY):
            return f"cannot {what}: {link.server} keeps no history"
        return None


def _say(text: str, *, asked: bool) -> Ask:
    return Ask(events=(ev.Notice(text),) if asked else ())
