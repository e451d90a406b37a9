"""Random bytes at a live server: it answers or hangs up, and nobody else notices."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol as p
from server import ChatServer, ServerConfig
from tests.strategies import messages
from tests.wire import WireClient

pytestmark = pytest.mark.integration


class _Errors(logging.Handler):
    """Collects the server's ERROR records: unexpected failures, tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(name="live", scope="module")
def _live() -> Iterator[tuple[ChatServer, WireClient, _Errors]]:
    config = ServerConfig(
        port=0, handshake_timeout=0.5, rate_burst=1000, rate_per_second=1000
    )
    errors = _Errors()
    logging.getLogger("server").addHandler(errors)
    try:
        with ChatServer(config) as server:
            watcher = WireClient(server.address)
            watcher.hello("watcher")
            yield server, watcher, errors
            watcher.close()
    finally:
        logging.getLogger("server").removeHandler(errors)


def _frames(batch: list[p.Message]) -> bytes:
    return b"".join(p.frame(p.encode_body(m)) for m in batch)


payloads = st.one_of(
    st.binary(max_size=300),
    st.lists(messages, max_size=5).map(_frames),
    st.tuples(st.lists(messages, max_size=3).map(_frames), st.binary(max_size=50)).map(
        b"".join
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=payloads, say_hello=st.booleans())
def test_any_bytes_get_an_answer_or_a_hangup_and_others_carry_on(
    live, payload, say_hello
):
    server, watcher, errors = live
    client = WireClient(server.address, timeout=3)
    try:
        if say_hello:
            client.hello("fuzz")
        client.sock.sendall(payload)
        client.sock.shutdown(socket.SHUT_WR)
        # The server may answer with anything legal, then must close.
        client.wait_closed(timeout=5)
    except (ConnectionError, p.RemoteProtocolError):
        pass  # a reset after our shutdown, or frames cut short by it
    finally:
        client.close()
    watcher.send(p.Ping(payload=b"still ok"))
    others = (p.UserJoined, p.UserLeft, p.Delivered, p.NickChanged)
    assert watcher.expect(p.Pong, skip=others).payload == b"still ok"
    assert "watcher" in server.hub.nicks()
    assert not errors.records, [r.getMessage() for r in errors.records]
