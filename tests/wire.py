"""A blocking protocol client for tests: a real socket and a real `Connection`."""

from __future__ import annotations

import socket
import time
from typing import Any

import protocol as p


class WireClient:
    """Talks to a server over loopback, one message at a time."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = p.Connection(p.Role.CLIENT)
        self.timeout = timeout
        self._pending: list[p.Event] = []
        self.closed = False
        self.nick: str | None = None

    def send(self, message: p.Message) -> None:
        self.sock.sendall(self.conn.send(message))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hello(self, nick: str, version: int = p.PROTOCOL_VERSION) -> Any:
        self.send(p.Hello(version=version, client_name="test", nick=nick))
        reply = self.next()
        if isinstance(reply, p.Welcome):
            self.nick = reply.nick
        return reply

    def next(self, timeout: float | None = None) -> p.Event:
        """The next event, waiting up to `timeout`; raises TimeoutError or EOFError."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self._pending:
            if self.closed:
                raise EOFError("server closed the connection")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                continue
            self._pending.extend(self.conn.receive_data(data))
        return self._pending.pop(0)

    def expect(
        self, kind: type, timeout: float | None = None, skip: tuple[type, ...] = ()
    ):
        """The next event of type `kind`, skipping those in `skip`."""
        while True:
            event = self.next(timeout)
            if isinstance(event, kind):
                return event
            if not isinstance(event, skip):
                raise AssertionError(f"expected {kind.__name__}, got {event!r}")

    def drain(self, quiet: float = 0.2) -> list[p.Event]:
        """Everything that arrives until `quiet` seconds pass with nothing new."""
        events = []
        while True:
            try:
                events.append(self.next(quiet))
            except (TimeoutError, EOFError):
                return events

    def wait_closed(self, timeout: float = 5.0) -> list[p.Event]:
        """Read until the server closes; return what arrived before."""
        events = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                events.append(self.next(deadline - time.monotonic()))
            except EOFError:
                return events
            except TimeoutError:
                break
        raise AssertionError(f"server did not close; got {events!r}")

    def close(self) -> None:
        self.sock.close()
