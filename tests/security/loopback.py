"""Real loopback sockets for the TLS tests, and a pump that moves bytes through a
`TlsEngine` the way a selector-driven server would."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from server.tls import TlsEngine

HANG_GUARD = 10.0
"""Seconds before a stuck exchange fails the test (a guard, not a measurement)."""


@contextmanager
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(client, server) ends of one real TCP connection on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=HANG_GUARD)
        server, _ = listener.accept()
    server.settimeout(HANG_GUARD)
    try:
        yield client, server
    finally:
        client.close()
        server.close()


class EngineServer:
    """The server end: socket bytes into the engine, its output back out."""

    def __init__(self, sock: socket.socket, engine: TlsEngine) -> None:
        self.sock = sock
        self.engine = engine
        self.plaintext = bytearray()
        self.eof = False

    def step(self, wait: float = 0.05) -> bool:
        """Handle what has arrived within `wait` seconds; False if nothing came."""
        ready, _, _ = select.select([self.sock], [], [], wait)
        if not ready:
            return False
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return True
        self.plaintext += self.engine.receive(data)
        self.flush()
        return True

    def flush(self) -> None:
        out = self.engine.outgoing()
        if out:
            self.sock.sendall(out)

    def send(self, plaintext: bytes) -> None:
        self.sock.sendall(self.engine.send(plaintext))

    def run_until(self, done: Callable[[], bool], limit: float = HANG_GUARD) -> None:
        deadline = time.monotonic() + limit
        while not done() and not self.eof:
            if time.monotonic() > deadline:
                msg = "the TLS exchange did not finish"
                raise AssertionError(msg)
            self.step()

    def take(self, count: int) -> bytes:
        """Wait for `count` plaintext bytes and remove them from the buffer."""
        self.run_until(lambda: len(self.plaintext) >= count)
        data = bytes(self.plaintext[:count])
        del self.plaintext[:count]
        return data
