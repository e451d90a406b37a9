"""Outbound bytes: a bounded buffer per peer, written with non-blocking sends.

Whoever produces a frame (usually the hub, for many recipients at once)
appends it to each recipient's `Outbox`, which is then written at once with
one non-blocking `send`. Inside `batched()` (a reader thread handling all
the frames of one `recv`) the writes wait until the batch ends, so frames
queued for one peer leave together: a fast talker costs one system call per
recipient per batch, not per frame. What the kernel does not take waits for
the `Flusher` thread, which watches such sockets with `selectors`. A slow
reader therefore costs only its own buffer; when that passes its limit, or
all backlogs together pass the `OutboxBudget`, the peer is dropped: the
frame it was in the middle of receiving is completed, the rest of its
backlog is thrown away, and its goodbye (Error SLOW_CONSUMER, Bye) is sent
in its place (spec 5.7).

A TLS peer's outbox seals its frames as they leave (`start_tls`): frames
wait as plaintext, so a slow consumer's backlog can still be cut at a frame
boundary, and only the records of the last send may wait sealed. The peer's
reader feeds the same engine through `tls_receive`, under the same lock, so
the TLS object is never used by two threads at once.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Iterator

from protocol.constants import FRAME_HEADER
from server.loop import SelectorLoop
from server.tls import TlsEngine, TlsProtocolError

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


class OutboxBudget:
    """The bound on all outboxes' backlogs together (spec 5.7).

    Only bytes the kernel refused count (an outbox the flusher waits on):
    frames waiting for the end of a batch leave microseconds later and are
    not a client falling behind.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def claim(self, size: int) -> bool:
        """Count `size` more bytes; False (and nothing counted) if over the limit."""
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def adjust(self, change: int) -> None:
        """Count `change` bytes more (or fewer), whatever the limit."""
        with self._lock:
            self._used += change


class Overflow(enum.Enum):
    """Why an outbox gave up on its peer."""

    OUTBOX = "its outbox is full"
    TOTAL = "all outboxes together are full"


def _rest_of_frame(data: bytes | memoryview, boundary: int, sent: int) -> int:
    """How many bytes after `sent` finish the frame that was being sent.

    Args:
        data: frames, except for its first `boundary` bytes (the end of a
            frame already partly sent).
        boundary: where the first whole frame in `data` starts.
        sent: how many bytes of `data` went out.
    """
    end = len(data)
    pos = boundary
    while pos < sent:
        if pos + FRAME_HEADER.size > end:
            return end - sent
        (size,) = FRAME_HEADER.unpack_from(data, pos)
        pos += FRAME_HEADER.size + size
    return min(pos, end) - sent


def in_batch() -> bool:
    """True inside `batched()` on this thread."""
    return getattr(_batch, "outboxes", None) is not None


def _ignore_overflow(_why: Overflow) -> None:
    """A closed outbox's overflow callback."""


