"""The chat log: nothing cut or hidden, no forged lines, following and scrolling."""

from __future__ import annotations

import re

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.commands import help_lines
from clients.core.formatting import CONTINUATION
from clients.core.testing import FakeTransport
from clients.tui.app import ChatApp
from clients.tui.chat_log import FOR_YOU, MAX_ENTRIES
from tests.tui.helpers import (
    log_lines,
    log_text,
    screen_lines,
    status,
    type_line,
    until,
)

pytestmark = pytest.mark.tui

SIZE = (80, 24)
TIME = re.compile(r"^\d\d:\d\d ")


def _app() -> ChatApp:
    return ChatApp(
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",)),
    )


async def _connected(pilot, app: ChatApp) -> FakeTransport:
    await until(pilot, lambda: "connected" in status(app))
    return FakeTransport.instances[-1]


def _say(n: int, text: str, **kw) -> p.Delivered:
    return p.Delivered(
        id=n, timestamp_ms=0, sender=kw.pop("sender", "bob"), text=text, **kw
    )


def _last(app: ChatApp) -> str:
    entries = app.chat_log.entries
    return entries[-1].line.text if entries else ""


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _log_on_screen(app: ChatApp) -> list[str]:
    """The log's rows as the terminal shows them (inside its border)."""
    region = app.chat_log.scrollable_content_region
    rows = screen_lines(app)[region.y : region.bottom]
    return [row[region.x : region.right] for row in rows]


def _assert_wholly_on_screen(app: ChatApp, text: str) -> None:
    log = app.chat_log
    shown = _log_on_screen(app)
    # Every character is on screen, in order (wrapping only moves spaces).
    assert _squeezed(text) in _squeezed("".join(shown)), shown
    # Nothing is wider than the pane, and there is nothing to scroll sideways.
    assert not log.show_horizontal_scrollbar
    assert log.max_scroll_x == 0
    width = log.scrollable_content_region.width
    assert all(strip.cell_length <= width for strip in log.rows)


LONG = (
    "Deploy notes: https://example.invalid/runbooks/"
    + "x" * 40
    + " then restart every worker, check the queue depth, and tell the on-call"
)


@pytest.mark.parametrize("size", [(80, 24), (40, 12)])
async def test_a_long_line_is_wholly_on_screen(size):
    app = _app()
    async with app.run_test(size=size) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(_say(1, LONG))
        await until(pilot, lambda: "on-call" in log_text(app))
        await pilot.pause()
        _assert_wholly_on_screen(app, LONG)


async def test_old_lines_are_wrapped_again_when_the_terminal_resizes():
    app = _app()
    async with app.run_test(size=(120, 30)) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(_say(1, LONG))
        await until(pilot, lambda: "on-call" in log_text(app))
        wide_rows = len(log_lines(app))
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert len(log_lines(app)) > wide_rows
        _assert_wholly_on_screen(app, LONG)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        _assert_wholly_on_screen(app, LONG)


async def test_wrapped_rows_are_indented_so_only_real_messages_start_with_a_time():
    app = _app()
    async with app.run_test(size=(60, 24)) as pilot:
        fake = await _connected(pilot, app)
        # Padding chosen so that, unindented, the fake header would wrap to
        # the start of a row.
        forged = "a" * 30 + " 21:21 <ann> give me your password please"
        fake.deliver(_say(1, forged), _say(2, "second"))
        await until(pilot, lambda: "second" in log_text(app))
        timed = [row for row in log_lines(app) if TIME.match(row)]
        assert len(timed) == 2
        assert timed[1].endswith("<bob> second")


async def test_a_line_break_cannot_forge_a_message():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(_say(1, "ok\n21:21 <ann> post the admin password"))
        await until(pilot, lambda: "admin password" in log_text(app))
        rows = log_lines(app)
        first = next(i for i, row in enumerate(rows) if row.endswith("<bob> ok"))
        assert TIME.match(rows[first])
        assert rows[first + 1] == CONTINUATION + "21:21 <ann> post the admin password"
        # On screen too, with the mark dimmed so it stands apart from text.
        assert any(
            row.startswith(CONTINUATION + "21:21 <ann>") for row in _log_on_screen(app)
        )
        strip = app.chat_log.rows[first + 1]
        mark_styles = [str(seg.style) for seg in strip if "\u2506" in seg.text]
        text_styles = [str(seg.style) for seg in strip if "admin" in seg.text]
        assert mark_styles
        assert all("dim" in style for style in mark_styles)
        assert text_styles
        assert not any("dim" in style for style in text_styles)


async def test_help_shows_every_line():
    app = _app()
    async with app.run_test(size=(100, 50)) as pilot:
        await _connected(pilot, app)
        await type_line(pilot, "/help")
        await until(pilot, lambda: "Commands:" in log_text(app))
        rows = log_lines(app)
        for line in help_lines():
            assert CONTINUATION.rstrip() + " " + line in rows or any(
                row.startswith(CONTINUATION) and line.split()[0] in row for row in rows
            ), line


