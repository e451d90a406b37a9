"""Stored history in the terminal client (issue 14): day rules, the unread
marker, scrolling back into earlier pages, search with context, and stored
lines that ring no bell.

The real app under Pilot, its real session core, and a played server that
keeps history (`PlayedHistory`) or, at the end, the real server.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual import events

from clients.core import events as ev
from clients.core.testing import (
    PLAYED_EPOCH_MS,
    HeadlessDriver,
    PlayedHistory,
    PlayedServer,
)
from clients.tui import app as app_module
from clients.tui.app import ChatApp
from clients.tui.chat_log import MAX_ENTRIES, RULE
from clients.tui.screens import SearchScreen
from protocol import FetchHistory, Message, Search
from server import ChatServer, ServerConfig
from tests.tui.helpers import (
    FakeServer,
    log_lines,
    log_text,
    plaintext,
    screen_lines,
    status,
    type_line,
    until,
)

pytestmark = pytest.mark.tui

SIZE = (80, 24)
MINUTE = 60_000
DAY = 86_400_000
SUNDAY = "Sunday 1 March 2026"  # PLAYED_EPOCH_MS, in UTC
MONDAY = "Monday 2 March 2026"


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    # Day rules name the local day: UTC makes them the same everywhere.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class BellCountingApp(ChatApp):
    """The app, counting the bells it rings (the terminal's bell is not
    visible to a test otherwise)."""

    CSS_PATH = str(Path(app_module.__file__).with_name("chat.tcss"))
    bells = 0

    def bell(self) -> None:
        self.bells += 1
        super().bell()


def _app(fake: FakeServer, *, nick: str | None = "ann") -> BellCountingApp:
    return BellCountingApp(nick=nick, security=None, transport_factory=fake.factory)


def _history(count: int, *, per_day: int | None = None) -> PlayedHistory:
    """`count` messages "message N" from bob and cat, a minute apart (and a
    day further every `per_day` of them)."""
    history = PlayedHistory()
    for n in range(1, count + 1):
        day = (n - 1) // per_day if per_day else 0
        history.add(
            "bob" if n % 2 else "cat",
            f"message {n}",
            timestamp_ms=PLAYED_EPOCH_MS + day * DAY + n * MINUTE,
        )
    return history


def _has(app: ChatApp, text: str, conversation: str | None = None) -> bool:
    return any(row.endswith(text) for row in log_lines(app, conversation))


def _rule_label(row: str) -> str | None:
    """The label of a rule row, or None if `row` is not a rule."""
    row = row.rstrip()
    if not (row.startswith(RULE) and row.endswith(RULE)):
        return None
    return row.strip(RULE).strip()


def _rules(app: ChatApp) -> list[str]:
    """The rule rows of the log, as their labels."""
    return [label for row in log_lines(app) if (label := _rule_label(row)) is not None]


def _log_on_screen(app: ChatApp) -> list[str]:
    region = app.chat_log.scrollable_content_region
    rows = screen_lines(app)[region.y : region.bottom]
    return [row[region.x : region.right] for row in rows]


def _toasts(app: ChatApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


def _earlier_requests(fake: FakeServer) -> list[FetchHistory]:
    """The pages asked for by scrolling (not the first page or the catch-up)."""
    return [m for m in fake.sent() if isinstance(m, FetchHistory) and m.before]


def _assert_rule_fills_the_log(app: ChatApp, label: str) -> None:
    width = app.chat_log.scrollable_content_region.width
    rows = [row for row in log_lines(app) if label in row]
    assert len(rows) == 1, log_lines(app)
    strip = next(s for s in app.chat_log.rows if label in s.text)
    assert strip.cell_length == width
    left, _, right = strip.text.partition(f" {label} ")
    assert set(left) == {RULE}
    assert set(right) == {RULE}
    assert abs(len(left) - len(right)) <= 1


# --- day rules and the unread marker ------------------------------------------------


async def test_a_new_day_is_a_rule_across_the_log_at_every_width():
    history = _history(6, per_day=3)
    fake = FakeServer(users=("bob",), history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 6"))
        assert _rules(app) == [SUNDAY, MONDAY]
        rows = log_lines(app)
        assert rows.index(next(r for r in rows if MONDAY in r)) == (
            rows.index(next(r for r in rows if r.endswith("message 3"))) + 1
        )
        for size in [SIZE, (40, 12), (120, 30), (30, 10)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert _rules(app) == [SUNDAY, MONDAY], size
            _assert_rule_fills_the_log(app, SUNDAY)
            _assert_rule_fills_the_log(app, MONDAY)
        strip = next(s for s in app.chat_log.rows if MONDAY in s.text)
        assert all("dim" in str(seg.style) for seg in strip if seg.text.strip())


async def test_a_new_day_below_the_view_counts_its_lines_not_its_rule():
    history = _history(60)
    fake = FakeServer(history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 60"))
        await pilot.press("pageup")
        tomorrow = PLAYED_EPOCH_MS + DAY
        fake.current.deliver(
            history.add("bob", "good morning", timestamp_ms=tomorrow).delivered()
        )
        await until(pilot, lambda: _has(app, "good morning"))
        assert _rules(app) == [SUNDAY, MONDAY]
        assert app.chat_log.border_subtitle == "↓ 1 new message below · End to jump"


async def test_a_rule_too_wide_for_the_log_is_cut_not_wrapped():
    fake = FakeServer(history=_history(2))
    app = _app(fake)
    async with app.run_test(size=(20, 10)) as pilot:
        await until(pilot, lambda: _has(app, "message 2"))
        await pilot.pause()
        width = app.chat_log.scrollable_content_region.width
        assert width < len(SUNDAY) + 2
        rules = [s for s in app.chat_log.rows if _rule_label(s.text) is not None]
        assert len(rules) == 1
        assert rules[0].cell_length == width
        assert _rule_label(rules[0].text) == SUNDAY[: width - 5] + "…"


async def test_the_unread_marker_shows_where_the_new_lines_begin(tmp_path):
    history = _history(3)
    first = FakeServer(history=history)
    app = ChatApp(
        nick="ann", security=plaintext(tmp_path), transport_factory=first.factory
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 3"))
        assert "new messages" not in log_text(app)  # a first run: nothing unread
    # The journal keeps the last line seen; the next run starts after it.
    for n in (4, 5):
        history.add("bob", f"message {n}")
    again = FakeServer(history=history)
    app = ChatApp(
        nick="ann", security=plaintext(tmp_path), transport_factory=again.factory
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 5"))
        assert not _has(app, "message 3")  # caught up after it, not a page
        assert _rules(app) == ["new messages", SUNDAY]
        _assert_rule_fills_the_log(app, "new messages")
        strip = next(s for s in app.chat_log.rows if "new messages" in s.text)
        assert any("red" in str(seg.style) for seg in strip)

        # Scrolling back puts the lines seen before above the marker.
        await pilot.press("pageup")
        await until(pilot, lambda: _has(app, "message 3"))
        await pilot.pause()
        rows = log_lines(app)
        marker = rows.index(next(r for r in rows if "new messages" in r))
        assert rows[marker + 2].endswith("message 4")
        assert max(i for i, r in enumerate(rows) if r.endswith("message 3")) < marker
        assert _rules(app) == ["start of history", SUNDAY, "new messages", SUNDAY]

        # Only the newest marker is shown.
        app._show([ev.UnreadMarker()])
        history.add("cat", "message 6")
        fake = again.current
        fake.deliver(history.messages[-1].delivered())
        await until(pilot, lambda: _has(app, "message 6"))
        rows = log_lines(app)
        assert [r for r in rows if "new messages" in r] == [rows[-2]]
        await pilot.resize_terminal(50, 20)
        await pilot.pause()
        assert [r for r in log_lines(app) if "new messages" in r] == [
            log_lines(app)[-2]
        ]
        _assert_rule_fills_the_log(app, "new messages")


# --- scrolling back -------------------------------------------------------------------


async def _to_top(pilot, app: ChatApp) -> None:
    """Page Up until the first line is at the top (asking for nothing yet)."""
    for _ in range(50):
        if app.chat_log.at_top:
            return
        await pilot.press("pageup")
    raise AssertionError("never reached the top")


async def _wheel_up(pilot, app: ChatApp, times: int = 1) -> None:
    for _ in range(times):
        await pilot._post_mouse_events([events.MouseScrollUp], app.chat_log, (5, 5))


async def test_page_up_at_the_top_prepends_an_earlier_page_and_the_view_stays():
    history = _history(250)
    fake = FakeServer(users=("bob",), history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 250"))
        assert not _has(app, "message 150")  # the first page: the newest 100
        await _to_top(pilot, app)
        await pilot.pause()
        assert _earlier_requests(fake) == []
        shown = _log_on_screen(app)
        assert shown[0].startswith("connecting to")

        await pilot.press("pageup")
        await until(pilot, lambda: _has(app, "message 51"))
        await pilot.pause()
        assert len(_earlier_requests(fake)) == 1
        assert _log_on_screen(app) == shown  # nothing on screen moved
        assert not app.chat_log.following
        assert app.chat_log.scroll_y == 101  # the page: its day rule, 100 lines

        # Up through that page to the next: it ends on the same day as the
        # page below begins, so that page's day rule goes (the page's own
        # stays above), and the line before takes its row.
        await _to_top(pilot, app)
        shown = _log_on_screen(app)
        assert _rule_label(shown[0]) == SUNDAY
        assert shown[1].rstrip().endswith("message 51")
        await pilot.press("pageup")
        await until(pilot, lambda: _has(app, "message 1"))
        await pilot.pause()
        now = _log_on_screen(app)
        assert now[1:] == shown[1:]
        assert now[0].rstrip().endswith("message 50")
        # The third page was the last: the start of the history on top.
        assert _rules(app) == ["start of history", SUNDAY, SUNDAY]
        assert len(_earlier_requests(fake)) == 2
        await _to_top(pilot, app)
        await pilot.press("pageup", "pageup")
        await pilot.pause()
        assert len(_earlier_requests(fake)) == 2  # nothing more to ask for
        assert _rule_label(_log_on_screen(app)[0]) == "start of history"
        assert sum(1 for row in log_lines(app) if "message" in row) == 250

        # And back down: the newest line, following again.
        await pilot.press("end")
        assert app.chat_log.following
        assert _log_on_screen(app)[-1].rstrip().endswith("message 250")


class HoldingServer(PlayedServer):
    """A played history server that answers earlier pages only when told:
    a request stays in flight as long as a test needs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.held: list[FetchHistory] = []

    def _answer_history(self, message: Message, history: PlayedHistory) -> None:
        if isinstance(message, FetchHistory) and message.before:
            self.held.append(message)
            return
        super()._answer_history(message, history)

    def release(self) -> None:
        assert self.history is not None
        held, self.held = self.held, []
        for message in held:
            self.deliver(*self.history.answer(message, self.nick, self.join))


