"""Scrollback without any I/O: chat lines and answers in, events and requests out."""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from clients.core import events as ev
from clients.core.scrollback import (
    CATCH_UP_PAGE,
    HOLD_LIMIT,
    LATEST_PAGE,
    Refusal,
    Scrollback,
    away_text,
    with_days,
)

DAY_MS = 24 * 3600 * 1000
BASE_MS = 1_772_366_400_000  # 2026-03-01 12:00 UTC


def line(message_id: int, *, day: int = 0, recalled: bool = False) -> ev.ChatLine:
    return ev.ChatLine(
        id=message_id,
        timestamp_ms=BASE_MS + day * DAY_MS + message_id * 1000,
        sender="bob",
        target=None,
        text=f"line {message_id}",
        is_own=False,
        is_direct=False,
        mentions_me=False,
        recalled=recalled,
    )


def local_day(day: int):
    return datetime.fromtimestamp((BASE_MS + day * DAY_MS) / 1000).astimezone().date()


def new(cursor: int | None = None) -> Scrollback:
    refs = itertools.count(1)
    return Scrollback(refs=lambda: next(refs), cursor=cursor)


def ids(events) -> list[int]:
    return [e.id for e in events if isinstance(e, ev.ChatLine)]


def test_first_contact_asks_for_the_newest_page():
    scrollback = new()
    assert scrollback.begin() == p.FetchHistory(
        ref=1, before=0, after=0, limit=LATEST_PAGE
    )


def test_catching_up_pages_after_the_cursor_while_there_is_more():
    scrollback = new(cursor=10)
    first = scrollback.begin()
    assert first == p.FetchHistory(ref=1, after=10, limit=CATCH_UP_PAGE)
    out = scrollback.recalled(1, line(11, recalled=True))
    out += scrollback.recalled(1, line(12, recalled=True))
    assert out == [
        ev.UnreadMarker(),
        ev.DaySeparator(local_day(0)),
        line(11, recalled=True),
        line(12, recalled=True),
    ]
    step = scrollback.ended(1, 2, more=True)
    assert step.request == p.FetchHistory(ref=2, after=12, limit=CATCH_UP_PAGE)
    assert scrollback.catching_up
    assert ids(scrollback.recalled(2, line(13, recalled=True))) == [13]
    step = scrollback.ended(2, 1, more=False)
    assert (step.events, step.request) == ([], None)
    assert not scrollback.catching_up
    assert scrollback.cursor == 13


def test_live_lines_wait_for_the_catch_up_and_follow_in_id_order():
    scrollback = new(cursor=5)
    scrollback.begin()
    done = ev.PendingDone(local_id=7, delivered=True)
    assert scrollback.live(line(9), done) == []
    assert scrollback.live(line(8)) == []
    shown = scrollback.recalled(1, line(6, recalled=True))
    shown += scrollback.recalled(1, line(7, recalled=True))
    shown += scrollback.recalled(1, line(8, recalled=True))  # also live: once
    shown += scrollback.ended(1, 3, more=False).events
    assert ids(shown) == [6, 7, 8, 9]
    assert shown[-2:] == [line(9), done]
    assert [e for e in shown if isinstance(e, ev.UnreadMarker)] == [ev.UnreadMarker()]


def test_a_confirmation_of_a_line_shown_already_settles_it_without_a_second_line():
    scrollback = new()
    scrollback.begin()
    scrollback.recalled(1, line(3, recalled=True))
    scrollback.ended(1, 1, more=False)
    done = ev.PendingDone(local_id=1, delivered=True)
    assert scrollback.live(line(3), done) == [done]


def test_no_unread_marker_on_first_contact_nor_for_lines_arriving_live():
    scrollback = new()
    scrollback.begin()
    out = scrollback.recalled(1, line(1, recalled=True))
    out += scrollback.ended(1, 1, more=False).events
    out += scrollback.live(line(2))
    assert not any(isinstance(e, ev.UnreadMarker) for e in out)
    again = new(cursor=4)
    again.begin()
    assert again.ended(1, 0, more=False).events == []
    assert not any(isinstance(e, ev.UnreadMarker) for e in again.live(line(5)))


def test_a_day_separator_before_the_first_line_of_each_new_day():
    scrollback = new()
    scrollback.without_history()
    out = scrollback.live(line(1)) + scrollback.live(line(2))
    out += scrollback.live(line(3, day=1))
    assert out == [
        ev.DaySeparator(local_day(0)),
        line(1),
        line(2),
        ev.DaySeparator(local_day(1)),
        line(3, day=1),
    ]
    scrollback.cleared()
    assert scrollback.live(line(4, day=1))[0] == ev.DaySeparator(local_day(1))


