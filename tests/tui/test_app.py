"""The terminal client's own behaviour, on a fake transport (no server needed)."""

from __future__ import annotations

from typing import Any, cast

import pytest

import protocol as p
from clients.core.testing import FakeTransport
from clients.tui.app import ChatApp
from clients.tui.messages import TransportMessage
from tests.tui.helpers import log_lines, status, until

pytestmark = pytest.mark.tui

SIZE = (80, 24)


def _app() -> ChatApp:
    return ChatApp(nick="ann", transport_factory=FakeTransport.factory(users=("bob",)))


async def test_dm_while_unfocused_raises_a_notification():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        fake = FakeTransport.instances[-1]
        fake.deliver(p.Delivered(id=1, timestamp_ms=0, sender="bob", text="in view"))
        await pilot.pause()
        assert not app._notifications
        app.app_focus = False
        fake.deliver(
            p.Delivered(id=2, timestamp_ms=0, sender="bob", target="ann", text="psst")
        )
        await until(pilot, lambda: bool(app._notifications))
        (notification,) = app._notifications
        assert "bob: psst" in notification.message


async def test_log_follows_new_lines_unless_scrolled_up():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        fake = FakeTransport.instances[-1]
        fake.deliver(
            *(
                p.Delivered(id=n, timestamp_ms=0, sender="bob", text=f"line {n}")
                for n in range(1, 60)
            )
        )
        log = app.chat_log
        await until(
            pilot, lambda: log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        )
        log.scroll_home(animate=False)
        await pilot.pause()
        fake.deliver(
            p.Delivered(id=99, timestamp_ms=0, sender="bob", text="while scrolled up")
        )
        await until(
            pilot, lambda: any("while scrolled up" in line for line in log_lines(app))
        )
        await pilot.pause()
        assert log.scroll_y == 0
        app.app_focus = True
        fake.deliver(
            p.Delivered(id=100, timestamp_ms=0, sender="bob", target="ann", text="hey")
        )
        await until(pilot, lambda: bool(app._notifications))


async def test_ctrl_c_says_bye_and_exits():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        fake = FakeTransport.instances[-1]
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running)
    assert p.Bye(reason="leaving") in fake.received
    assert fake.closed


async def test_lost_connection_shows_reconnecting_with_countdown():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        FakeTransport.instances[-1].drop()
        await until(pilot, lambda: "reconnecting in" in status(app))
        assert any("connection lost" in line for line in log_lines(app))
        await until(pilot, lambda: "ann · connected" in status(app), timeout=5)


async def test_a_failing_handler_is_reported_not_fatal():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        # Not a transport event at all: the core cannot handle it.
        app.post_message(TransportMessage(cast("Any", "garbage")))
        await until(
            pilot, lambda: any("internal error" in line for line in log_lines(app))
        )
        assert app.is_running
        FakeTransport.instances[-1].deliver(
            p.Delivered(id=1, timestamp_ms=0, sender="bob", text="still alive")
        )
        await until(
            pilot, lambda: any("still alive" in line for line in log_lines(app))
        )


@pytest.mark.parametrize("size", [(60, 16), (160, 50)])
async def test_resizes_keep_the_input_status_and_log_on_screen(size):
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        await pilot.resize_terminal(*size)
        await pilot.pause()
        width, height = size
        for widget in (app.message_input, app.status_bar, app.chat_log):
            region = widget.region
            assert region.width > 0, widget
            assert region.height > 0, widget
            assert region.right <= width, widget
            assert region.bottom <= height, widget
        assert app.chat_log.region.width > app.user_list.region.width
