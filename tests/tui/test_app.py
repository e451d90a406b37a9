"""The terminal client's own behaviour, on a fake transport (no server needed)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from textual import events

import protocol as p
from clients.core.testing import FakeTransport
from clients.tui.app import ChatApp
from clients.tui.messages import TransportMessage
from tests.tui.helpers import log_lines, status, until

pytestmark = pytest.mark.tui

SIZE = (80, 24)


def _app() -> ChatApp:
    return ChatApp(
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",)),
    )


def _toasts(app: ChatApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def test_dm_or_mention_while_unfocused_raises_a_notification():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        fake = FakeTransport.instances[-1]
        fake.deliver(p.Delivered(id=1, timestamp_ms=0, sender="bob", text="ann: seen"))
        await until(pilot, lambda: any("seen" in line for line in log_lines(app)))
        assert _toasts(app) == []  # focused and at the end: the user sees it

        app.post_message(events.AppBlur())  # what focus reporting sends: ESC[O
        await pilot.pause()
        assert not app.app_focus
        fake.deliver(
            p.Delivered(id=2, timestamp_ms=0, sender="bob", text="just chatting"),
            p.Delivered(id=3, timestamp_ms=0, sender="bob", target="ann", text="psst"),
            p.Delivered(id=4, timestamp_ms=0, sender="bob", text="ann: [b]lunch?[/b]"),
        )
        await until(pilot, lambda: len(_toasts(app)) >= 2)
        await pilot.pause()
        assert _toasts(app) == [
            ("New private message", "bob: psst"),
            ("New mention", "bob: ann: [b]lunch?[/b]"),  # shown as written
        ]

        app.post_message(events.AppFocus())
        await pilot.pause()
        assert app.app_focus
        fake.deliver(p.Delivered(id=5, timestamp_ms=0, sender="bob", text="ann: back"))
        await until(pilot, lambda: any("back" in line for line in log_lines(app)))
        await pilot.pause()
        assert len(_toasts(app)) == 2


async def test_dm_below_the_view_raises_a_notification():
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
        await until(pilot, lambda: any("line 59" in line for line in log_lines(app)))
        await pilot.press("pageup")
        fake.deliver(p.Delivered(id=99, timestamp_ms=0, sender="bob", text="ann: hey"))
        await until(pilot, lambda: bool(_toasts(app)))
        assert _toasts(app) == [("New mention", "bob: ann: hey")]


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