class HoldingFake(FakeServer):
    def factory(self, _host, _port, sink) -> HoldingServer:
        transport = HoldingServer(sink, users=self.users, history=self.history)
        self.transports.append(transport)
        return transport

    @property
    def current(self) -> HoldingServer:
        transport = self.transports[-1]
        assert isinstance(transport, HoldingServer)
        return transport


async def test_one_page_at_a_time_and_the_wheel_at_the_top_asks_too():
    history = _history(160)
    fake = HoldingFake(users=("bob",), history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 160"))
        await _to_top(pilot, app)
        server = fake.current
        # The wheel, turned up at the top, asks; turning on asks no more
        # while the answer is on its way, and neither does Page Up.
        await _wheel_up(pilot, app, 5)
        await pilot.press("pageup", "pageup")
        await pilot.pause()
        assert len(server.held) == 1
        assert not _has(app, "message 60")

        shown = _log_on_screen(app)
        server.release()
        await until(pilot, lambda: _has(app, "message 1"))
        await pilot.pause()
        assert _log_on_screen(app) == shown
        assert _rules(app) == ["start of history", SUNDAY, SUNDAY]
        # Answered with the start of the history: no more asking.
        await _to_top(pilot, app)
        await _wheel_up(pilot, app, 3)
        await pilot.press("pageup")
        await pilot.pause()
        assert server.held == []
        assert len(_earlier_requests(fake)) == 1


async def test_scrolling_up_without_history_says_so_once():
    fake = FakeServer(users=("bob",))  # a server that keeps no history
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        for _ in range(4):
            await pilot.press("pageup")
        await _wheel_up(pilot, app)
        await pilot.pause()
        text = log_text(app)
        assert text.count("cannot load earlier messages") == 1, text


async def test_an_earlier_page_while_scrolled_up_in_the_middle_keeps_the_view():
    history = _history(260, per_day=40)
    fake = FakeServer(users=("bob",), history=history)
    app = _app(fake)
    async with app.run_test(size=(60, 16)) as pilot:
        await until(pilot, lambda: _has(app, "message 260"))
        await pilot.press("pageup", "pageup")
        shown = _log_on_screen(app)
        assert not app.chat_log.at_top
        await type_line(pilot, "/history 50")
        await until(pilot, lambda: _has(app, "message 111"))
        await pilot.pause()
        assert _log_on_screen(app) == shown
        assert not app.chat_log.following
        # A resize keeps the line at the top of the view there.
        await pilot.resize_terminal(80, 20)
        await pilot.pause()
        assert _log_on_screen(app)[0].rstrip() == shown[0].rstrip()


async def test_a_page_above_lines_that_went_says_it_does_not_join_them():
    history = _history(150)
    fake = FakeServer(history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 150"))
        # So many new lines that the oldest are dropped from the log.
        fresh = [
            history.add("cat", f"fresh {n}").delivered()
            for n in range(1, MAX_ENTRIES + 1)
        ]
        fake.current.deliver(*fresh)
        await until(pilot, lambda: _has(app, f"fresh {MAX_ENTRIES}"))
        assert len(app.chat_log.entries) == MAX_ENTRIES
        assert not _has(app, "message 150")
        app.chat_log.scroll_home(animate=False)  # 2000 lines up, at once
        await pilot.pause()
        await _to_top(pilot, app)
        await pilot.press("pageup")
        await until(pilot, lambda: _has(app, "message 50"))
        await pilot.pause()
        labels = _rules(app)
        assert labels[:2] == ["start of history", SUNDAY]
        rows = log_lines(app)
        gap = rows.index(next(r for r in rows if "not shown here" in r))
        assert rows[gap - 1].endswith("message 50")
        assert rows[gap + 1].endswith("fresh 1")


async def test_a_page_after_clear_says_the_cleared_lines_are_not_there():
    history = _history(250)
    fake = FakeServer(history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 250"))
        await type_line(pilot, "/clear")
        assert log_lines(app) == []
        fake.current.say("bob", "after the clear")
        await until(pilot, lambda: _has(app, "after the clear"))
        await pilot.press("pageup")
        await until(pilot, lambda: _has(app, "message 150"))
        await pilot.pause()
        rows = log_lines(app)
        gap = rows.index(next(r for r in rows if "not shown here" in r))
        assert rows[gap - 1].endswith("message 150")
        assert rows[-1].endswith("after the clear")
        assert gap < len(rows) - 1


# --- stored lines ring no bell ------------------------------------------------------------


async def test_stored_lines_for_the_user_ring_no_bell_and_raise_no_toast():
    history = PlayedHistory()
    for n in range(1, 151):
        history.add("bob", "ann: an older mention" if n == 20 else f"message {n}")
    fake = FakeServer(users=("bob",), history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "message 150"))
        app.post_message(events.AppBlur())  # the terminal is in the background
        await pilot.pause()
        # While the connection is down: a mention, and a private message
        # kept for ann; both come back as stored lines on reconnecting.
        history.add("bob", "ann: a missed mention")
        history.keep_for_later("cat", "ann", "kept while you were away")
        fake.current.drop()
        await until(pilot, lambda: "1 message while you were away" in log_text(app))
        assert _has(app, "» <bob> ann: a missed mention")
        # The private one is in its own conversation, marked for the user.
        kept = [(e.for_you, e.line.text) for e in app.log_of("cat").entries]
        assert (True, "cat → you (private): kept while you were away") in kept
        # And an earlier page with a mention (the wheel leaves the focus be).
        for _ in range(60):
            if _has(app, "older mention"):
                break
            await _wheel_up(pilot, app, 5)
        assert _has(app, "» <bob> ann: an older mention")
        await pilot.pause()
        assert not app.app_focus
        assert app.bells == 0
        assert _toasts(app) == []

        # A live one does ring: the test can tell.
        fake.current.say("bob", "psst", target="ann")
        await until(pilot, lambda: _has(app, "psst", "bob"))
        await pilot.pause()
        assert app.bells == 1
        assert _toasts(app) == [("New private message", "bob: psst")]


# --- search -------------------------------------------------------------------------


def _lunch_history() -> PlayedHistory:
    history = _history(30)

    def say(sender: str, text: str, target: str | None = None) -> None:
        at = PLAYED_EPOCH_MS + (history.last_id + 1) * MINUTE
        history.add(sender, text, target=target, timestamp_ms=at)

    say("bob", "lunch at noon?")
    say("cat", "no lunch for me", target="ann")
    say("cat", "private lunch plans", target="bob")  # not ann's to see
    for n in range(5):
        say("bob", f"after {n}")
    say("ann", "Lunch!\nsee you there")
    return history


def _search_screen(app: ChatApp) -> SearchScreen:
    screen = app.screen
    assert isinstance(screen, SearchScreen), screen
    return screen


def _results_on_screen(app: ChatApp) -> list[str]:
    box = _search_screen(app).result_list.region
    return [row[box.x : box.right].strip(" ▊▎") for row in screen_lines(app)][
        box.y : box.bottom
    ]


async def _assert_in_context(pilot, app: ChatApp, screen: SearchScreen) -> None:
    """The private "no lunch for me" among its lines, reversed; keys scroll."""
    log = screen.context_log
    texts = [row.text.rstrip() for row in log.rows]
    chosen = [row for row in log.rows if "no lunch for me" in row.text]
    assert len(chosen) == 1
    assert all(seg.style and seg.style.reverse for seg in chosen[0] if seg.text)
    assert chosen[0].cell_length == log.scrollable_content_region.width
    others = [row for row in log.rows if "message 30" in row.text]
    assert others
    assert not any(seg.style and seg.style.reverse for seg in others[0])
    assert any("message 23" in text for text in texts)  # the lines before
    assert any("after 4" in text for text in texts)  # and after
    assert not any("private lunch plans" in text for text in texts)
    on_screen = "\n".join(screen_lines(app))
    assert "no lunch for me" in on_screen
    assert screen.title_text() == "the lines around the message of 2026-03-01 12:32"
    top = log.scroll_y
    assert top > 0  # the chosen line is a little above the middle
    await pilot.press("up")
    assert log.scroll_y == top - 1  # the keys scroll the lines
    await pilot.press("pagedown")
    assert log.scroll_y == log.max_scroll_y


async def test_search_lists_the_matches_and_opens_one_among_its_lines():
    fake = FakeServer(users=("bob",), history=_lunch_history())
    app = _app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: _has(app, "see you there"))
        await type_line(pilot, "/search  lunch ")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.pause()
        screen = _search_screen(app)
        assert [m for m in fake.sent() if isinstance(m, Search)][-1].query == "lunch"
        assert screen.title_text() == "3 messages match “lunch”"
        rows = [row for row in _results_on_screen(app) if "2026-" in row]
        assert rows == [
            "2026-03-01 12:31  <bob> lunch at noon?",
            "2026-03-01 12:32  cat → you (private): no lunch for me",
            "2026-03-01 12:39  <ann> Lunch! (+1 more line)",
        ]
        private = screen.result_list.get_option_at_index(1).prompt
        assert isinstance(private, Text)
        assert "magenta" in str(private.get_style_at_offset(app.console, 20))
        results = screen.result_list
        assert results.has_focus
        assert results.highlighted == 2  # the newest

        await pilot.press("up", "up", "down")
        assert results.highlighted == 1
        await pilot.press("enter")
        await until(pilot, lambda: screen.in_context)
        await pilot.pause()
        await _assert_in_context(pilot, app, screen)

        await pilot.press("left")  # back to the results, the same one chosen
        assert not screen.in_context
        assert results.has_focus
        assert results.highlighted == 1
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SearchScreen)
        assert app.focused is app.message_input
        assert app.search_screen is None


