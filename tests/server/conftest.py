from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import attrs
import pytest

from server import ChatServer, ServerConfig
from tests.wire import WireClient

FAST = ServerConfig(port=0, handshake_timeout=5.0, housekeeping_interval=0.05)


@pytest.fixture(name="make_server")
def _make_server() -> Iterator[Callable[..., ChatServer]]:
    servers: list[ChatServer] = []

    def make(**overrides) -> ChatServer:
        server = ChatServer(attrs.evolve(FAST, **overrides))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(name="server")
def _server(make_server) -> ChatServer:
    return make_server()


@pytest.fixture(name="connect")
def _connect(server) -> Iterator[Callable[..., WireClient]]:
    clients: list[WireClient] = []

    def connect(
        nick: str | None = None, target: ChatServer | None = None
    ) -> WireClient:
        client = WireClient((target or server).address)
        clients.append(client)
        if nick is not None:
            client.hello(nick)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture(name="server_log")
def _server_log(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="server")
    return caplog


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    # Servers are stopped by their fixture before this check runs.
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"
