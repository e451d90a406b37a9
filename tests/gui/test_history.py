"""Stored history in the window (issue 14): day separators, the unread
marker, earlier pages when scrolled to the top, search and context, and no
bell for lines that come from the store.

The window runs a real `ChatClient`; the server is `PlayedServer` with a
`PlayedHistory` (the test plays it) or, at the end, the real server.
"""

from __future__ import annotations

import functools
import tkinter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import cast

import pytest

from clients.core import events as ev
from clients.core.journal import Journal, JournalState
from clients.core.testing import HeadlessDriver, PlayedHistory, PlayedServer
from clients.gui.app import ChatWindow
from clients.gui.chatlog import HISTORY_START_TEXT, UNREAD_TEXT, rule_text
from clients.gui.search import no_match_text
from protocol import FetchHistory, Message, Search
from server import ChatServer, ServerConfig
from tests.gui.conftest import FakeServer, plaintext, press, pump

pytestmark = pytest.mark.gui

FIRST_DAY = datetime(2026, 11, 27, 9, 0)  # noqa: DTZ001 - the user's local time
"""The first stored message's day; each test day has its messages from 09:00."""
PER_DAY = 40


def _at(day: int, minute: int) -> int:
    """Milliseconds since the epoch of `minute` past 09:00 (local) on day `day`."""
    when = (FIRST_DAY + timedelta(days=day, minutes=minute)).astimezone()
    return int(when.timestamp() * 1000)


def _text(day: int, number: int) -> str:
    return f"day {day} line {number:02d}"


def _history(days: int = 3, *, page_limit: int = 500) -> PlayedHistory:
    """`days` days of PER_DAY messages from bob and cy, ten minutes apart."""
    history = PlayedHistory(page_limit=page_limit)
    for day in range(days):
        for number in range(PER_DAY):
            history.add(
                "bob" if number % 2 else "cy",
                _text(day, number),
                timestamp_ms=_at(day, 10 * number),
            )
    return history


def _label(day: int) -> str:
    return ev.DaySeparator((FIRST_DAY + timedelta(days=day)).date()).label


class HoldingServer(PlayedServer):
    """Answers earlier pages only when told (`release`), to catch a second
    request sent while the first is in flight."""

    def __init__(self, sink, **kwargs) -> None:
        super().__init__(sink, **kwargs)
        self.hold = True
        self.held: list[FetchHistory] = []

    def _answer_history(self, message: Message, history: PlayedHistory) -> None:
        if (
            self.hold
            and isinstance(message, FetchHistory)
            and message.before
            and not message.after
        ):
            self.held.append(message)
            return
        super()._answer_history(message, history)

    def release(self) -> None:
        held, self.held = self.held, []
        for message in held:
            self.deliver(*self.history.answer(message, self.nick, self.join))


class HoldingFake(FakeServer):
    def make_transport(self, sink) -> PlayedServer:
        return HoldingServer(sink, users=self.users, history=self.history)


def _connect(make_window, fake: FakeServer, **kwargs) -> ChatWindow:
    kwargs.setdefault("security", None)
    window = make_window(
        host="127.0.0.1",
        port=9,
        nick="ann",
        transport_factory=fake.factory,
        **kwargs,
    )
    pump(window, lambda: "connected" in str(window.pane.status.cget("text")))
    return window


def _box(window: ChatWindow) -> tkinter.Text:
    return window.pane.display._textbox


def _rows(window: ChatWindow) -> list[str]:
    return window.chat_text().split("\n")


def _pages(fake: FakeServer) -> list[FetchHistory]:
    """Requests for earlier pages (not the catch-up, not a context)."""
    return [
        m
        for m in fake.sent()
        if isinstance(m, FetchHistory) and m.before and not m.after
    ]


def _row_at(box: tkinter.Text, y: int) -> str:
    index = box.index(f"@1,{y}")
    return str(box.get(f"{index} linestart", f"{index} lineend"))