async def test_a_search_that_finds_nothing_says_so():
    fake = FakeServer(history=_lunch_history())
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "see you there"))
        await type_line(pilot, "/search dinner [b]tonight[/b]")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.pause()
        screen = _search_screen(app)
        assert screen.title_text() == "no messages match “dinner [b]tonight[/b]”"
        assert not screen.result_list.display
        assert any("no messages match" in row for row in screen_lines(app))
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, SearchScreen)


async def test_a_search_with_older_matches_says_they_are_not_listed():
    history = _lunch_history()
    history.page_limit = 2
    fake = FakeServer(history=history)
    app = _app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _has(app, "see you there"))
        await type_line(pilot, "/search lunch")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen))
        screen = _search_screen(app)
        assert screen.title_text() == (
            "the newest 2 messages matching “lunch” (older ones not listed)"
        )
        # A newer search replaces the results in the same box.
        history.page_limit = 500
        app.message_input.set_text("/search noon")
        app.submit_text(app.message_input.text)  # as Enter would, box open
        await until(pilot, lambda: "noon" in screen.title_text())
        assert app.screen is screen
        assert screen.title_text() == "1 message matches “noon”"


# --- pictures -------------------------------------------------------------------------


def _still(app: ChatApp) -> None:
    """No blinking cursor on any screen (a modal's or the one under it)."""
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False  # type: ignore[attr-defined]