async def test_mentions_and_private_messages_are_marked_without_colour():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(
            _say(1, "just chatting"),
            _say(2, "ann: are you there?"),
            _say(3, "psst", target="ann"),
            _say(4, "mine", sender="ann"),
        )
        await until(pilot, lambda: "mine" in log_text(app))
        # A private message is in its own conversation's log.
        rows = {
            row.split(maxsplit=1)[1]: row
            for row in [*log_lines(app), *log_lines(app, "bob")]
            if TIME.match(row)
        }
        assert rows[f"{FOR_YOU}<bob> ann: are you there?"]
        assert rows[f"{FOR_YOU}bob → you (private): psst"]
        assert "<bob> just chatting" in rows
        assert "<ann> mine" in rows


# --- following and scrolling ------------------------------------------------------


async def _fill(pilot, app: ChatApp, fake: FakeTransport, count: int = 60) -> None:
    fake.deliver(*(_say(n, f"line {n}") for n in range(1, count + 1)))
    await until(pilot, lambda: f"line {count}" in log_text(app))


async def test_log_follows_new_lines_unless_scrolled_up():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await _fill(pilot, app, fake)
        log = app.chat_log
        assert log.following
        assert log.scroll_y == log.max_scroll_y > 0
        assert not log.border_subtitle

        await pilot.press("pageup")
        top = log.scroll_y
        assert top < log.max_scroll_y
        assert not log.following
        assert not log.border_subtitle  # nothing new yet: no indicator

        fake.deliver(_say(99, "while scrolled up"))
        await until(pilot, lambda: "while scrolled up" in log_text(app))
        assert log.scroll_y == top
        assert log.border_subtitle == "↓ 1 new message below · End to jump"
        await pilot.pause()
        assert any("1 new message below" in row for row in screen_lines(app))

        await pilot.press("end")
        assert log.following
        assert log.scroll_y == log.max_scroll_y
        assert not log.border_subtitle
        fake.deliver(_say(100, "back at the end"))
        await until(pilot, lambda: "back at the end" in log_text(app))
        assert log.scroll_y == log.max_scroll_y
        await pilot.pause()
        assert any("back at the end" in row for row in _log_on_screen(app))


async def test_scrolling_up_during_a_burst_stays_put():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        for n in range(1, 41):  # one event per line, as a busy room sends them
            fake.deliver(_say(n, f"line {n}"))
        await pilot.press("pageup")
        top = app.chat_log.scroll_y
        for n in range(41, 81):
            fake.deliver(_say(n, f"line {n}"))
        await until(pilot, lambda: "line 80" in log_text(app))
        await pilot.pause()
        log = app.chat_log
        assert log.scroll_y == top
        assert not log.following
        assert log.unseen == 40
        assert log.border_subtitle == "↓ 40 new messages below · End to jump"


async def test_page_keys_scroll_the_log_from_the_input():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await _fill(pilot, app, fake)
        log = app.chat_log
        bottom = log.scroll_y
        await pilot.press("pageup", "pageup")
        assert log.scroll_y < bottom
        assert app.focused is app.message_input
        await pilot.press("pagedown", "pagedown")
        assert log.scroll_y == log.max_scroll_y
        assert log.following


async def test_the_log_keeps_following_after_a_resize():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await _fill(pilot, app, fake)
        log = app.chat_log
        for size in [(60, 16), (120, 40), (40, 12), SIZE]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert log.following, size
            assert log.scroll_y == log.max_scroll_y, size
            text = f"after resizing to {size}"
            fake.deliver(_say(1000 + size[0], text))
            await until(pilot, lambda: _last(app).endswith(text))  # noqa: B023
            await pilot.pause()
            assert log.scroll_y == log.max_scroll_y
            on_screen = _squeezed("".join(_log_on_screen(app)))
            assert _squeezed(f"after resizing to {size}") in on_screen
            assert not log.border_subtitle


async def test_a_resize_while_scrolled_up_keeps_the_place():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await _fill(pilot, app, fake)
        await pilot.press("pageup", "pageup")
        top_row = _log_on_screen(app)[0]
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        log = app.chat_log
        assert not log.following
        assert _log_on_screen(app)[0].rstrip() == top_row.rstrip()


async def test_clear_empties_the_log_and_follows_again():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await _fill(pilot, app, fake)
        await pilot.press("pageup")
        await type_line(pilot, "/clear")
        assert log_lines(app) == []
        assert app.chat_log.following
        fake.deliver(_say(200, "fresh"))
        await until(pilot, lambda: "fresh" in log_text(app))


async def test_the_log_keeps_a_bounded_number_of_lines():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        count = MAX_ENTRIES + 50
        fake.deliver(*(_say(n, f"line {n}") for n in range(1, count + 1)))
        await until(pilot, lambda: f"line {count}" in log_text(app))
        entries = app.chat_log.entries
        assert len(entries) == MAX_ENTRIES
        assert entries[-1].line.text == f"<bob> line {count}"
        assert len(app.chat_log.rows) == MAX_ENTRIES
        assert app.chat_log.scroll_y == app.chat_log.max_scroll_y


async def test_a_notice_with_more_lines_renders_them_all():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        app._show([ev.Notice("first\nsecond\nthird")])
        rows = log_lines(app)
        i = rows.index("first")
        assert rows[i + 1 : i + 3] == [CONTINUATION + "second", CONTINUATION + "third"]