def _top_of(box: tkinter.Text, text: str) -> int:
    """The top pixel of the row showing `text`."""
    info = box.dlineinfo(box.search(text, "1.0"))
    assert info is not None, f"{text!r} is not on screen"
    return info[1]


def _shows(window: ChatWindow, text: str) -> bool:
    return text in window.chat_text()


def _first_line_on_screen(box: tkinter.Text) -> tuple[str, int]:
    """The text and top pixel of the first message row in view."""
    index = box.index("@0,0")
    while "row" not in box.tag_names(index):
        index = box.index(f"{index} +1 line linestart")
    info = box.dlineinfo(index)
    assert info is not None
    return str(box.get(index, f"{index} lineend")), info[1]


def _wheel_up(window: ChatWindow, times: int = 1) -> None:
    box = _box(window)
    for _ in range(times):
        box.event_generate("<Button-4>", x=20, y=20)
        window.update()


def _to_top(window: ChatWindow) -> None:
    """Wheel up until the log's first row is in view (each turn may ask)."""
    for _ in range(500):
        _wheel_up(window)
        if window.pane.display.at_top():
            return
    raise AssertionError("the wheel never reached the top")


def _drag_scrollbar_to_top(window: ChatWindow) -> None:
    scrollbar = window.pane.display._y_scrollbar
    pump(window, scrollbar.winfo_ismapped)
    canvas = scrollbar._canvas
    canvas.event_generate("<Button-1>", x=4, y=2)
    canvas.event_generate("<B1-Motion>", x=4, y=0)
    canvas.event_generate("<ButtonRelease-1>", x=4, y=0)
    window.update()


# --- rendering: events handed to the window ------------------------------------------


def _line(
    message_id: int,
    text: str,
    *,
    sender: str = "bob",
    day: int = 0,
    target: str | None = None,
    recalled: bool = False,
    mentions_me: bool = False,
) -> ev.ChatLine:
    return ev.ChatLine(
        id=message_id,
        timestamp_ms=_at(day, message_id),
        sender=sender,
        target=target,
        text=text,
        is_own=sender == "ann",
        is_direct=target is not None,
        mentions_me=mentions_me,
        recalled=recalled,
    )


def _day(day: int) -> ev.DaySeparator:
    return ev.DaySeparator((FIRST_DAY + timedelta(days=day)).date())


def test_day_separators_and_the_unread_marker_are_centred_rules(fake_window):
    window, _ = fake_window()
    window._show(
        [
            _day(0),
            _line(1, "seen yesterday", recalled=True),
            _day(1),
            _line(2, "seen today", day=1, recalled=True),
            ev.UnreadMarker(),
            _line(3, "new to you", day=1, recalled=True),
        ]
    )
    display = window.pane.display
    rows = _rows(window)
    start = next(i for i, row in enumerate(rows) if row == rule_text(_label(0)))
    assert rows[start + 1].endswith("<bob> seen yesterday")
    assert rows[start + 2] == rule_text(_label(1))
    assert rows[start + 3].endswith("<bob> seen today")
    assert rows[start + 4] == rule_text(UNREAD_TEXT)
    assert rows[start + 5].endswith("<bob> new to you")
    box = _box(window)
    for tag in ("day", "unread"):
        assert box.tag_cget(tag, "justify") == "center"
        assert box.tag_cget(tag, "foreground") != box.tag_cget("chat", "foreground")
    assert box.tag_cget("unread", "foreground") != box.tag_cget("day", "foreground")
    # Centred: the rule starts well right of where message rows start.
    window.update()
    rule = box.bbox(box.search(rule_text(_label(0)), "1.0"))
    message = box.bbox(box.search("seen yesterday", "1.0") + " linestart")
    assert rule is not None
    assert message is not None
    assert rule[0] > message[0] + 50
    # A separator is not a message: no time, no message styling.
    assert "row" not in box.tag_names(box.search(rule_text(_label(0)), "1.0"))

    # Only the newest marker shows; a day's separator shows once.
    window._show([ev.UnreadMarker(), _day(1), _line(4, "newest", day=1)])
    assert display.rows_tagged("unread") == [rule_text(UNREAD_TEXT)]
    rows = _rows(window)
    assert rows.index(rule_text(UNREAD_TEXT)) == len(rows) - 3  # above "newest"
    assert rows[-2].endswith("<bob> newest")
    assert rows.count(rule_text(_label(1))) == 1