def test_picture_of_days_the_unread_marker_and_the_start_of_history(
    snap_compare, tmp_path
):
    history = _history(6, per_day=3)

    async def first_run() -> None:
        app = ChatApp(
            nick="ann",
            security=plaintext(tmp_path),
            transport_factory=FakeServer(history=history).factory,
        )
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: _has(app, "message 6"))

    asyncio.run(first_run())
    for n in range(7, 10):
        history.add(
            "bob", f"message {n}", timestamp_ms=PLAYED_EPOCH_MS + DAY + n * MINUTE
        )
    app = ChatApp(
        nick="ann",
        security=plaintext(tmp_path),
        transport_factory=FakeServer(users=("bob", "cat"), history=history).factory,
    )

    async def before(pilot) -> None:
        _still(app)
        await until(pilot, lambda: _has(app, "message 9"))
        await pilot.press("pageup")
        await until(pilot, lambda: "start of history" in log_text(app))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_picture_of_search_results(snap_compare):
    app = _app(FakeServer(users=("bob", "cat"), history=_lunch_history()))

    async def before(pilot) -> None:
        _still(app)
        await until(pilot, lambda: _has(app, "see you there"))
        await type_line(pilot, "/search lunch")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen))
        _still(app)
        await pilot.press("up")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_picture_of_a_result_among_its_lines(snap_compare):
    app = _app(FakeServer(users=("bob", "cat"), history=_lunch_history()))

    async def before(pilot) -> None:
        _still(app)
        await until(pilot, lambda: _has(app, "see you there"))
        await type_line(pilot, "/search lunch")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen))
        _still(app)
        await pilot.press("up", "enter")
        await until(pilot, lambda: _search_screen(app).in_context)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


