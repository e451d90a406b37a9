"""`Transport`: a TCP connection run by two threads, reporting through a sink.

Thread-safety contract: `sink` is called from the transport's own threads.
A UI must not touch its widgets there; it hands the event to its own thread
and feeds it to `ChatClient.handle` from there:

- Tk: `sink = queue.SimpleQueue().put`, drained by a `widget.after(...)` loop
  on the Tk thread (see `clients.gui.bridge`).
- Textual: `sink = lambda e: app.post_message(TransportMessage(e))`;
  `post_message` is safe to call from any thread (see `clients.tui.app`).

`send` never blocks: it puts bytes on a bounded queue that the writer thread
drains. If the queue is full the server is not reading and the connection
is closed with reason "backlog".
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
from collections.abc import Callable

import attrs

log = logging.getLogger(__name__)

_ids = itertools.count(1)


@attrs.frozen
class Connected:
    transport_id: int


@attrs.frozen
class DataReceived:
    transport_id: int
    data: bytes


@attrs.frozen
class Closed:
    """The connection ended or could not be made.

    `fatal` is set when retrying cannot help (the host name does not exist).
    """

    transport_id: int
    reason: str
    fatal: bool = False


TransportEvent = Connected | DataReceived | Closed


def _describe(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    return exc.strerror or str(exc)


class Transport:
    """One connection attempt and, if it succeeds, the connection itself.

    Args:
        host: server host.
        port: server port.
        sink: receives every `TransportEvent`, from the transport's threads.
        connect_timeout: seconds to wait for the TCP connection.
        queue_size: outbound chunks that may wait before "backlog".
    """

    def __init__(
        self,
        host: str,
        port: int,
        sink: Callable[[TransportEvent], object],
        *,
        connect_timeout: float = 10.0,
        queue_size: int = 1000,
    ) -> None:
        self.id = next(_ids)
        self._address = (host, port)
        self._sink = sink
        self._connect_timeout = connect_timeout
        self._outbound: queue.Queue[bytes | None] = queue.Queue(queue_size)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._reported = False
        self._reader = threading.Thread(
            target=self._read, name=f"transport-{self.id}-reader", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write, name=f"transport-{self.id}-writer", daemon=True
        )

    def start(self) -> None:
        """Connect in the background; `Connected` or `Closed` follows."""
        self._reader.start()

    def send(self, data: bytes) -> None:
        """Queue bytes for the server; never blocks."""
        if not data or self._closing:
            return
        try:
            self._outbound.put_nowait(data)
        except queue.Full:
            self._report("backlog: the server is not reading")
            self.close(flush=False)

    def close(self, *, flush: bool = True, timeout: float = 1.0) -> None:
        """Close the connection, after sending what is queued if `flush`.

        A flushing close is graceful: the queued bytes (a Bye, say) leave,
        our side is shut for writing, and the server gets up to `timeout`
        seconds to close its side before the socket is torn down. Closing at
        once with unread input would make the kernel send RST, which can
        destroy the Bye before the server reads it. Safe to call twice.
        """
        with self._lock:
            already = self._closing
            self._closing = True
            sock = self._sock
        if already:
            return
        me = threading.current_thread()
        if flush and sock is not None:
            try:
                self._outbound.put(None, timeout=timeout)
            except queue.Full:
                pass
            for thread in (self._writer, self._reader):
                if thread.is_alive() and thread is not me:
                    thread.join(timeout)
        self._shutdown()

    def join(self, timeout: float) -> None:
        """Wait for the transport's threads to end (tests and shutdown)."""
        for thread in (self._reader, self._writer):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout)

    def _shutdown(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self._outbound.put_nowait(None)  # wake the writer
        except queue.Full:
            pass

    def _report(self, reason: str, *, fatal: bool = False) -> None:
        with self._lock:
            if self._reported:
                return
            self._reported = True
        self._sink(Closed(self.id, reason, fatal))

    def _read(self) -> None:
        try:
            sock = socket.create_connection(
                self._address, timeout=self._connect_timeout
            )
        except OSError as exc:
            log.info("cannot connect to %s:%s: %s", *self._address, exc)
            self._report(_describe(exc), fatal=isinstance(exc, socket.gaierror))
            return
        except Exception as exc:
            log.exception("connecting failed")
            self._report(f"cannot connect: {exc}")
            return
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sock = sock
            closing = self._closing
        if closing:
            sock.close()
            self._report("closed")
            return
        self._writer.start()
        self._sink(Connected(self.id))
        reason = "closed"
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    reason = (
                        "closed"
                        if self._closing
                        else "the server closed the connection"
                    )
                    break
                self._sink(DataReceived(self.id, data))
        except OSError as exc:
            reason = "closed" if self._closing else _describe(exc)
        except Exception as exc:
            log.exception("transport reader failed")
            reason = f"internal error: {exc}"
        finally:
            self._closing = True
            self._shutdown()
            self._writer.join(2.0)
            sock.close()
            self._report(reason)

    def _write(self) -> None:
        with self._lock:
            sock = self._sock
        assert sock is not None  # noqa: S101 - started after connecting
        try:
            while (data := self._outbound.get()) is not None:
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            log.debug("transport writer stopped: %s", exc)
        except Exception:
            log.exception("transport writer failed")
