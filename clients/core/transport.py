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
import ssl
import threading
from collections.abc import Callable

import attrs

from clients.core.tls import (
    TlsClient,
    TlsError,
    TlsInfo,
    pinning_context,
    verifying_context,
)

log = logging.getLogger(__name__)

_ids = itertools.count(1)


@attrs.frozen
class Connected:
    """The connection is up; `tls` describes its TLS, None if plaintext."""

    transport_id: int
    tls: TlsInfo | None = None


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

    With `secure`, the connection is TLS: a certificate that verifies
    against the system's CAs for `host` is reported as verified; any other
    is accepted for now and reported with its fingerprint, for the session
    to compare with what the user trusted (`Connected.tls`).

    Args:
        host: server host.
        port: server port.
        sink: receives every `TransportEvent`, from the transport's threads.
        secure: use TLS.
        connect_timeout: seconds to wait for the TCP connection and TLS.
        queue_size: outbound chunks that may wait before "backlog".
    """

    def __init__(
        self,
        host: str,
        port: int,
        sink: Callable[[TransportEvent], object],
        *,
        secure: bool = False,
        connect_timeout: float = 10.0,
        queue_size: int = 1000,
    ) -> None:
        self.id = next(_ids)
        self._address = (host, port)
        self._secure = secure
        self._tls: TlsClient | None = None
        # Records must leave in the order they were sealed: both threads
        # seal and queue under this lock (OpenSSL objects are single-threaded).
        self._tls_lock = threading.Lock()
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
            with self._tls_lock:
                if self._tls is not None:
                    data = self._tls.encrypt(data)
                self._outbound.put_nowait(data)
        except queue.Full:
            self._report("backlog: the server is not reading")
            self.close(flush=False)
        except TlsError as exc:
            self._report(f"TLS failed: {exc}")
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
                with self._tls_lock:
                    if self._tls is not None:
                        self._outbound.put_nowait(self._tls.close())
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

    def _connect(self) -> tuple[socket.socket, TlsInfo | None]:
        sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        if not self._secure:
            return sock, None
        try:
            tls = self._handshake(
                sock, TlsClient(verifying_context(), self._address[0])
            )
        except ssl.SSLCertVerificationError:
            # Not signed by a CA we know (self-signed, typically): connect
            # again accepting any certificate; the session checks its pin.
            sock.close()
            sock = socket.create_connection(
                self._address, timeout=self._connect_timeout
            )
            tls = self._handshake(sock, TlsClient(pinning_context(), self._address[0]))
        except BaseException:
            sock.close()
            raise
        self._tls = tls
        return sock, tls.info()

    def _handshake(self, sock: socket.socket, tls: TlsClient) -> TlsClient:
        while True:
            done = tls.handshake()
            if out := tls.pending():
                sock.sendall(out)
            if done:
                return tls
            data = sock.recv(65536)
            if not data:
                msg = "the server closed the connection during the TLS handshake"
                raise TlsError(msg)
            tls.receive(data)

    def _read(self) -> None:  # noqa: C901 - one arm per way to fail
        try:
            sock, tls_info = self._connect()
        except OSError as exc:
            log.info("cannot connect to %s:%s: %s", *self._address, exc)
            self._report(_describe(exc), fatal=isinstance(exc, socket.gaierror))
            return
        except TlsError as exc:
            log.info("TLS with %s:%s failed: %s", *self._address, exc)
            self._report(
                f"TLS handshake failed ({exc}); an old server may need --plaintext",
                fatal=True,
            )
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
        self._sink(Connected(self.id, tls_info))
        reason = "closed"
        try:
            data = b""
            while True:
                if self._tls is not None:
                    data = self._decrypt(data)
                if data:
                    self._sink(DataReceived(self.id, data))
                data = sock.recv(65536)
                if not data:
                    reason = (
                        "closed"
                        if self._closing
                        else "the server closed the connection"
                    )
                    break
        except OSError as exc:
            reason = "closed" if self._closing else _describe(exc)
        except TlsError as exc:
            reason = f"TLS failed: {exc}"
        except Exception as exc:
            log.exception("transport reader failed")
            reason = f"internal error: {exc}"
        finally:
            self._closing = True
            self._shutdown()
            self._writer.join(2.0)
            sock.close()
            self._report(reason)

    def _decrypt(self, data: bytes) -> bytes:
        with self._tls_lock:
            assert self._tls is not None  # noqa: S101 - only called with TLS
            plain = self._tls.feed(data)
            if extra := self._tls.pending():
                try:
                    self._outbound.put_nowait(extra)
                except queue.Full:
                    pass  # the writer is stuck anyway; the backlog closes us
        return plain

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
