from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from clients.core.testing import FakeTransport, HeadlessDriver
from clients.gui.app import ChatWindow
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
    # Settings (and the real command's) go to a temporary directory, never
    # to the user's own config.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(name="server")
def _server() -> Iterator[ChatServer]:
    with ChatServer(ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(name="make_window")
def _make_window() -> Iterator[Callable[..., ChatWindow]]:
    windows: list[ChatWindow] = []

    def make(**kwargs) -> ChatWindow:
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

    def __init__(self, users: tuple[str, ...]) -> None:
        self.transports: list[FakeTransport] = []
        self._make = FakeTransport.factory(users=users)

    def factory(self, host: str, port: int, sink) -> FakeTransport:
        transport = self._make(host, port, sink)
        self.transports.append(transport)
        return transport

    @property
    def current(self) -> FakeTransport:
        return self.transports[-1]


@pytest.fixture(name="fake_window")
def _fake_window(
    make_window,
) -> Callable[..., tuple[ChatWindow, FakeServer]]:
    """A window connected to a fake server, as `nick`, with `users` online."""

    def make(
        nick: str = "ann", users: tuple[str, ...] = ("bob",), **kwargs
    ) -> tuple[ChatWindow, FakeServer]:
        fake = FakeServer(users)
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