def test_earlier_pages_go_before_the_oldest_line_with_their_own_separators():
    scrollback = new()
    scrollback.begin()
    scrollback.recalled(1, line(50, day=2, recalled=True))
    scrollback.ended(1, 1, more=True)
    request = scrollback.earlier(3)
    assert request == p.FetchHistory(
        ref=2, before=50, after=0, limit=3, conversation="#lobby"
    )
    assert scrollback.earlier() is Refusal.IN_FLIGHT
    for message_id, day in ((47, 0), (48, 1), (49, 1)):
        assert scrollback.recalled(2, line(message_id, day=day, recalled=True)) == []
    (page,) = scrollback.ended(2, 3, more=False).events
    assert page == ev.EarlierLines(
        items=(
            ev.DaySeparator(local_day(0)),
            line(47, recalled=True),
            ev.DaySeparator(local_day(1)),
            line(48, day=1, recalled=True),
            line(49, day=1, recalled=True),
        ),
        more=False,
    )
    assert scrollback.earlier() is Refusal.NONE_LEFT


def test_no_earlier_page_while_catching_up():
    scrollback = new(cursor=3)
    scrollback.begin()
    assert scrollback.earlier() is Refusal.IN_FLIGHT


def test_a_newest_page_that_holds_everything_leaves_nothing_earlier():
    scrollback = new()
    scrollback.begin()
    scrollback.ended(1, 0, more=False)
    assert scrollback.earlier() is Refusal.NONE_LEFT


def test_search_results_are_collected_until_the_end():
    scrollback = new()
    request = scrollback.search("lunch today")
    assert request == p.Search(ref=1, query="lunch today", before=0, limit=50)
    scrollback.recalled(1, line(4, recalled=True))
    scrollback.recalled(1, line(9, recalled=True))
    (results,) = scrollback.ended(1, 2, more=True).events
    assert results == ev.SearchResults(
        query="lunch today",
        lines=(line(4, recalled=True), line(9, recalled=True)),
        more=True,
    )


def test_context_is_one_event_once_both_sides_are_answered():
    scrollback = new()
    before, after = scrollback.context(20, lines=2)
    assert before == p.FetchHistory(ref=1, before=21, after=0, limit=2)
    assert after == p.FetchHistory(ref=2, before=0, after=20, limit=2)
    scrollback.recalled(2, line(21, recalled=True))
    assert scrollback.ended(2, 1, more=True).events == []
    scrollback.recalled(1, line(19, recalled=True))
    scrollback.recalled(1, line(20, recalled=True))
    (context,) = scrollback.ended(1, 2, more=True).events
    assert context == ev.Context(
        focus_id=20,
        items=(
            ev.DaySeparator(local_day(0)),
            line(19, recalled=True),
            line(20, recalled=True),
            line(21, recalled=True),
        ),
    )


def test_context_past_the_join_point_is_filled_from_the_lines_shown():
    scrollback = new()
    scrollback.without_history()
    for message_id in range(30, 36):
        scrollback.live(line(message_id))  # came live: the server won't recall them
    before, after = scrollback.context(33, lines=2)
    scrollback.recalled(before.ref, line(28, recalled=True))
    scrollback.recalled(before.ref, line(29, recalled=True))
    scrollback.ended(before.ref, 2, more=True)
    (context,) = scrollback.ended(after.ref, 0, more=False).events
    assert isinstance(context, ev.Context)
    items = [i for i in context.items if isinstance(i, ev.ChatLine)]
    assert [i.id for i in items] == [32, 33, 34, 35]
    assert all(i.recalled for i in items)


def test_refusals_become_notices_and_free_the_request():
    scrollback = new()
    scrollback.without_history()
    scrollback.live(line(10))
    scrollback.earlier()
    (notice,) = scrollback.failed(1, "slow down")
    assert notice == ev.Notice(
        "could not load earlier messages: slow down", ev.NoticeLevel.ERROR, "#lobby"
    )
    assert isinstance(scrollback.earlier(), p.FetchHistory)
    before, after = scrollback.context(5)
    (notice,) = scrollback.failed(before.ref, "no")
    assert "context" in notice.text
    # The other half's answer no longer makes a Context.
    assert scrollback.ended(after.ref, 0, more=False).events == []
    search = scrollback.search("x")
    assert "could not search for “x”" in scrollback.failed(search.ref, "no")[0].text
    assert scrollback.failed(999, "not ours") == []


def test_a_refused_catch_up_shows_what_was_held():
    scrollback = new(cursor=1)
    scrollback.begin()
    scrollback.live(line(7))
    notice, *rest = scrollback.failed(1, "history is off")
    assert notice.level is ev.NoticeLevel.ERROR
    assert ids(rest) == [7]
    assert not scrollback.catching_up


