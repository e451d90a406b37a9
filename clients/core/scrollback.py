"""`Scrollback`: the chat log once the server keeps history (issue 14).

Which message ids were shown, how far the log is caught up, the requests for
stored messages in flight and what each answer becomes (lines appended to
the log, an earlier page, search results, the context of a line), day
separators, the unread marker, and live lines held back while catching up.
Each conversation (issue 15) has its own log: its day separators, its unread
marker and its earlier pages; ids are deduplicated and the catch-up is done
across all of them. Sans-IO: `ChatSession` feeds it chat lines and answers
and sends the requests it returns; no sockets, threads, clock or files here.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date

import attrs

from clients.core import events as ev
from clients.core.conversations import conversation_key
from clients.core.delivery import describe_message
from protocol import LOBBY, MAX_HISTORY_PAGE, FetchHistory, Search

log = logging.getLogger(__name__)

CATCH_UP_PAGE = MAX_HISTORY_PAGE
"""Messages asked for at once when catching up after the last one seen."""
LATEST_PAGE = 100
"""Messages shown on first contact (nothing seen before): the newest ones."""
EARLIER_PAGE = 100
"""Messages in an earlier page (scrolling up, `/history`)."""
CONTEXT_LINES = 10
"""Messages asked for on each side of a line shown in context."""
SEARCH_LIMIT = 50
"""Matches asked for by a search."""
SEEN_LIMIT = 100_000
"""Message ids remembered for deduplication (the newest ones)."""
RECENT_LINES = 2_000
"""Lines of the log kept to fill in a context past the join point, which
FetchHistory never returns (spec 12.4): they came live to this client."""
HOLD_LIMIT = 5_000
"""Live lines held back while catching up; past it the catch-up is given up
rather than holding the live conversation back for ever."""


class Refusal(enum.Enum):
    """Why `Scrollback.earlier` sends nothing."""

    IN_FLIGHT = "in flight"
    """A page (or the catch-up) is on its way already."""
    NONE_LEFT = "none left"
    """The start of the stored history is shown."""


class _Kind(enum.Enum):
    CATCH_UP = "catch up"
    EARLIER = "earlier"
    SEARCH = "search"
    CONTEXT = "context"


@attrs.define
class _Context:
    focus: int
    size: int
    refs: set[int]
    lines: dict[int, ev.ChatLine] = attrs.field(factory=dict)


@attrs.define
class _Request:
    kind: _Kind
    message: FetchHistory | Search
    lines: list[ev.ChatLine] = attrs.field(factory=list)
    context: _Context | None = None
    conversation: str = LOBBY
    """For an earlier page: the conversation it is for (its lines only)."""
    oldest: int | None = None
    """For an earlier page: the smallest id answered, whatever its conversation."""
    news: bool = False
    """For a catch-up: its lines are new to the user (see `catch_up_news`)."""

    @property
    def limit(self) -> int:
        return self.message.limit


@attrs.frozen
class Step:
    """What an answer's end means: events to show, maybe a request to send."""

    events: list[ev.UiEvent]
    request: FetchHistory | None = None