# --- against the real server ------------------------------------------------------------


@pytest.fixture(name="server")
def _server(tmp_path):
    config = ServerConfig(
        port=0,
        data_dir=tmp_path / "server",
        rate_burst=1000,
        rate_per_second=1000.0,
    )
    with ChatServer(config) as server:
        yield server


def _seed(server: ChatServer, count: int) -> None:
    """bob says `count` lines (every tenth about lunch, the last to ann),
    each confirmed, so the server has stored them all."""
    host, port = server.address
    bob = HeadlessDriver(host, port, "bob")
    try:
        bob.wait_connected()
        for n in range(1, count + 1):
            assert bob.submit(f"line {n}" + (" lunch?" if n % 10 == 0 else ""))
        assert bob.submit("ann: lunch, just us?")
        bob.wait_until(lambda: len(bob.lines()) == count + 1, timeout=20)
    finally:
        bob.close()


async def test_scrollback_and_search_against_the_real_server(server, tmp_path):
    _seed(server, 130)
    host, port = server.address
    app = ChatApp(host=host, port=port, nick="ann", security=plaintext(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        # The newest 100 as a first page.
        await until(pilot, lambda: _has(app, "» <bob> ann: lunch, just us?"))
        assert _has(app, "<bob> line 32")
        assert not _has(app, "<bob> line 31")
        assert _rules(app)
        assert set(_rules(app)) <= _recent_days()

        await _to_top(pilot, app)
        shown = _log_on_screen(app)
        await pilot.press("pageup")
        await until(pilot, lambda: _has(app, "<bob> line 1"))
        await pilot.pause()
        assert _log_on_screen(app) == shown
        assert _rules(app)[0] == "start of history"
        assert sum(1 for row in log_lines(app) if "<bob> line " in row) == 130

        await type_line(pilot, "/search lunch")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen))
        screen = _search_screen(app)
        assert screen.title_text() == "14 messages match “lunch”"
        assert screen.result_list.highlighted == 13
        await pilot.press("up", "enter")  # "line 130 lunch?"
        await until(pilot, lambda: screen.in_context)
        await pilot.pause()
        chosen = [row for row in screen.context_log.rows if "line 130" in row.text]
        assert len(chosen) == 1
        assert all(seg.style and seg.style.reverse for seg in chosen[0] if seg.text)
        texts = [row.text for row in screen.context_log.rows]
        assert any("<bob> line 121" in text for text in texts)
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.message_input


def _recent_days() -> set[str]:
    """Today's and yesterday's day rules (the test may run over midnight)."""
    today = datetime.now().astimezone().date()
    return {ev.DaySeparator(today - timedelta(days=n)).label for n in (0, 1)}
