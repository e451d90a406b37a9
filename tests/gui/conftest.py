from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from clients.core.launch import Security
from clients.core.testing import HeadlessDriver, PlayedHistory, PlayedServer
from clients.core.tls import TlsInfo
from clients.gui.app import ChatWindow
from protocol import (
    Message,
)
from server import ChatServer, ServerConfig


@pytest.fixture(autouse=True, scope="session")
def _display() -> None:
    # pytest-xvfb quietly does nothing when Xvfb is missing; fail loudly instead.
    if not os.environ.get("DISPLAY"):
        pytest.fail(
            "no X display: install Xvfb (apt-get install -y xvfb) and pytest-xvfb"
        )


@pytest.fixture(autouse=True)
def _own_config_home(tmp_path, monkeypatch) -> None:
    # Settings, pinned certificates and login tokens (the real command's
    # too) go to a temporary directory, never to the user's own.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def plaintext(tmp_path, **options) -> Security:
    """What a test window uses against our (plaintext) server: files in tmp_path."""
    return Security(
        plaintext=True,
        program="chinwag-gui",
        known_servers=tmp_path / "known_servers",
        tokens=tmp_path / "tokens.json",
        **options,
    )


@pytest.fixture(name="server")
def _server() -> Iterator[ChatServer]:
    with ChatServer(ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(name="make_window")
def _make_window(tmp_path) -> Iterator[Callable[..., ChatWindow]]:
    """Windows closed after the test; by default plaintext, files in tmp_path."""
    windows: list[ChatWindow] = []

    def make(**kwargs) -> ChatWindow:
        kwargs.setdefault("security", plaintext(tmp_path))
        # No desktop notification pops up from a test unless it asks for one.
        kwargs.setdefault("notify", lambda _title, _body: None)
        window = ChatWindow(**kwargs)
        windows.append(window)
        window.update()
        return window

    yield make
    for window in windows:
        window.close()
        window.update()
        window.destroy()


def pump(
    window: ChatWindow, condition: Callable[[], bool], timeout: float = 5.0
) -> None:
    """Run the window's event loop until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met in {timeout} s; chat:\n{window.chat_text()}"
            )
        window.update()
        time.sleep(0.01)


def press(widget, sequence: str) -> None:
    """A key pressed in `widget` (a Tk or customtkinter widget).

    Tk hands a generated key event to whichever window has the focus, and
    on Xvfb no window manager gives it out: take it first.
    """
    inner = getattr(widget, "_entry", None) or getattr(widget, "_textbox", widget)
    inner.focus_force()
    inner.update()
    inner.event_generate(sequence)
    inner.update()


@pytest.fixture(name="peer")
def _peer_factory(server: ChatServer) -> Iterator[Callable[..., HeadlessDriver]]:
    """A headless second client on `server`, closed after the test."""
    drivers: list[HeadlessDriver] = []

    def connect(nick: str = "bob") -> HeadlessDriver:
        host, port = server.address
        driver = HeadlessDriver(host, port, nick)
        drivers.append(driver)
        driver.wait_connected()
        return driver

    yield connect
    for driver in drivers:
        driver.close()


class FakeServer:
    """The fake transports a window made, newest last: the test plays the server."""

    def __init__(
        self,
        users: tuple[str, ...] = (),
        *,
        tls: TlsInfo | None = None,
        accounts: bool = False,
        history: PlayedHistory | None = None,
    ) -> None:
        self.transports: list[PlayedServer] = []
        self.addresses: list[tuple[str, int]] = []
        self.users = users
        self.tls = tls
        self.accounts = accounts
        self.history = history

    def factory(self, host: str, port: int, sink) -> PlayedServer:
        self.addresses.append((host, port))
        transport = self.make_transport(sink)
        self.transports.append(transport)
        return transport

    def make_transport(self, sink) -> PlayedServer:
        return PlayedServer(
            sink,
            users=self.users,
            tls=self.tls,
            accounts=self.accounts,
            history=self.history,
        )

    @property
    def current(self) -> PlayedServer:
        return self.transports[-1]

    def sent(self) -> list[Message]:
        """Everything every connection received from the client, in order."""
        return [m for t in self.transports for m in t.received]


@pytest.fixture(name="fake_window")
def _fake_window(
    make_window,
) -> Callable[..., tuple[ChatWindow, FakeServer]]:
    """A window connected to a fake server, as `nick`, with `users` online."""

    def make(
        nick: str = "ann", users: tuple[str, ...] = ("bob",), **kwargs
    ) -> tuple[ChatWindow, FakeServer]:
        fake = FakeServer(users)
        kwargs.setdefault("security", None)
        window = make_window(
            host="127.0.0.1",
            port=9,
            nick=nick,
            transport_factory=fake.factory,
            **kwargs,
        )
        pump(window, lambda: "connected" in str(window.pane.status.cget("text")))
        return window, fake

    return make