def test_a_drop_keeps_held_lines_for_the_next_catch_up():
    scrollback = new(cursor=1)
    scrollback.begin()
    scrollback.live(line(5))
    search = scrollback.search("x")
    (notice,) = scrollback.connection_lost()
    assert "search" in notice.text
    assert scrollback.ended(search.ref, 0, more=False).events == []
    request = scrollback.begin()
    assert request.after == 1
    out = scrollback.recalled(request.ref, line(5, recalled=True))
    out += scrollback.ended(request.ref, 1, more=False).events
    assert ids(out) == [5]


def test_a_connection_without_history_shows_held_lines():
    scrollback = new(cursor=1)
    scrollback.begin()
    scrollback.live(line(3))
    scrollback.connection_lost()
    assert ids(scrollback.without_history()) == [3]


def test_offline_direct_messages_join_the_log_and_are_counted():
    scrollback = new(cursor=2)
    scrollback.begin()
    assert scrollback.recalled(0, line(4, recalled=True)) == []
    assert scrollback.ended(0, 1, more=False).events == [
        ev.Notice("1 message while you were away")
    ]
    out = scrollback.recalled(1, line(3, recalled=True))
    out += scrollback.recalled(1, line(4, recalled=True))
    out += scrollback.ended(1, 2, more=False).events
    assert ids(out) == [3, 4]


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (1, "1 message while you were away"),
        (3, "3 messages while you were away"),
    ],
)
def test_away_text(count, text):
    assert away_text(count) == text


def test_an_offline_message_older_than_the_newest_page_still_shows():
    scrollback = new()
    request = scrollback.begin()
    scrollback.recalled(0, line(1, recalled=True))
    scrollback.recalled(request.ref, line(200, recalled=True))
    out = scrollback.ended(request.ref, 1, more=True).events
    assert ids(out) == [1]


def test_answers_to_unknown_requests_are_ignored():
    scrollback = new()
    assert scrollback.recalled(42, line(1, recalled=True)) == []
    assert scrollback.ended(42, 1, more=False).events == []


def test_a_catch_up_that_never_ends_gives_up_rather_than_hold_for_ever():
    scrollback = new(cursor=1)
    scrollback.begin()
    for message_id in range(2, HOLD_LIMIT + 2):
        assert scrollback.live(line(message_id)) == []
    notice, *rest = scrollback.live(line(HOLD_LIMIT + 2))
    assert "too long" in notice.text
    assert ids(rest) == list(range(2, HOLD_LIMIT + 3))
    assert scrollback.request(1) is None


def test_deduplication_remembers_a_bounded_number_of_ids():
    refs = itertools.count(1)
    scrollback = Scrollback(refs=lambda: next(refs), seen_limit=3)
    scrollback.without_history()
    for message_id in range(1, 6):
        scrollback.live(line(message_id))
    assert ids(scrollback.live(line(5))) == []
    assert ids(scrollback.live(line(1))) == [1]  # forgotten: shown again


def test_someone_elses_line_below_the_cursor_is_shown():
    """Only a server whose ids started again (a new database) sends one."""
    scrollback = new(cursor=500)
    scrollback.without_history()
    assert ids(scrollback.live(line(3))) == [3]


def test_a_confirmation_older_than_the_log_settles_without_a_line():
    """A line sent again after a restart whose first run had shown it."""
    scrollback = new(cursor=82)
    request = scrollback.begin()
    scrollback.recalled(request.ref, line(83, recalled=True))
    scrollback.ended(request.ref, 1, more=False)
    done = ev.PendingDone(local_id=1, delivered=True)
    notice, settled = scrollback.live(line(44), done)
    assert notice == ev.Notice(
        "your message “line 44” was delivered earlier; it is further up in the history"
    )
    assert settled == done
    assert scrollback.live(line(84)) == [line(84)]


def test_with_days_marks_each_day_change():
    assert with_days([]) == ()
    items = with_days([line(1), line(2, day=3)])
    assert [type(i).__name__ for i in items] == [
        "DaySeparator",
        "ChatLine",
        "DaySeparator",
        "ChatLine",
    ]


# --- the property: every id once, in order ------------------------------------------

Frame = tuple[str, int, int, bool]
"""("recalled", ref, id, _) or ("end", ref, count, more), as the server sends them."""