def _focus_elsewhere(window: ChatWindow) -> tkinter.Toplevel:
    other = tkinter.Toplevel(window)
    other.geometry("120x80+600+400")
    other.focus_force()
    pump(window, lambda: not window.has_focus())
    return other


def test_recalled_lines_neither_ring_nor_count(fake_window, monkeypatch):
    window, _ = fake_window()
    rings: list[None] = []
    monkeypatch.setattr(window, "bell", lambda *_a: rings.append(None))
    title = window.title()
    other = _focus_elsewhere(window)
    try:
        window._show(
            [
                _line(1, "kept for you", target="ann", recalled=True),
                _line(2, "ann: remember this?", mentions_me=True, recalled=True),
            ]
        )
        window._show(
            [
                ev.EarlierLines(
                    items=(_line(0, "older, for ann", target="ann"),), more=True
                )
            ]
        )
        window.update()
        assert "kept for you" in window.chat_text()
        assert "older, for ann" in window.chat_text()
        assert rings == []
        assert window.unseen == 0
        assert window.title() == title
        # The same line live does ring: the test can tell.
        window._show([_line(3, "now, for you", target="ann")])
        assert len(rings) == 1
        assert window.title() == f"(1) {title}"
    finally:
        other.destroy()


def _fill(window: ChatWindow, count: int, *, first_id: int = 1000) -> None:
    events: list[ev.UiEvent] = [_day(2)]
    events += [_line(first_id + n, f"live line {n:03d}", day=2) for n in range(count)]
    window._show(events)
    window.update()


@pytest.mark.parametrize("scrolled", [0, 3, 137])
def test_an_earlier_page_goes_above_without_moving_the_view(fake_window, scrolled):
    window, _ = fake_window()
    _fill(window, 80)
    box = _box(window)
    box.yview_moveto(0.0)
    box.yview_scroll(scrolled, "pixels")
    window.update()
    before_text, before_y = _first_line_on_screen(box)
    page = ev.EarlierLines(
        items=(
            _day(1),
            *(_line(500 + n, f"older {n:02d}", day=1) for n in range(30)),
            _day(2),  # the day the log began with: its separator moves up
            _line(599, "same day, earlier", day=2),
        ),
        more=True,
    )
    window._show([page])
    window.update()
    after_text, after_y = _first_line_on_screen(box)
    if scrolled == 0:
        # The view stays on the line it showed; the new rows are above it.
        assert _row_at(box, before_y) == before_text
        assert _top_of(box, before_text) == before_y, "the line moved"
    else:
        assert (after_text, after_y) == (before_text, before_y)
    rows = _rows(window)
    assert rows[0] == rule_text(_label(1))
    assert rows[1].endswith("<bob> older 00")
    assert rows.count(rule_text(_label(2))) == 1
    day2 = rows.index(rule_text(_label(2)))
    assert rows[day2 + 1].endswith("<bob> same day, earlier")
    # Then what was there before (the session's notices, then the lines).
    live = next(i for i, row in enumerate(rows) if row.endswith("live line 000"))
    assert all("────" not in row for row in rows[day2 + 2 : live])

    # At the top again, where day 1's separator is: more of day 1 goes above
    # it, and the first line of the view stays put as the separator moves up.
    box.yview_moveto(0.0)
    window.update()
    assert _row_at(box, 5) == rule_text(_label(1))
    top_text, top_y = _first_line_on_screen(box)
    assert top_text.endswith("<bob> older 00")
    window._show(
        [
            ev.EarlierLines(
                items=(
                    _day(1),
                    *(_line(450 + n, f"oldest {n}", day=1) for n in range(3)),
                ),
                more=True,
            )
        ]
    )
    window.update()
    assert _top_of(box, top_text) == top_y, "the line moved"
    assert _row_at(box, top_y - 5).endswith("<bob> oldest 2")  # just above it
    rows = _rows(window)
    assert rows[:2] == [rule_text(_label(1)), rows[1]]
    assert rows[1].endswith("<bob> oldest 0")
    assert rows.count(rule_text(_label(1))) == 1
    assert not window.pane.display.has_history_start()

    # The last page: "start of history" once, at the very top.
    window._show(
        [ev.EarlierLines(items=(_day(1), _line(400, "first ever", day=1)), more=False)]
    )
    window._show([ev.EarlierLines(items=(), more=False)])
    rows = _rows(window)
    assert rows[0] == rule_text(HISTORY_START_TEXT)
    assert rows[1] == rule_text(_label(1))  # the day still begins above its lines
    assert rows[2].endswith("<bob> first ever")
    assert rows[3].endswith("<bob> oldest 0")
    assert rows.count(rule_text(_label(1))) == 1
    assert rows.count(rule_text(HISTORY_START_TEXT)) == 1