class Scrollback:
    """The log's state across connections; one per `ChatSession`.

    Args:
        refs: gives a fresh request ref (shared with the session's others).
        cursor: the newest message id seen in an earlier run (the journal),
            or None: the next catch-up starts after it, and an
            `UnreadMarker` goes before the first line after it.
        seen_limit: how many shown ids to remember for deduplication.
    """

    def __init__(
        self,
        *,
        refs: Callable[[], int],
        cursor: int | None = None,
        seen_limit: int = SEEN_LIMIT,
    ) -> None:
        self._refs = refs
        self._cursor = cursor
        self._unread_after = cursor
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._seen_limit = seen_limit
        self._recent: deque[ev.ChatLine] = deque(maxlen=RECENT_LINES)
        # Per conversation (its key): the day of its last line, its oldest
        # line shown, whether older ones exist, and if its first page was
        # asked for. An unread marker is shown once in each.
        self._last_day: dict[str, date] = {}
        self._oldest: dict[str, int] = {}
        self._earlier_more: dict[str, bool] = {}
        self._fetched: set[str] = set()
        self._marked: set[str] = set()
        self._catching_up = False
        self._contacted = False
        self._held: dict[int, tuple[ev.ChatLine, list[ev.PendingDone]]] = {}
        self._requests: dict[int, _Request] = {}

    # --- queries ---------------------------------------------------------------

    @property
    def cursor(self) -> int | None:
        """Every message up to this id was shown (or is older than the log):
        the next catch-up asks for what came after it. Kept in the journal."""
        return self._cursor

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    def fetched(self, conversation: str) -> bool:
        """Whether a page of `conversation`'s own history was asked for."""
        return conversation_key(conversation) in self._fetched

    def catch_up_news(self, ref: int) -> bool:
        """Whether the stored lines answering `ref` are news to the user:
        missed while away (catching up after the last line seen, or after
        a connection that saw none) or kept while offline (ref 0), rather
        than the newest page shown on first contact."""
        if ref == 0:
            return True
        request = self._requests.get(ref)
        return request is not None and request.kind is _Kind.CATCH_UP and request.news

    def request(self, ref: int) -> FetchHistory | Search | None:
        """The request in flight as `ref`, if it is one of ours (to resend it)."""
        request = self._requests.get(ref)
        return request.message if request is not None else None

    # --- a connection with history ------------------------------------------------

    def begin(self) -> FetchHistory:
        """A connection with history opened: the request that catches up.

        After the cursor when there is one (repeated while the server has
        more), else the newest page. Live lines are held until it is done.
        """
        self._catching_up = True
        news = self._contacted or self._cursor is not None
        self._contacted = True
        ref = self._refs()
        if self._cursor is None:
            message = FetchHistory(ref=ref, before=0, after=0, limit=LATEST_PAGE)
        else:
            message = FetchHistory(ref=ref, after=self._cursor, limit=CATCH_UP_PAGE)
        self._requests[ref] = _Request(_Kind.CATCH_UP, message, news=news)
        return message

    def without_history(self) -> list[ev.UiEvent]:
        """A connection without history opened: show whatever was held."""
        self._unread_after = None
        return self._release()

    def connection_lost(self) -> list[ev.UiEvent]:
        """The connection dropped: its requests will never be answered.

        Held lines stay held for the next connection's catch-up.
        """
        events: list[ev.UiEvent] = []
        told: set[int] = set()
        for request in self._requests.values():
            if request.kind is _Kind.SEARCH:
                events.append(
                    ev.Notice(
                        f"the connection dropped before the search for “{_query(request)}” was answered; search again once connected",
                        ev.NoticeLevel.ERROR,
                    )
                )
            elif request.context is not None and id(request.context) not in told:
                told.add(id(request.context))
                events.append(
                    ev.Notice(
                        "the connection dropped before the context was shown; try again once connected",
                        ev.NoticeLevel.ERROR,
                    )
                )
        self._requests.clear()
        return events

    def cleared(self, conversation: str = LOBBY) -> None:
        """The UI emptied a conversation's log (/clear): its next line names
        its day again."""
        self._last_day.pop(conversation_key(conversation), None)

    def forget(self, conversation: str) -> None:
        """The user left `conversation` (a room): if they come back, its
        history is fetched again."""
        key = conversation_key(conversation)
        for table in (self._last_day, self._oldest, self._earlier_more):
            table.pop(key, None)
        self._fetched.discard(key)

    # --- what arrives ---------------------------------------------------------------

    def live(
        self, line: ev.ChatLine, done: ev.PendingDone | None = None
    ) -> list[ev.UiEvent]:
        """A live message (`Delivered`), with our line it confirms, if any.

        Held while catching up; else shown, unless its id was shown already
        (then only `done` is).
        """
        dones = [done] if done is not None else []
        if not self._catching_up:
            return self._show(line, dones)
        held = self._held.get(line.id)
        if held is not None:
            held[1].extend(dones)
        else:
            self._held[line.id] = (line, dones)
        if len(self._held) > HOLD_LIMIT:
            log.warning("catching up takes too long; showing the live lines")
            for ref in [
                r for r, q in self._requests.items() if q.kind is _Kind.CATCH_UP
            ]:
                del self._requests[ref]
            return [
                ev.Notice(
                    "catching up on missed messages took too long; some may be missing above",
                    ev.NoticeLevel.ERROR,
                ),
                *self._release(),
            ]
        return []

    def recalled(self, ref: int, line: ev.ChatLine) -> list[ev.UiEvent]:
        """A stored message (`Recalled`) in the answer to `ref`.

        Ref 0 is a direct message kept while we were offline: it goes into
        the log like a live one.
        """
        if ref == 0:
            return self.live(line)
        request = self._requests.get(ref)
        if request is None:
            log.debug("ignoring a stored message for request %d", ref)
            return []
        if request.kind is _Kind.CATCH_UP:
            return self._show(line, [])
        if request.context is not None:
            if len(request.context.lines) < 2 * MAX_HISTORY_PAGE:
                request.context.lines[line.id] = line
            return []
        if request.kind is _Kind.EARLIER:
            if request.oldest is None or line.id < request.oldest:
                request.oldest = line.id
            if conversation_key(line.conversation) != conversation_key(
                request.conversation
            ):
                return []  # a server without rooms answered for everything
        if len(request.lines) < request.limit:
            request.lines.append(line)
        return []

    def ended(self, ref: int, count: int, more: bool) -> Step:
        """`HistoryEnd`: the answer to `ref` is complete."""
        if ref == 0:
            return Step([ev.Notice(away_text(count))] if count else [])
        request = self._requests.pop(ref, None)
        if request is None:
            return Step([])
        match request.kind:
            case _Kind.CATCH_UP:
                return self._caught_up(request, more)
            case _Kind.EARLIER:
                return Step([self._earlier_page(request, more)])
            case _Kind.SEARCH:
                lines = tuple(sorted(request.lines, key=lambda line: line.id))
                return Step(
                    [ev.SearchResults(query=_query(request), lines=lines, more=more)]
                )
            case _Kind.CONTEXT:
                return Step(self._context_part_done(ref, request))

    def failed(self, ref: int, text: str) -> list[ev.UiEvent]:
        """The server refused the request `ref` (an `Error` with its ref)."""
        request = self._requests.pop(ref, None)
        if request is None:
            return []
        match request.kind:
            case _Kind.CATCH_UP:
                return [
                    ev.Notice(
                        f"could not catch up on missed messages: {text}",
                        ev.NoticeLevel.ERROR,
                    ),
                    *self._release(),
                ]
            case _Kind.EARLIER:
                return [
                    ev.Notice(
                        f"could not load earlier messages: {text}",
                        ev.NoticeLevel.ERROR,
                        request.conversation,
                    )
                ]
            case _Kind.SEARCH:
                return [
                    ev.Notice(
                        f"could not search for “{_query(request)}”: {text}",
                        ev.NoticeLevel.ERROR,
                    )
                ]
            case _Kind.CONTEXT:
                assert request.context is not None  # noqa: S101 - context() sets it
                for other in request.context.refs:
                    self._requests.pop(other, None)
                return [
                    ev.Notice(
                        f"could not show the context: {text}", ev.NoticeLevel.ERROR
                    )
                ]

    # --- what the user asks for ---------------------------------------------------------

    def earlier(
        self,
        limit: int = EARLIER_PAGE,
        conversation: str = LOBBY,
        *,
        by_server: bool = True,
    ) -> FetchHistory | Refusal:
        """The request for the page of `conversation` before its oldest
        line shown (the first page of it, if none is shown).

        Args:
            by_server: name the conversation in the request (the server has
                rooms, spec 12.5); else ask for everything and keep the
                conversation's lines of the answer.
        """
        key = conversation_key(conversation)
        if self._catching_up or any(
            r.kind is _Kind.EARLIER and conversation_key(r.conversation) == key
            for r in self._requests.values()
        ):
            return Refusal.IN_FLIGHT
        if not self._earlier_more.get(key, True):
            return Refusal.NONE_LEFT
        ref = self._refs()
        message = FetchHistory(
            ref=ref,
            before=self._oldest.get(key, 0),
            after=0,
            limit=_page(limit),
            conversation=conversation if by_server else None,
        )
        self._fetched.add(key)
        self._requests[ref] = _Request(
            _Kind.EARLIER, message, conversation=conversation
        )
        return message

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> Search:
        """The request for stored messages holding every word of `query`.

        Raises:
            ValueError: `query` is empty or too long (see `protocol.Search`).
        """
        ref = self._refs()
        message = Search(ref=ref, query=query, before=0, limit=_page(limit))
        self._requests[ref] = _Request(_Kind.SEARCH, message)
        return message

    def context(
        self, focus: int, lines: int = CONTEXT_LINES
    ) -> tuple[FetchHistory, FetchHistory]:
        """The two requests for the lines around `focus` (it included).

        The server answers only up to this connection's join point; lines
        after it came live and are taken from the log shown.
        """
        before = FetchHistory(ref=self._refs(), before=focus + 1, limit=lines)
        after = FetchHistory(ref=self._refs(), after=focus, limit=lines)
        context = _Context(focus=focus, size=lines, refs={before.ref, after.ref})
        for message in (before, after):
            self._requests[message.ref] = _Request(
                _Kind.CONTEXT, message, context=context
            )
        return before, after

    # --- helpers -----------------------------------------------------------------------

    def _show(self, line: ev.ChatLine, dones: list[ev.PendingDone]) -> list[ev.UiEvent]:
        """Append `line` to the log, unless it is there already.

        The confirmation of our own line at or below the cursor that was
        not shown is older than this log (a line sent again after a
        restart, whose first run showed it): it is not appended out of
        order; a notice says so and the earlier pages hold it. (Someone
        else's live line there is shown: only a server whose ids started
        again sends one, and it must not go unseen.)
        """
        events: list[ev.UiEvent] = []
        if line.id in self._seen:
            events.extend(dones)
            return events
        if (
            dones
            and not line.recalled
            and self._cursor is not None
            and line.id <= self._cursor
        ):
            what = describe_message(line.text, line.target)
            events.append(
                ev.Notice(
                    f"your {what} was delivered earlier; it is further up in the history"
                )
            )
            events.extend(dones)
            return events
        self._remember(line.id)
        key = conversation_key(line.conversation)
        if (
            self._unread_after is not None
            and line.id > self._unread_after
            and key not in self._marked
        ):
            self._marked.add(key)
            events.append(ev.UnreadMarker(line.conversation))
        day = line.time.date()
        if day != self._last_day.get(key):
            self._last_day[key] = day
            events.append(ev.DaySeparator(day, line.conversation))
        events.append(line)
        events.extend(dones)
        self._recent.append(line)
        if self._cursor is None or line.id > self._cursor:
            self._cursor = line.id
        if line.id < self._oldest.get(key, line.id + 1):
            self._oldest[key] = line.id
        return events

    def _remember(self, message_id: int) -> None:
        self._seen.add(message_id)
        self._seen_order.append(message_id)
        while len(self._seen_order) > self._seen_limit:
            self._seen.discard(self._seen_order.popleft())

    def _release(self) -> list[ev.UiEvent]:
        """Catching up is over: show the held lines, in id order.

        Live lines older than the oldest line shown (held across a dropped
        connection, then passed by a newest page) are left to the earlier
        pages rather than shown out of order. A direct message kept while
        offline is shown all the same: it must not go unseen.
        """
        self._catching_up = False
        floors = dict(self._oldest)
        events: list[ev.UiEvent] = []
        for message_id in sorted(self._held):
            line, dones = self._held[message_id]
            floor = floors.get(conversation_key(line.conversation))
            if floor is not None and message_id < floor and not line.recalled:
                events += dones
                continue
            events += self._show(line, dones)
        self._held.clear()
        self._unread_after = None
        self._marked.clear()
        return events

    def _caught_up(self, request: _Request, more: bool) -> Step:
        message = request.message
        assert isinstance(message, FetchHistory)  # noqa: S101 - begin() made it
        if message.after == 0:
            # The newest page of everything; each conversation's earlier
            # pages are asked for on their own. If it holds everything,
            # the conversations in it (and #lobby) have nothing older.
            if not more:
                for key in {*self._oldest, conversation_key(LOBBY)}:
                    self._earlier_more[key] = False
            return Step(self._release())
        if more and self._cursor is not None and self._cursor > message.after:
            ref = self._refs()
            follow = FetchHistory(ref=ref, after=self._cursor, limit=CATCH_UP_PAGE)
            self._requests[ref] = _Request(_Kind.CATCH_UP, follow, news=True)
            return Step([], follow)
        return Step(self._release())

    def _earlier_page(self, request: _Request, more: bool) -> ev.EarlierLines:
        lines = sorted(
            (line for line in request.lines if line.id not in self._seen),
            key=lambda line: line.id,
        )
        for line in lines:
            self._remember(line.id)
        key = conversation_key(request.conversation)
        if request.oldest is not None and request.oldest < self._oldest.get(
            key, request.oldest + 1
        ):
            self._oldest[key] = request.oldest
        self._earlier_more[key] = more
        return ev.EarlierLines(
            items=with_days(lines), more=more, conversation=request.conversation
        )

    def _context_part_done(self, ref: int, request: _Request) -> list[ev.UiEvent]:
        context = request.context
        assert context is not None  # noqa: S101 - context() sets it
        context.refs.discard(ref)
        if context.refs:
            return []
        known = dict(context.lines)
        for line in self._recent:
            known.setdefault(line.id, attrs.evolve(line, recalled=True))
        ids = sorted(known)
        upto = [i for i in ids if i <= context.focus][-context.size :]
        after = [i for i in ids if i > context.focus][: context.size]
        lines = [known[i] for i in upto + after]
        return [ev.Context(focus_id=context.focus, items=with_days(lines))]


def with_days(
    lines: Iterable[ev.ChatLine],
) -> tuple[ev.ChatLine | ev.DaySeparator, ...]:
    """`lines` (oldest first) with a `DaySeparator` before the first one and
    before each line from a new local day."""
    items: list[ev.ChatLine | ev.DaySeparator] = []
    last: date | None = None
    for line in lines:
        day = line.time.date()
        if day != last:
            items.append(ev.DaySeparator(day, line.conversation))
            last = day
        items.append(line)
    return tuple(items)


def away_text(count: int) -> str:
    """What the user reads about direct messages kept while offline."""
    noun = "message" if count == 1 else "messages"
    return f"{count} {noun} while you were away"


def _page(limit: int) -> int:
    return max(1, min(MAX_HISTORY_PAGE, limit))


def _query(request: _Request) -> str:
    message = request.message
    return message.query if isinstance(message, Search) else ""
