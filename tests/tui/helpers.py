"""Reading a running ChatApp the way a user would (text on screen), and a
fake transport that plays a TLS server with accounts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual._xterm_parser import XTermParser
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import OptionList, Static

from clients.core.launch import Security
from clients.core.testing import PlayedHistory, PlayedServer
from clients.core.tls import TlsInfo
from clients.core.transport import TransportEvent
from clients.tui.app import ChatApp
from protocol import (
    Message,
)


def plaintext(
    tmp_path: Path, *, login: bool = False, trust_new: bool = False
) -> Security:
    """Security for a test against our plaintext server: its files in tmp_path."""
    return Security(
        plaintext=True,
        login=login,
        trust_new=trust_new,
        program="chinwag-tui",
        known_servers=tmp_path / "known_servers",
        tokens=tmp_path / "tokens.json",
        journals=tmp_path / "journals",
    )


def secure(tmp_path: Path, *, login: bool = False, trust_new: bool = False) -> Security:
    """TLS (as `PlayedServer` plays it), pins, tokens and journals in tmp_path."""
    return Security(
        login=login,
        trust_new=trust_new,
        program="chinwag-tui",
        known_servers=tmp_path / "known_servers",
        tokens=tmp_path / "tokens.json",
        journals=tmp_path / "journals",
    )


def log_lines(app: ChatApp, conversation: str | None = None) -> list[str]:
    """Every row of a chat log at its current width (scrolled out of view
    too): the active conversation's, or `conversation`'s."""
    return [strip.text.rstrip() for strip in _rows(app, conversation)]


def _rows(app: ChatApp, conversation: str | None) -> list[Strip]:
    """A log's rows; one never shown yet, at the width of the one shown."""
    if conversation is None:
        return app.chat_log.rows
    width = app.chat_log.scrollable_content_region.width
    return app.log_of(conversation).rows_at(width)


def log_text(app: ChatApp, conversation: str | None = None) -> str:
    return "\n".join(log_lines(app, conversation))


def log_styles(app: ChatApp, needle: str, conversation: str | None = None) -> str:
    """The styles used on the log row containing `needle`, as one string."""
    for strip in _rows(app, conversation):
        if needle in strip.text:
            return " ".join(str(seg.style) for seg in strip if seg.style)
    raise AssertionError(f"{needle!r} not in the log: {log_lines(app)}")


def screen_lines(app: ChatApp) -> list[str]:
    """What the terminal shows right now, row by row (the active screen)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def status(app: ChatApp) -> str:
    return str(app.query_one("#status", Static).render())


def pending_rows(app: ChatApp) -> list[str]:
    area = app.pending_area
    if not area.display:
        return []
    return str(area.render()).splitlines()


def users(app: ChatApp) -> list[str]:
    options = app.query_one("#users", OptionList)
    return [
        str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
    ]


def input_value(app: ChatApp) -> str:
    return app.message_input.text


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
    pilot.app.message_input.set_text(text)  # type: ignore[attr-defined]
    await pilot.press("enter")


def feed_terminal(app: ChatApp, data: str) -> None:
    """Deliver `data` as if it came from the terminal in one read.

    Textual's own parser turns the bytes into events, as the driver does,
    and all of them are posted before the app handles any: that is what
    fast typing over a slow link, or a paste without brackets, looks like.
    """
    parser = XTermParser()
    for message in [*parser.feed(data), *parser.feed("")]:
        app.post_message(message)


class FakeServer:
    """The fake transports an app made, newest last: the test plays the server."""

    def __init__(
        self,
        users: tuple[str, ...] = (),
        *,
        tls: TlsInfo | None = None,
        accounts: bool = False,
        history: PlayedHistory | None = None,
    ) -> None:
        self.transports: list[PlayedServer] = []
        self.users = users
        self.tls = tls
        self.accounts = accounts
        self.history = history

    def factory(
        self, _host: str, _port: int, sink: Callable[[TransportEvent], object]
    ) -> PlayedServer:
        transport = PlayedServer(
            sink,
            users=self.users,
            tls=self.tls,
            accounts=self.accounts,
            history=self.history,
        )
        self.transports.append(transport)
        return transport

    @property
    def current(self) -> PlayedServer:
        return self.transports[-1]

    def sent(self) -> list[Message]:
        """Everything every connection received from the client, in order."""
        return [m for t in self.transports for m in t.received]