# --- through the session: a played server that keeps history ----------------------------


def test_scrolling_to_the_top_fetches_an_earlier_page_once_and_keeps_the_view(
    make_window,
):
    fake = HoldingFake(("bob", "cy"), history=_history(3, page_limit=20))
    window = _connect(make_window, fake)
    window.geometry("700x400")  # the first page is taller than the log
    pump(window, lambda: window.winfo_height() == 400)
    # The latest page: the newest 20, from the middle of day 2.
    pump(window, lambda: _text(2, 39) in window.chat_text())
    assert _text(2, 19) not in window.chat_text()
    assert _text(2, 20) in window.chat_text()
    assert window.chat_text().count(rule_text(_label(2))) == 1
    assert _pages(fake) == []

    box = _box(window)
    _to_top(window)
    pump(window, lambda: len(_pages(fake)) == 1)
    # More ways to the top while the page is on its way: no second request.
    _wheel_up(window, 5)
    _drag_scrollbar_to_top(window)
    press(window.pane.display, "<Control-Home>")
    assert len(_pages(fake)) == 1
    assert _pages(fake)[0].before == 2 * PER_DAY + 21  # the oldest shown

    text, y = _first_line_on_screen(box)
    server = cast("HoldingServer", fake.current)
    server.release()
    pump(window, lambda: _text(2, 0) in window.chat_text())
    window.update()
    assert _row_at(box, y) == text, "the view moved"
    assert _top_of(box, text) == y
    rows = _rows(window)
    # Day 2 now begins above its first line, and only there.
    assert rows[0] == rule_text(_label(2))
    assert rows[1].endswith(_text(2, 0))
    assert rows.count(rule_text(_label(2))) == 1

    # Every way to the top asks for the next page.
    server.hold = False
    ways: list[tuple[str, Callable[[], None]]] = [
        ("scrollbar", lambda: _drag_scrollbar_to_top(window)),
        ("Page Up in the input", lambda: press(window.pane.input, "<Prior>")),
        ("Ctrl+Home in the log", lambda: press(window.pane.display, "<Control-Home>")),
        ("Page Up in the log", lambda: press(window.pane.display, "<Prior>")),
    ]
    oldest = [_text(1, 20), _text(1, 0), _text(0, 20), _text(0, 0)]
    for (way, act), shown in zip(ways, oldest, strict=True):
        asked = len(_pages(fake))
        for _ in range(100):  # Page Up and the wheel take several turns
            act()
            if len(_pages(fake)) > asked:
                break
        assert len(_pages(fake)) == asked + 1, way
        pump(window, functools.partial(_shows, window, shown))
    pump(window, window.pane.display.has_history_start)
    rows = _rows(window)
    assert rows[0] == rule_text(HISTORY_START_TEXT)
    assert rows[1] == rule_text(_label(0))
    assert rows[2].endswith(_text(0, 0))
    assert _message_rows(window) == _all_texts()
    for day in range(3):
        assert rows.count(rule_text(_label(day))) == 1
    # At the start of history nothing more is asked for.
    asked = len(_pages(fake))
    _wheel_up(window, 3)
    press(window.pane.display, "<Control-Home>")
    assert len(_pages(fake)) == asked