class Outbox:
    """A peer's outbound bytes, bounded.

    Args:
        sock: the peer's socket (blocking mode; sends use MSG_DONTWAIT).
        limit: a `put` that finds at least this many bytes waiting drops the
            peer (so the most that waits is `limit` plus one answer: a single
            UserList answer always fits).
        flusher: the thread that writes the bytes.
        budget: the bound on every outbox together; None for none.
        on_overflow: called (outside the lock) once the peer is dropped.
        goodbye: frames sent instead of the backlog when the peer is dropped.
    """

    def __init__(
        self,
        sock: socket.socket,
        limit: int,
        flusher: Flusher,
        *,
        budget: OutboxBudget | None = None,
        on_overflow: Callable[[Overflow], object] = lambda _why: None,
        goodbye: bytes = b"",
    ) -> None:
        self.sock = sock
        self._on_overflow = on_overflow
        self._limit = limit
        self._flusher = flusher
        self._budget = budget
        self._goodbye = goodbye
        self._lock = threading.Lock()
        # Frames waiting, as the producers made them: copying them into one
        # buffer would cost a copy per frame even when each leaves alone.
        # The first `_head` bytes finish a frame already partly sent; every
        # frame after them is whole.
        self._chunks: list[bytes | memoryview] = []
        self._size = 0
        self._head = 0
        self._counted = 0  # bytes of ours the budget counts
        self._stage = _Stage.IDLE
        self._finishing = False
        self._closed = False
        self._tls: TlsEngine | None = None
        # Sealed records the kernel has not taken yet; they go before any
        # further frame is sealed. Always empty without TLS.
        self._cipher: bytes | memoryview = b""

    @property
    def pending(self) -> int:
        return self._size

    def start_tls(self, engine: TlsEngine) -> None:
        """From now on, frames are sealed by `engine` as they leave."""
        with self._lock:
            self._tls = engine

    def tls_receive(self, data: bytes) -> bytes:
        """Ciphertext from the peer in, plaintext out (the peer's reader).

        Whatever the engine has to say back (handshake, alerts, frames held
        until the handshake finished) is sent before anything sealed later.

        Raises:
            TlsProtocolError: the peer's bytes are not acceptable TLS.
        """
        with self._lock:
            engine = self._tls
            if engine is None or self._closed:
                return b""
            try:
                plain = engine.receive(data)
            finally:
                reply = engine.outgoing()
                if reply:
                    self._cipher = bytes(self._cipher) + reply
                watch = bool(self._cipher) and not self._flush_cipher()
                if watch and self._stage is _IDLE:
                    self._stage = _Stage.WATCHED
                else:
                    watch = False
        if watch:
            self._flusher.watch(self)
        return plain

    def is_finishing(self) -> bool:
        """True once `finish` or `abort` was called, or the peer was dropped."""
        return self._finishing

    def put(self, data: bytes | memoryview) -> bool:
        """Queue `data` (whole frames) for sending; never blocks.

        Returns:
            False if the peer was too slow: `on_overflow` has been called, the
            backlog replaced by the goodbye frames and `data` dropped. True
            otherwise (also once closing, when the data is silently discarded).
        """
        batch: list[Outbox] | None = getattr(_batch, "outboxes", None)
        with self._lock:
            if self._closed or self._finishing:
                return True
            stage = self._stage
            if stage is _IDLE and batch is None:
                # The common case, kept short: nothing waits, so send at once.
                sent = self._try_send(data)
                if sent == len(data) and not self._cipher:
                    return True
                self._head = _rest_of_frame(data, 0, sent)
                why = self._watch_rest(memoryview(data)[sent:])
            elif self._size >= self._limit:
                why = self._drop(Overflow.OUTBOX)
            elif stage is _Stage.WATCHED:
                why = self._claim(len(data))
                if why is None:
                    self._chunks.append(data)
                    self._size += len(data)
                    self._counted += len(data)
                    return True
            else:
                self._chunks.append(data)
                self._size += len(data)
                if batch is not None and stage is _IDLE:
                    self._stage = _Stage.BATCHED
                    batch.append(self)
                return True
        # The flusher finishes what waits (the goodbye, if the peer was dropped).
        if why is not None:
            self._on_overflow(why)
        self._flusher.watch(self)
        return why is None

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
                self._sync_budget()
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
            # The callback is a method of the peer that owns us: dropping it
            # breaks the cycle, so both are freed at once, not at the next
            # full garbage collection.
            self._on_overflow = _ignore_overflow
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
            if self._finishing:
                why = None
                self._sync_budget()
            else:
                why = self._claim(self._size)
                if why is None:
                    self._counted = self._size
        if why is not None:
            self._on_overflow(why)
        self._flusher.watch(self)

    def flush(self) -> bool:
        """Write what the kernel takes now (flusher thread, socket writable).

        Returns:
            True when nothing is left; False to keep watching the socket.
        """
        with self._lock:
            if self._closed:
                return True
            done = self._send_pending()
            self._sync_budget()
            return done

    # --- with the lock held ---------------------------------------------------

    def _watch_rest(self, rest: memoryview) -> Overflow | None:
        """What the kernel did not take waits for the flusher, if the budget allows."""
        self._chunks.append(rest)
        self._size = len(rest)
        self._stage = _Stage.WATCHED
        why = self._claim(len(rest))
        if why is None:
            self._counted = len(rest)
        return why

    def _claim(self, size: int) -> Overflow | None:
        """Count `size` more bytes against the budget, or drop the peer."""
        if self._budget is None or self._budget.claim(size):
            return None
        return self._drop(Overflow.TOTAL)

    def _drop(self, why: Overflow) -> Overflow:
        """Too slow: finish the frame in progress, drop the rest, say goodbye.

        The outbox is then finishing: its socket is shut for writing once the
        goodbye is out (or cut off by the housekeeper after the close grace).
        """
        keep: list[bytes | memoryview] = []
        if self._head:
            keep.append(memoryview(self._chunks[0])[: self._head])
        if self._goodbye:
            keep.append(self._goodbye)
        self._chunks = keep
        self._size = sum(len(chunk) for chunk in keep)
        self._finishing = True
        if self._stage is _IDLE:
            self._stage = _Stage.WATCHED
        self._sync_budget()
        return why

    def _sync_budget(self) -> None:
        """Make the budget count exactly our waiting bytes (none unless WATCHED)."""
        if self._budget is None:
            return
        target = self._size if self._stage is _Stage.WATCHED else 0
        if target != self._counted:
            self._budget.adjust(target - self._counted)
            self._counted = target

    def _send_pending(self) -> bool:
        """Send what the kernel takes; True if nothing is left.

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
                self._head = 0
            else:
                self._head = _rest_of_frame(data, self._head, sent)
                self._chunks = [memoryview(data)[sent:]]
                self._size = len(data) - sent
                self._stage = _Stage.WATCHED
                return False
        if self._cipher and not self._flush_cipher():
            self._stage = _Stage.WATCHED
            return False
        self._stage = _Stage.IDLE
        self._sync_budget()
        if self._finishing:
            self._shutdown(socket.SHUT_WR)
        return True

    def _try_send(self, data: bytes | memoryview) -> int:
        """One non-blocking send; how many bytes of `data` are taken care of.

        With TLS, `data` is sealed whole once the records sealed before it
        are out: all of it is then taken, though some of its records may
        still wait in `_cipher`. A dead peer counts as everything taken: its
        reader sees the socket shut down and cleans up.
        """
        if self._tls is None:
            return self._send_raw(data)
        if not self._flush_cipher():
            return 0
        if not data:
            return 0
        try:
            self._cipher = self._tls.send(bytes(data))
        except TlsProtocolError as exc:
            log.debug("TLS send failed: %s", exc)
            self._shutdown(socket.SHUT_RDWR)
            return len(data)
        self._flush_cipher()
        return len(data)

    def _flush_cipher(self) -> bool:
        """Send sealed records that wait; True when none is left."""
        if self._cipher:
            sent = self._send_raw(self._cipher)
            self._cipher = memoryview(self._cipher)[sent:] if sent else self._cipher
            if len(self._cipher) == 0:
                self._cipher = b""
        return not self._cipher

    def _send_raw(self, data: bytes | memoryview) -> int:
        try:
            return self.sock.send(data, _SEND_FLAGS)
        except BlockingIOError:
            return 0
        except OSError as exc:
            log.debug("send failed: %s", exc)
            self._shutdown(socket.SHUT_RDWR)
            return len(data)

    def _discard(self) -> None:
        self._cipher = b""
        self._chunks.clear()
        self._size = 0
        self._head = 0
        self._sync_budget()

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
