"""Helpers for the server tests: version 2 handshakes, a TCP proxy, log hooks."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable

import protocol as p
from tests.wire import WireClient

BOTH = (p.CAP_LIMITS, p.CAP_SESSION)


def hello_v2(
    client: WireClient,
    nick: str,
    capabilities: Iterable[str] = BOTH,
    *,
    token: bytes = b"",
    password: str | None = None,
) -> list[p.Event]:
    """Say Hello as a version 2 client (and Identify, if it asks for sessions).

    Returns:
        The Welcome (or the refusal) and the frames the capabilities add
        after it: [Welcome, Limits?, SessionToken?].
    """
    caps = tuple(capabilities)
    client.send(p.Hello(version=2, client_name="test", nick=nick, capabilities=caps))
    if p.CAP_SESSION in caps:
        client.send(p.Identify(token=token, password=password))
    first = client.next()
    if not isinstance(first, p.Welcome):
        return [first]
    client.nick = first.nick
    events: list[p.Event] = [first]
    for cap, kind in ((p.CAP_LIMITS, p.Limits), (p.CAP_SESSION, p.SessionToken)):
        if cap in first.capabilities:
            events.append(client.expect(kind))
    return events


def session_token(events: list[p.Event]) -> p.SessionToken:
    tokens = [e for e in events if isinstance(e, p.SessionToken)]
    assert len(tokens) == 1, events
    return tokens[0]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.01)
    return True


def expect_alive(
    client: WireClient, kind: type, timeout: float, skip: tuple[type, ...] = ()
) -> p.Event:
    """Like `WireClient.expect`, answering the server's pings meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        event = client.next(max(0.001, deadline - time.monotonic()))
        if isinstance(event, p.Ping):
            client.send(p.Pong(payload=event.payload))
        elif isinstance(event, kind):
            return event
        elif not isinstance(event, skip):
            msg = f"expected {kind.__name__}, got {event!r}"
            raise AssertionError(msg)


def events_for(client: WireClient, seconds: float) -> list[p.Event]:
    """Everything `client` receives within `seconds` (it may close meanwhile)."""
    events: list[p.Event] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            events.append(client.next(left))
        except (TimeoutError, EOFError):
            break
    return events


class TcpProxy:
    """A TCP relay on 127.0.0.1 that can go silent, like a dead network path.

    `cut()` stops relaying (both ways, or one) without closing anything: each
    side keeps an open connection that carries nothing, a half-open
    connection as seen from both ends. Bytes that arrive from the server
    afterwards are kept in `swallowed`, so a test can see what the server
    said to a connection it believed alive.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._cut_up = self._cut_down = False
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        self.swallowed = bytearray()
        self.server_closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-proxy")
        self._thread.start()

    def cut(self, *, up: bool = True, down: bool = True) -> None:
        """Stop relaying towards the server (`up`), the client (`down`) or both."""
        with self._lock:
            self._cut_up, self._cut_down = up, down

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self._sockets:
            sock.close()
        self._selector.close()

    def _run(self) -> None:
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        deadline = time.monotonic() + 60  # never outlives a test for long
        while not self._stop.is_set() and time.monotonic() < deadline:
            for key, _ in self._selector.select(0.05):
                if key.data is None:
                    self._accept()
                else:
                    self._relay(key.fileobj, key.data)  # type: ignore[arg-type]

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(self._target)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            self._sockets.append(sock)
        self._selector.register(client, selectors.EVENT_READ, ("up", upstream))
        self._selector.register(upstream, selectors.EVENT_READ, ("down", client))

    def _relay(self, source: socket.socket, route: tuple[str, socket.socket]) -> None:
        direction, sink = route
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(source)
            if direction == "down":
                self.server_closed.set()
            return
        with self._lock:
            cut = self._cut_down if direction == "down" else self._cut_up
        if cut:
            if direction == "down":
                self.swallowed += data
            return
        sink.setblocking(True)
        sink.sendall(data)
        sink.setblocking(False)


def frames_in(data: bytes | bytearray) -> list[p.Message]:
    """Decode a byte stream of whole frames (no state machine)."""
    decoder = p.FrameDecoder()
    decoder.feed(bytes(data))
    messages = [p.decode_body(body) for body in decoder.bodies()]
    assert decoder.buffered == 0, "a frame was cut short"
    return messages


class SlowRecord(logging.Handler):
    """Sleeps `seconds` in whichever server thread logs a matching record.

    A real hook into the server: a log handler runs in the thread that logs,
    so matching a record a reader thread writes stalls that reader, exactly
    as a slow hub call would.
    """

    def __init__(self, fragment: str, seconds: float) -> None:
        super().__init__(logging.INFO)
        self._fragment = fragment
        self._seconds = seconds
        self.stalled = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self._fragment in record.getMessage():
            self.stalled.set()
            time.sleep(self._seconds)


class ErrorRecords(logging.Handler):
    """Collects the server's ERROR records (unexpected failures, tracebacks)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)
