"""The input line: pastes, typing ahead, focus, the nickname prompt, pending lines."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

import protocol as p
from clients.core import events as ev
from clients.core.testing import FakeTransport
from clients.tui.app import ChatApp
from clients.tui.screens import NickScreen, PasteScreen
from clients.tui.widgets import PASTE_PREVIEW_CHARS
from tests.tui.helpers import (
    feed_terminal,
    input_value,
    log_text,
    pending_rows,
    screen_lines,
    status,
    until,
)

pytestmark = pytest.mark.tui

SIZE = (80, 24)


def _app(*, nick: str | None = "ann") -> ChatApp:
    return ChatApp(
        nick=nick,
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",)),
    )


async def _connected(pilot, app: ChatApp) -> FakeTransport:
    await until(pilot, lambda: "connected" in status(app))
    return FakeTransport.instances[-1]


def _sent(fake: FakeTransport) -> list[str]:
    return [m.text for m in fake.received if isinstance(m, p.SendText | p.SendDirect)]


# --- bracketed pastes ---------------------------------------------------------------


async def test_a_bracketed_paste_of_a_few_lines_is_one_message():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await pilot.press(*"see: ")
        # Terminals (and tmux) send the paste's line breaks as CR.
        app.post_message(events.Paste("one\rtwo\r\nthree"))
        await until(pilot, lambda: "three" in input_value(app))
        assert input_value(app) == "see: one\ntwo\nthree"
        assert _sent(fake) == []  # nothing goes out until Enter
        await pilot.press("enter")
        await until(pilot, lambda: bool(_sent(fake)))
        assert _sent(fake) == ["see: one\ntwo\nthree"]
        assert input_value(app) == ""


async def test_a_long_paste_is_previewed_and_sent_as_one_message():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        text = "\n".join(f"traceback line {n}" for n in range(1, 13))
        app.post_message(events.Paste(text))
        await until(pilot, lambda: isinstance(app.screen, PasteScreen))
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert "12 lines" in shown
        assert "traceback line 1" in shown
        assert _sent(fake) == []
        await pilot.click("#paste-send")
        await until(pilot, lambda: bool(_sent(fake)))
        assert _sent(fake) == [text]
        assert input_value(app) == ""
        assert app.focused is app.message_input


async def test_a_cancelled_paste_stays_in_the_input_to_edit():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await pilot.press(*"before ")
        text = "x" * (PASTE_PREVIEW_CHARS + 1)  # long by characters, one line
        app.post_message(events.Paste(text))
        await until(pilot, lambda: isinstance(app.screen, PasteScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PasteScreen))
        assert input_value(app) == "before " + text
        assert app.focused is app.message_input
        assert _sent(fake) == []
        await pilot.press("enter")
        await until(pilot, lambda: bool(_sent(fake)))
        assert _sent(fake) == ["before " + text]


# --- lines arriving together (typing ahead, pastes without brackets) ------------------


async def test_lines_typed_ahead_are_each_sent_once_in_order():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        feed_terminal(app, "first line\rsecond line\rthird line\r")
        await until(pilot, lambda: len(_sent(fake)) >= 3)
        await pilot.pause()
        assert _sent(fake) == ["first line", "second line", "third line"]
        assert input_value(app) == ""


async def test_typed_ahead_tab_completes_before_the_next_keys():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        feed_terminal(app, "hi @bo\tthere\rnext\n")
        await until(pilot, lambda: len(_sent(fake)) >= 2)
        await pilot.pause()
        assert _sent(fake) == ["hi @bob there", "next"]


async def test_a_refused_line_typed_ahead_loses_nothing():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        feed_terminal(app, "ok\r/nope\rafter")
        await until(pilot, lambda: input_value(app).endswith("after"))
        await pilot.pause()
        assert _sent(fake) == ["ok"]
        assert input_value(app) == "/nopeafter"  # kept, to be fixed
        assert "unknown command /nope" in log_text(app)


# --- focus ----------------------------------------------------------------------------


async def test_typing_always_reaches_the_input():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        box = app.message_input
        assert app.focused is box
        await pilot.press("tab", "shift+tab", "tab")
        assert app.focused is box
        await pilot.click("#logs")
        assert app.focused is box
        await pilot.press(*"abc")
        assert input_value(app) == "abc"
        await pilot.click("#users", offset=(3, 2))
        assert input_value(app) == "@bob "
        assert app.focused is box
        assert not app.chat_log.can_focus
        assert not app.user_list.can_focus


async def test_history_recalls_multi_line_messages_whole():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        app.post_message(events.Paste("one\ntwo"))
        await until(pilot, lambda: "two" in input_value(app))
        await pilot.press("enter")
        await until(pilot, lambda: bool(_sent(fake)))
        await pilot.press("up")
        assert input_value(app) == "one\ntwo"
        await pilot.press("down")
        assert input_value(app) == ""


# --- the nickname prompt ----------------------------------------------------------------


async def test_a_long_nickname_is_refused_with_the_reason_not_cut():
    app = _app(nick=None)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, NickScreen)
        long_nick = "n" * 70
        await pilot.press(*long_nick, "enter")
        field = app.screen.query_one("#nick-input", Input)
        assert field.value == long_nick
        error = str(app.screen.query_one("#nick-error").render())
        assert "at most 32 characters (this one has 70)" in error
        assert "up to 32 characters" in "\n".join(screen_lines(app))


# --- pending lines ----------------------------------------------------------------------


async def test_pending_lines_show_apart_from_the_log_until_done():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        before = log_text(app)
        app._show(
            [
                ev.Pending(local_id=1, text="hello", target=None, queued=True),
                ev.Pending(local_id=2, text="a\nb\nc", target="bob", queued=False),
            ]
        )
        await pilot.pause()
        assert pending_rows(app) == [
            "(waiting for the connection) hello",
            "(to bob sending…) a (+2 more lines)",
        ]
        app._show([ev.Pending(local_id=1, text="hello", target=None, queued=False)])
        assert pending_rows(app)[0] == "(sending…) hello"
        app._show([ev.PendingDone(local_id=1, delivered=True)])
        assert pending_rows(app) == ["(to bob sending…) a (+2 more lines)"]
        app._show([ev.PendingDone(local_id=2, delivered=False)])
        await pilot.pause()
        assert pending_rows(app) == []
        assert not app.pending_area.display
        assert log_text(app) == before  # the log holds only what was delivered


async def test_pending_area_shows_many_lines_in_a_few_rows():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        app._show(
            [
                ev.Pending(local_id=n, text=f"line {n}", target=None, queued=True)
                for n in range(1, 11)
            ]
        )
        await pilot.pause()
        rows = pending_rows(app)
        assert len(rows) == 4
        assert rows[-1] == "… and 7 more waiting"


async def test_a_sent_line_is_pending_until_the_server_echoes_it():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: bool(pending_rows(app)))
        assert pending_rows(app) == ["(sending…) hello"]
        assert "hello" not in log_text(app)
        await pilot.pause()
        assert any("(sending…) hello" in row for row in screen_lines(app))
        (sent,) = [m for m in fake.received if isinstance(m, p.SendText)]
        fake.deliver(
            p.Delivered(id=7, timestamp_ms=0, sender="ann", text="hello", ref=sent.ref)
        )
        await until(pilot, lambda: "<ann> hello" in log_text(app))
        assert pending_rows(app) == []


async def test_a_line_typed_while_disconnected_waits_for_the_connection():
    app = ChatApp(
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",), auto_welcome=False),
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(FakeTransport.instances))
        await pilot.press(*"later", "enter")
        await until(pilot, lambda: bool(pending_rows(app)))
        assert pending_rows(app) == ["(waiting for the connection) later"]
        assert input_value(app) == ""