def _all_texts() -> list[str]:
    return [_text(day, n) for day in range(3) for n in range(PER_DAY)]


def _message_rows(window: ChatWindow) -> list[str]:
    """The words of each stored message shown, top to bottom."""
    return [row.rsplit("> ", 1)[1] for row in _rows(window) if "> day " in row]


def test_without_history_scrolling_up_says_so_once_per_connection(fake_window):
    window, fake = fake_window()
    _fill(window, 40)
    _to_top(window)
    _wheel_up(window, 5)
    press(window.pane.display, "<Control-Home>")
    assert window.chat_text().count("keeps no history") == 1
    assert not [m for m in fake.sent() if isinstance(m, FetchHistory)]
    fake.current.drop()
    pump(window, lambda: len(fake.transports) == 2, timeout=10)
    pump(window, lambda: "connected" in str(window.pane.status.cget("text")))
    _to_top(window)
    _wheel_up(window, 3)
    assert window.chat_text().count("keeps no history") == 2


def test_the_unread_marker_goes_before_what_came_since_the_last_run(
    make_window, tmp_path
):
    history = _history(2)
    # The last run saw up to day 1, line 29; ten more came since.
    Journal("127.0.0.1", 9, "ann").save(JournalState(last_seen=PER_DAY + 30))
    fake = FakeServer(("bob",), history=history)
    window = _connect(make_window, fake, security=plaintext(tmp_path))
    pump(window, lambda: _text(1, 39) in window.chat_text())
    rows = _rows(window)
    marker = rows.index(rule_text(UNREAD_TEXT))
    assert rows[marker + 1] == rule_text(_label(1))
    assert rows[marker + 2].endswith(_text(1, 30))
    assert _text(1, 29) not in window.chat_text()  # only what was missed
    # Scrolling up brings what was seen before, above the marker.
    _to_top(window)
    pump(window, lambda: _text(1, 29) in window.chat_text())
    rows = _rows(window)
    assert rows.index(rule_text(UNREAD_TEXT)) == rows.index(_row_of(rows, 1, 30)) - 1
    assert rows.index(_row_of(rows, 1, 29)) < rows.index(rule_text(UNREAD_TEXT))
    assert rows.count(rule_text(UNREAD_TEXT)) == 1


def _row_of(rows: list[str], day: int, number: int) -> str:
    return next(row for row in rows if row.endswith(_text(day, number)))


def _search_for(window: ChatWindow, words: str) -> None:
    press(window.pane.input, "<Control-f>")
    assert window.focus_get() is window.pane.search_box._entry
    entry = window.pane.search_box
    entry.delete(0, "end")
    entry.insert(0, words)
    press(entry, "<Return>")


def _results_shown(window: ChatWindow) -> Callable[[], bool]:
    return lambda: window.search_window is not None and window.search_window.is_shown()


