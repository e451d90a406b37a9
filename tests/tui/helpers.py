"""Reading a running ChatApp the way a user would: text on screen."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input, OptionList, RichLog, Static

from clients.tui.app import ChatApp


def log_lines(app: ChatApp) -> list[str]:
    return [strip.text.rstrip() for strip in app.query_one("#log", RichLog).lines]


def log_styles(app: ChatApp, needle: str) -> str:
    """The styles used on the log line containing `needle`, as one string."""
    for strip in app.query_one("#log", RichLog).lines:
        if needle in strip.text:
            return " ".join(str(seg.style) for seg in strip if seg.style)
    raise AssertionError(f"{needle!r} not in the log: {log_lines(app)}")


def status(app: ChatApp) -> str:
    return str(app.query_one("#status", Static).render())


def users(app: ChatApp) -> list[str]:
    options = app.query_one("#users", OptionList)
    return [
        str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
    ]


def input_value(app: ChatApp) -> str:
    return app.query_one("#input", Input).value


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0
) -> None:
    """Let the app run until `condition()` holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s")
        await pilot.pause(0.02)


async def type_line(pilot: Pilot[None], text: str) -> None:
    app = pilot.app
    app.query_one("#input", Input).value = text
    await pilot.press("enter")
