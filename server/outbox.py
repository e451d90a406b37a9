"""Outbound bytes: a bounded buffer per peer, written with non-blocking sends.

Whoever produces a frame (usually the hub, for many recipients at once)
appends it to each recipient's `Outbox`, which is then written at once with
one non-blocking `send`. Inside `batched()` (a reader thread handling all
the frames of one `recv`) the writes wait until the batch ends, so frames
queued for one peer leave together: a fast talker costs one system call per
recipient per batch, not per frame. What the kernel does not take waits for
the `Flusher` thread, which watches such sockets with `selectors`. A slow
reader therefore costs only its own buffer; when that passes its limit,
`put` says so and the peer is dropped.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Iterator

from server.loop import SelectorLoop

log = logging.getLogger(__name__)

_SEND_FLAGS = socket.MSG_DONTWAIT | getattr(socket, "MSG_NOSIGNAL", 0)


class _Stage(enum.Enum):
    IDLE = "idle"
    """Nothing waits to be written."""
    BATCHED = "batched"
    """A batch will write it when it ends."""
    WATCHED = "watched"
    """The kernel was full: the flusher writes it when the socket is writable."""


_IDLE = _Stage.IDLE  # a global is a cheaper lookup on the hot path

_batch = threading.local()


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Defer the writes of every `put` in this thread until the block ends.

    Nested blocks join the outermost one, which does the writing.
    """
    if getattr(_batch, "outboxes", None) is not None:
        yield
        return
    outboxes: list[Outbox] = []
    _batch.outboxes = outboxes
    try:
        yield
    finally:
        _batch.outboxes = None
        for outbox in outboxes:
            outbox.write()


class Outbox:
    """A peer's outbound bytes, bounded.

    Args:
        sock: the peer's socket (blocking mode; sends use MSG_DONTWAIT).
        limit: the most bytes that may wait; past it `put` returns False.
        flusher: the thread that writes the bytes.
    """

    def __init__(
        self,
        sock: socket.socket,
        limit: int,
        flusher: Flusher,
        on_overflow: Callable[[], object] = lambda: None,
    ) -> None:
        self.sock = sock
        self._on_overflow = on_overflow
        self._limit = limit
        self._flusher = flusher
        self._lock = threading.Lock()
        # Frames waiting, as the producers made them: copying them into one
        # buffer would cost a copy per frame even when each leaves alone.
        self._chunks: list[bytes | memoryview] = []
        self._size = 0
        self._stage = _Stage.IDLE
        self._finishing = False
        self._closed = False

    @property
    def pending(self) -> int:
        return self._size

    def is_finishing(self) -> bool:
        """True once `finish` or `abort` was called: nothing more will be sent."""
        return self._finishing

    def put(self, data: bytes | memoryview) -> bool:
        """Queue `data` for sending; never blocks.

        Returns:
            False if the buffer would exceed its limit: the peer is too slow,
            `on_overflow` has been called and the data dropped. True otherwise
            (also once closing, when the data is silently discarded).
        """
        batch: list[Outbox] | None = getattr(_batch, "outboxes", None)
        with self._lock:
            if self._closed or self._finishing:
                return True
            if self._stage is _IDLE and batch is None:
                # The common case, kept short: nothing waits, so send at once.
                sent = self._try_send(data)
                if sent == len(data):
                    return True
                data = memoryview(data)[sent:]
            overflow = self._size + len(data) > self._limit
            if not overflow:
                self._chunks.append(data)
                self._size += len(data)
                if self._stage is not _IDLE:
                    return True
                if batch is not None:
                    self._stage = _Stage.BATCHED
                    batch.append(self)
                    return True
                self._stage = _Stage.WATCHED
        if overflow:
            self._on_overflow()  # outside the lock: it aborts this outbox
            return False
        self._flusher.watch(self)
        return True

    def finish(self, last_words: bytes = b"") -> None:
        """Send `last_words` after what is queued, then shut our side down.

        The client reads them, sees end-of-file and closes; the peer's reader
        then sees end-of-file too and cleans up. If that does not happen within
        the server's grace period the housekeeper calls `abort`.
        """
        with self._lock:
            if self._closed or self._finishing:
                return
            if last_words and self._size + len(last_words) <= self._limit:
                self._chunks.append(last_words)
                self._size += len(last_words)
            self._finishing = True
            if self._stage is not _Stage.IDLE or self._send_pending():
                return
        self._flusher.watch(self)

    def abort(self) -> None:
        """Shut the socket down now, dropping anything still queued."""
        with self._lock:
            self._finishing = True
            self._discard()
            self._shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the socket; called once, by the peer's reader."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._discard()
            self._shutdown(socket.SHUT_RDWR)
            watched = self._stage is _Stage.WATCHED
        if watched:
            # Only the flusher may unregister it; it closes it afterwards.
            self._flusher.request_close(self)
        else:
            self.sock.close()

    def write(self) -> None:
        """Write now what waits; hand the rest to the flusher (end of a batch)."""
        with self._lock:
            if self._closed or self._stage is not _Stage.BATCHED:
                return
            if self._send_pending():
                return
        self._flusher.watch(self)

    def flush(self) -> bool:
        """Write what the kernel takes now (flusher thread, socket writable).

        Returns:
            True when nothing is left; False to keep watching the socket.
        """
        with self._lock:
            return self._closed or self._send_pending()

    def _send_pending(self) -> bool:
        """Send what the kernel takes; True if nothing is left (lock held).

        Sets the stage: IDLE when done (shutting our side if finishing),
        WATCHED when the caller must hand the outbox to the flusher.
        """
        chunks = self._chunks
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            sent = self._try_send(data)
            if sent == len(data):
                chunks.clear()
                self._size = 0
            else:
                self._chunks = [memoryview(data)[sent:]]
                self._size = len(data) - sent
                self._stage = _Stage.WATCHED
                return False
        self._stage = _Stage.IDLE
        if self._finishing:
            self._shutdown(socket.SHUT_WR)
        return True

    def _try_send(self, data: bytes | memoryview) -> int:
        """One non-blocking send (lock held); how many bytes the kernel took.

        A dead peer counts as everything taken: its reader sees the socket
        shut down and cleans up.
        """
        try:
            return self.sock.send(data, _SEND_FLAGS)
        except BlockingIOError:
            return 0
        except OSError as exc:
            log.debug("send failed: %s", exc)
            self._shutdown(socket.SHUT_RDWR)
            return len(data)

    def _discard(self) -> None:
        self._chunks.clear()
        self._size = 0

    def _shutdown(self, how: int) -> None:
        try:
            self.sock.shutdown(how)
        except OSError:
            pass  # already shut down or closed


class Flusher(SelectorLoop):
    """The thread that finishes writes the kernel could not take at once."""

    def __init__(self) -> None:
        super().__init__("flusher")

    def watch(self, outbox: Outbox) -> None:
        """Write the rest of `outbox` once its socket is writable; any thread."""
        self.call_soon(lambda: self._watch(outbox))

    def request_close(self, outbox: Outbox) -> None:
        """Stop watching `outbox` and close its socket; any thread."""
        self.call_soon(lambda: self._close(outbox))

    def _ready(self, key: selectors.SelectorKey) -> None:
        if key.data.flush():
            self._selector.unregister(key.fileobj)

    def _watch(self, outbox: Outbox) -> None:
        if not outbox.flush():
            self._register(outbox.sock, selectors.EVENT_WRITE, outbox)

    def _close(self, outbox: Outbox) -> None:
        self._unregister(outbox.sock)
        outbox.sock.close()