class _Played:
    """A server with messages 1..total and one client, driven by hypothesis.

    The client's connection joined after `join`: older messages come only
    from history, newer ones only live. Frames of history answers and live
    lines interleave as `data` decides; the connection may drop (twice at
    most) and join again further on; the server may repeat a line the
    client has shown, in this run or an earlier one (the answer to a Post
    sent again).
    """

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.total = data.draw(st.integers(0, 40), label="total")
        cursor = data.draw(st.none() | st.integers(1, 40), label="cursor")
        self.cursor = cursor if cursor is None or cursor <= self.total else None
        first = self.cursor or 0
        self.join = data.draw(st.integers(first, self.total), label="join")
        self.scrollback = new(self.cursor)
        offline = data.draw(
            st.sets(st.integers(first + 1, max(first + 1, self.join)), max_size=3),
            label="offline",
        )
        self.frames: deque[Frame] = deque(
            ("recalled", 0, i, False) for i in sorted(offline) if i <= self.join
        )
        if self.frames:
            self.frames.append(("end", 0, len(self.frames), False))
        self.live = deque(range(self.join + 1, self.total + 1))
        self.events: list[ev.UiEvent] = []
        self.echoes: list[ev.PendingDone] = []
        self.got_offline: set[int] = set()
        self.drops = 0
        self.caught_up_at: int | None = None
        self.answer(self.scrollback.begin())

    def answer(self, request: p.FetchHistory) -> None:
        before = request.before or self.join + 1
        found = list(range(request.after + 1, before))
        limit = min(request.limit, self.data.draw(st.integers(1, 8), label="page"))
        chosen = found[-limit:] if request.after == 0 else found[:limit]
        self.frames += [("recalled", request.ref, i, False) for i in chosen]
        self.frames.append(("end", request.ref, len(chosen), len(found) > limit))

    def play(self) -> None:
        while self.frames or self.live:
            shown = ids(self.events)
            choices = ["history"] * bool(self.frames) + ["live"] * bool(self.live)
            choices += ["echo"] * bool(shown or self.cursor)
            choices += ["drop"] * (self.drops < 2)
            getattr(self, "_" + self.data.draw(st.sampled_from(choices)))()
            if self.caught_up_at is None and not self.scrollback.catching_up:
                self.caught_up_at = len(self.events)

    def _history(self) -> None:
        kind, ref, value, more = self.frames.popleft()
        if kind == "recalled":
            if ref == 0:  # kept while offline
                self.got_offline.add(value)
            recalled = line(value, recalled=ref == 0)
            self.events += self.scrollback.recalled(ref, recalled)
            return
        step = self.scrollback.ended(ref, value, more)
        self.events += step.events
        if step.request is not None:
            self.answer(step.request)

    def _live(self) -> None:
        self.events += self.scrollback.live(line(self.live.popleft()))

    def _echo(self) -> None:
        done = ev.PendingDone(local_id=len(self.echoes) + 1, delivered=True)
        self.echoes.append(done)
        # A line this run showed, or one an earlier run did (below the cursor).
        earlier = range(1, (self.cursor or 0) + 1)
        again = self.data.draw(st.sampled_from([*ids(self.events), *earlier]))
        self.events += self.scrollback.live(line(again), done)

    def _drop(self) -> None:
        self.drops += 1
        self.events += self.scrollback.connection_lost()
        delivered = self.live[0] - 1 if self.live else self.total
        self.join = self.data.draw(st.integers(delivered, self.total))
        self.live = deque(range(self.join + 1, self.total + 1))
        self.frames = deque()
        self.answer(self.scrollback.begin())


@given(data=st.data())
def test_any_interleaving_shows_every_id_once_in_order(data):
    played = _Played(data)
    played.play()
    shown, total = ids(played.events), played.total
    assert len(shown) == len(set(shown))
    if played.cursor is None:
        # The newest page may be shorter than the history: older lines are
        # for scrolling up. Everything from its first line on is there, in
        # order; a direct message kept while offline that is older than it
        # still shows (after it, rather than not at all).
        offline = played.got_offline
        low = min((i for i in shown if i not in offline), default=total + 1)
        assert [i for i in shown if i >= low] == list(range(low, total + 1))
        assert set(shown) == set(range(low, total + 1)) | {
            i for i in offline if i < low
        }
    else:
        assert shown == list(range(played.cursor + 1, total + 1))
    assert not played.scrollback.catching_up
    dones = [e for e in played.events if isinstance(e, ev.PendingDone)]
    assert sorted(dones, key=lambda d: d.local_id) == played.echoes
    # The unread marker: only with a cursor, once, before the first line the
    # catch-up brought (held live lines included).
    events = played.events
    markers = [i for i, e in enumerate(events) if isinstance(e, ev.UnreadMarker)]
    assert played.caught_up_at is not None
    if played.cursor is None or not ids(events[: played.caught_up_at]):
        assert markers == []
    else:
        assert len(markers) == 1
        assert ids(events[markers[0] :])[0] == played.cursor + 1
