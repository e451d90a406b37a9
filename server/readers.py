"""`ReaderPool`: a few threads that read every client socket, via `selectors`.

A thread per client would cost 16 KB of memory each before doing anything;
a handful of selector threads serve thousands. Reads never block (sockets are
read with MSG_DONTWAIT when the selector says they are readable) and each
turn handles at most one `recv` per peer, so no client can hold a thread.
"""

from __future__ import annotations

import itertools
import logging
import queue
import selectors
import threading

from server.outbox import Waker
from server.peer import Peer

log = logging.getLogger(__name__)


class _Reader:
    def __init__(self, index: int) -> None:
        self._selector = selectors.DefaultSelector()
        self._waker = Waker()
        self._selector.register(self._waker.reader, selectors.EVENT_READ)
        self._incoming: queue.SimpleQueue[Peer] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"reader-{index}", daemon=True
        )

    def add(self, peer: Peer) -> None:
        self._incoming.put(peer)
        self._waker.wake()

    def stop(self) -> None:
        self._stopping.set()
        self._waker.wake()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                for key, _ in self._selector.select(timeout=1.0):
                    if key.fileobj is self._waker.reader:
                        self._waker.drain()
                    else:
                        self._serve(key.data)
                self._register_incoming()
        except Exception:
            log.exception("reader thread failed")
        finally:
            self._register_incoming()
            for key in list(self._selector.get_map().values()):
                if isinstance(key.data, Peer):
                    self._finish(key.data)
            self._selector.close()
            self._waker.close()

    def _serve(self, peer: Peer) -> None:
        if peer.on_readable():
            self._finish(peer)

    def _finish(self, peer: Peer) -> None:
        self._selector.unregister(peer.sock)
        try:
            peer.close()
        except Exception:
            log.exception("closing %s failed", peer.label)

    def _register_incoming(self) -> None:
        while True:
            try:
                peer = self._incoming.get_nowait()
            except queue.Empty:
                return
            self._selector.register(peer.sock, selectors.EVENT_READ, peer)


class ReaderPool:
    """Spreads peers over `count` reader threads."""

    def __init__(self, count: int) -> None:
        self._readers = [_Reader(index) for index in range(count)]
        self._next = itertools.cycle(self._readers)

    def start(self) -> None:
        for reader in self._readers:
            reader.thread.start()

    def add(self, peer: Peer) -> None:
        """Start reading `peer`; any thread."""
        next(self._next).add(peer)

    def stop(self, timeout: float) -> None:
        """Stop every reader; peers still open are closed by their reader."""
        for reader in self._readers:
            reader.stop()
        for reader in self._readers:
            reader.thread.join(timeout)
