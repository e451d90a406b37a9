"""Non-blocking sends: a bounded byte buffer per peer and one flusher thread.

Whoever produces a frame appends it to the peer's `Outbox`, which tries one
non-blocking `send` at once. Whatever the kernel does not take waits in the
buffer, and the `Flusher` thread finishes it when the socket becomes
writable. So a slow reader costs its own buffer, never another peer's time.
One lock per outbox keeps frames from different threads whole and in order.
"""

from __future__ import annotations

import enum
import logging
import queue
import selectors
import socket
import threading

log = logging.getLogger(__name__)

_DONTWAIT = socket.MSG_DONTWAIT
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
_SEND_FLAGS = _DONTWAIT | _NOSIGNAL


class Waker:
    """A socket pair whose read end wakes a thread blocked in `select`."""

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)

    def wake(self) -> None:
        try:
            self._writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or shutting down

    def drain(self) -> None:
        try:
            while self.reader.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        self.reader.close()
        self._writer.close()


class Outbox:
    """A peer's outbound bytes: send now if possible, else buffer (bounded).

    Args:
        sock: the peer's socket (blocking mode; sends use MSG_DONTWAIT).
        limit: the most bytes that may wait; past it `put` returns False.
        flusher: the thread that finishes partial sends.
    """

    def __init__(self, sock: socket.socket, limit: int, flusher: Flusher) -> None:
        self.sock = sock
        self._limit = limit
        self._flusher = flusher
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._watched = False
        self._finishing = False
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def is_finishing(self) -> bool:
        """True once `finish` or `abort` was called: nothing more will be sent."""
        return self._finishing

    def put(self, data: bytes) -> bool:
        """Queue `data` for sending.

        Returns:
            False if the buffer would exceed its limit: the peer is too slow
            and the caller should drop it. True otherwise (also once closing,
            when the data is silently discarded).
        """
        with self._lock:
            if self._closed or self._finishing:
                return True
            if self._buffer:
                if len(self._buffer) + len(data) > self._limit:
                    return False
                self._buffer += data
                return True
            sent = self._send(data)
            if sent < len(data):
                self._buffer += memoryview(data)[sent:]
                self._watch()
            return True

    def finish(self, last_words: bytes = b"") -> None:
        """Send `last_words` after what is queued, then shut our side down.

        The client reads them, sees end-of-file and closes; the reader thread
        then sees end-of-file too and cleans up. If that does not happen within
        the server's grace period the housekeeper calls `abort`.
        """
        with self._lock:
            if self._closed or self._finishing:
                return
            if len(self._buffer) + len(last_words) <= self._limit:
                if self._buffer:
                    self._buffer += last_words
                else:
                    sent = self._send(last_words)
                    self._buffer += memoryview(last_words)[sent:]
            self._finishing = True
            if self._buffer:
                self._watch()
            else:
                self._shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Shut the socket down now, dropping anything still queued."""
        with self._lock:
            self._finishing = True
            self._buffer.clear()
            self._shutdown()

    def close(self) -> None:
        """Release the socket; called once, by the peer's reader thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._buffer.clear()
            self._shutdown()
            if self._watched:
                self._flusher.request(_Op.CLOSE, self)
            else:
                self.sock.close()

    def flush(self) -> bool:
        """Send what the kernel takes; True when nothing is left (flusher thread)."""
        with self._lock:
            if self._closed:
                self._watched = False
                return True
            if self._buffer:
                sent = self._send(self._buffer)
                del self._buffer[:sent]
            if self._buffer:
                return False
            self._watched = False
            if self._finishing:
                self._shutdown(socket.SHUT_WR)
            return True

    def _send(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self.sock.send(data, _SEND_FLAGS)
        except BlockingIOError:
            return 0
        except OSError as exc:
            # The peer is gone; the reader thread will notice and clean up.
            log.debug("send failed: %s", exc)
            self._buffer.clear()
            self._shutdown()
            return len(data)

    def _watch(self) -> None:
        if not self._watched:
            self._watched = True
            self._flusher.request(_Op.WATCH, self)

    def _shutdown(self, how: int = socket.SHUT_RDWR) -> None:
        try:
            self.sock.shutdown(how)
        except OSError:
            pass  # already shut down or closed


class _Op(enum.Enum):
    WATCH = "watch"
    CLOSE = "close"


class Flusher:
    """One thread that finishes partial sends for every outbox that needs it.

    Other threads never touch the selector: they queue a request and wake
    this thread, so registration and socket closing happen in one place.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._requests: queue.SimpleQueue[tuple[_Op, Outbox]] = queue.SimpleQueue()
        self._waker = Waker()
        self._selector.register(self._waker.reader, selectors.EVENT_READ)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, op: _Op, outbox: Outbox) -> None:
        self._requests.put((op, outbox))
        self._waker.wake()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._waker.wake()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                for key, _ in self._selector.select(timeout=1.0):
                    if key.fileobj is self._waker.reader:
                        self._waker.drain()
                    elif key.data.flush():
                        self._selector.unregister(key.fileobj)
                self._handle_requests()
        except Exception:
            log.exception("flusher thread failed")
        finally:
            self._handle_requests()
            self._selector.close()
            self._waker.close()

    def _handle_requests(self) -> None:
        while True:
            try:
                op, outbox = self._requests.get_nowait()
            except queue.Empty:
                return
            registered = self._is_registered(outbox.sock)
            if op is _Op.WATCH and not registered and outbox.sock.fileno() != -1:
                self._selector.register(outbox.sock, selectors.EVENT_WRITE, outbox)
            elif op is _Op.CLOSE:
                if registered:
                    self._selector.unregister(outbox.sock)
                outbox.sock.close()

    def _is_registered(self, sock: socket.socket) -> bool:
        try:
            self._selector.get_key(sock)
        except (KeyError, ValueError):
            return False
        return True