def _click_row(window: ChatWindow, row: int) -> None:
    results = window.search_window.results
    box = results._textbox
    box.see(f"{row + 1}.0")
    window.update()
    bbox = box.bbox(f"{row + 1}.5")
    assert bbox is not None
    x, y, w, h = bbox
    box.event_generate("<Motion>", x=x + w // 2, y=y + h // 2)
    box.event_generate("<ButtonPress-1>", x=x + w // 2, y=y + h // 2)
    box.event_generate("<ButtonRelease-1>", x=x + w // 2, y=y + h // 2)
    window.update()


def test_the_search_box_shows_results_and_opens_their_context(make_window):
    history = _history(2)
    history.add(
        "bob",
        "the quarterly numbers, privately",
        target="ann",
        timestamp_ms=_at(1, 500),
    )
    history.add("cy", "quarterly numbers are in", timestamp_ms=_at(1, 510))
    history.add("cy", "lunch?", timestamp_ms=_at(1, 520))
    fake = FakeServer(("bob", "cy"), history=history)
    window = _connect(make_window, fake)
    pump(window, lambda: "lunch?" in window.chat_text())
    _search_for(window, "  Quarterly   numbers ")
    pump(window, _results_shown(window))
    searches = [m for m in fake.sent() if isinstance(m, Search)]
    assert [m.query for m in searches] == ["Quarterly numbers"]
    panel = window.search_window
    results = panel.results
    day1 = FIRST_DAY + timedelta(days=1, minutes=500)
    assert results.rows() == [
        f"{day1.day} {day1:%b %Y} 17:20  ✉ bob → you (private): the quarterly numbers, privately",
        f"{day1.day} {day1:%b %Y} 17:30  <cy> quarterly numbers are in",
    ]
    assert "2 messages match “Quarterly numbers”" in panel.heading.cget("text")
    # The newest is selected, and the keyboard is in the list.
    assert results.selected == 1
    pump(window, lambda: window.focus_get() is results._textbox)

    # Enter opens the selected one in context: the lines around it.
    press(results, "<Return>")
    pump(window, lambda: panel.focus_id == history.messages[-2].id)
    context = panel.context.text().split("\n")
    assert rule_text(_label(1)) in context
    assert any(row.endswith("<cy> lunch?") for row in context)
    assert any(row.endswith(_text(1, 39)) for row in context)
    assert panel.focused_text().endswith("<cy> quarterly numbers are in")
    box = panel.context._textbox
    focused = box.tag_ranges("focus")
    assert box.tag_cget("focus", "background")
    window.update()
    assert box.bbox(focused[0]) is not None, "the chosen line is out of view"

    # Up, then a click: the private one, in its context.
    press(results, "<Up>")
    assert results.selected == 0
    _click_row(window, 0)
    pump(window, lambda: panel.focus_id == history.messages[-3].id)
    assert panel.focused_text().endswith(
        "✉ bob → you (private): the quarterly numbers, privately"
    )
    # Ctrl+F there goes back to the search box, to search again.
    press(results, "<Control-f>")
    pump(window, lambda: window.focus_get() is window.pane.search_box._entry)
    press(window.pane.search_box, "<Down>")
    pump(window, lambda: window.focus_get() is results._textbox)
    # Escape hides the window and gives the keyboard back to the chat.
    press(results, "<Escape>")
    assert not panel.is_shown()
    pump(window, lambda: window.focus_get() is window.pane.input._textbox)


def test_a_search_without_matches_says_so(make_window):
    fake = FakeServer(("bob",), history=_history(1))
    window = _connect(make_window, fake)
    pump(window, lambda: _text(0, 39) in window.chat_text())
    _search_for(window, "zebra")
    pump(window, _results_shown(window))
    panel = window.search_window
    assert panel.results.rows() == [no_match_text("zebra")]
    assert panel.heading.cget("text") == no_match_text("zebra")
    assert no_match_text("zebra") == "no messages match “zebra”"
    assert panel.results.ids() == []
    press(panel.results, "<Return>")  # nothing to open
    assert not [m for m in fake.sent() if isinstance(m, FetchHistory) and m.after]


def test_a_typed_search_opens_the_same_window(make_window):
    fake = FakeServer(("bob",), history=_history(2))
    window = _connect(make_window, fake)
    pump(window, lambda: _text(1, 39) in window.chat_text())
    window.pane.input.insert("1.0", "/search line 07")
    window.send()
    pump(window, _results_shown(window))
    assert [r.split("  ", 1)[1] for r in window.search_window.results.rows()] == [
        f"<bob> {_text(0, 7)}",
        f"<bob> {_text(1, 7)}",
    ]


# --- screenshots (looked at by hand; only checked for content here) ----------------


def _grab(window: ChatWindow, widget, path) -> None:
    from PIL import ImageGrab  # noqa: PLC0415 - only in the gui session

    window.update()
    x, y = widget.winfo_rootx(), widget.winfo_rooty()
    image = ImageGrab.grab(
        bbox=(x, y, x + widget.winfo_width(), y + widget.winfo_height())
    )
    image.save(path)
    print(f"screenshot: {path}")
    darkest, lightest = cast("tuple[int, int]", image.convert("L").getextrema())
    assert lightest - darkest > 50  # drawn, not a blank rectangle


def test_screenshot_of_separators_and_the_unread_marker(make_window, tmp_path):
    history = _history(2)
    Journal("127.0.0.1", 9, "ann").save(JournalState(last_seen=PER_DAY - 3))
    fake = FakeServer(("bob", "cy"), history=history)
    window = _connect(make_window, fake, security=plaintext(tmp_path))
    pump(window, lambda: _text(1, 39) in window.chat_text())
    box = _box(window)
    box.yview(box.search(rule_text(UNREAD_TEXT), "1.0") + " -4 lines")
    window.update()
    _grab(window, window, tmp_path / "chinwag-gui-history.png")


def test_screenshot_of_search_results_and_context(make_window, tmp_path):
    history = _history(2)
    history.add(
        "bob", "the release is on Friday", target="ann", timestamp_ms=_at(1, 500)
    )
    history.add(
        "cy", "release notes: https://example.org/notes", timestamp_ms=_at(1, 505)
    )
    fake = FakeServer(("bob", "cy"), history=history)
    window = _connect(make_window, fake)
    pump(window, lambda: "release notes" in window.chat_text())
    _search_for(window, "release")
    pump(window, _results_shown(window))
    press(window.search_window.results, "<Return>")
    pump(window, lambda: window.search_window.focused_text() != "")
    _grab(window, window.search_window, tmp_path / "chinwag-gui-search.png")


# --- the real server ------------------------------------------------------------------

SAID = 130


@pytest.fixture(name="history_server")
def _history_server(tmp_path) -> Iterator[ChatServer]:
    config = ServerConfig(
        port=0,
        data_dir=tmp_path / "server",
        rate_burst=SAID * 2,
        rate_per_second=1000.0,
    )
    with ChatServer(config) as server:
        yield server


def _said(number: int) -> str:
    return f"message {number:03d}" + (" zebra" if number % 40 == 7 else "")


def test_against_the_real_server_pages_search_and_context(make_window, history_server):
    host, port = history_server.address
    bob = HeadlessDriver(host, port, "bob")
    try:
        bob.wait_connected()
        for number in range(SAID):
            assert bob.submit(_said(number))
        bob.wait_until(
            lambda: sum(line.is_own for line in bob.lines()) == SAID, timeout=30
        )
        first_day = bob.lines()[0].time.date()
    finally:
        bob.close()
    window = make_window(host=host, port=port, nick="ann")
    # The newest page (100) came with the connection; the 30 before it on
    # scrolling up, and then nothing more is stored.
    pump(window, lambda: _said(SAID - 1) in window.chat_text())
    assert _said(SAID - 101) not in window.chat_text()
    assert _said(SAID - 100) in window.chat_text()
    _to_top(window)
    pump(window, window.pane.display.has_history_start)
    rows = _rows(window)
    shown = [row.split("<bob> ", 1)[1] for row in rows if "<bob> message" in row]
    assert shown == [_said(number) for number in range(SAID)]
    assert rows[0] == rule_text(HISTORY_START_TEXT)
    day = ev.DaySeparator(first_day).label
    assert rows[1] == rule_text(day)
    assert rows.count(rule_text(day)) == 1

    _search_for(window, "zebra")
    pump(window, _results_shown(window))
    panel = window.search_window
    assert [row.split("  ", 1)[1] for row in panel.results.rows()] == [
        f"<bob> {_said(number)}" for number in (7, 47, 87, 127)
    ]
    press(panel.results, "<Up>")
    press(panel.results, "<Return>")
    pump(window, lambda: panel.focused_text().endswith(_said(87)))
    context = [
        row.split("<bob> ", 1)[1]
        for row in panel.context.text().split("\n")
        if "<bob> " in row
    ]
    assert _said(86) in context
    assert _said(88) in context
    assert context == sorted(context)
