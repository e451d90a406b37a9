"""A real server with its database in the test's temporary directory, and
headless sessions connected to it, for the end-to-end tests of the client core
that need stored history, rooms or accounts. Loopback only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.core.testing import HeadlessDriver
from server import ChatServer, ServerConfig

PASSWORD = "a long enough password"
"""What the tests register their accounts with."""


def stored_server_config(tmp_path: Path, port: int = 0) -> ServerConfig:
    """A server keeping its database under `tmp_path`, with cheap password
    hashing and generous rate limits, so a test can say a hundred lines in a
    moment (the client paces itself by what Limits says). `port` brings a
    stopped server back where the clients will look for it.
    """
    return ServerConfig(
        port=port,
        data_dir=tmp_path / "server",
        cheap_hashing=True,
        rate_burst=50,
        rate_per_second=500.0,
    )


def server_fixtures(*, caught_up: bool):
    """The `server` and `connect` fixtures of a module's tests.

    `server` runs a server of `stored_server_config` for one test; `connect`
    starts a `HeadlessDriver` on it, waits until it is connected and closes it
    after the test. Fixtures in a helper module only take effect once the test
    module holds them, hence a factory whose result the module keeps:
    `_server, _connect = server_fixtures(caught_up=True)`.

    Args:
        caught_up: `connect` also waits until the session has caught up with
            the stored history. False leaves that to the tests, for those
            that look at the catching up itself.
    """

    @pytest.fixture(name="server")
    def _server(tmp_path: Path) -> Iterator[ChatServer]:
        with ChatServer(stored_server_config(tmp_path)) as server:
            yield server

    @pytest.fixture(name="connect")
    def _connect(server: ChatServer) -> Iterator[Callable[..., HeadlessDriver]]:
        drivers: list[HeadlessDriver] = []

        def connect(nick: str, **options: Any) -> HeadlessDriver:
            host, port = server.address
            driver = HeadlessDriver(host, port, nick, **options)
            drivers.append(driver)
            driver.wait_connected()
            if caught_up:
                driver.wait_until(lambda: not driver.session.catching_up)
            return driver

        yield connect
        for driver in drivers:
            driver.close()

    return _server, _connect
