"""`ReaderPool`: a few threads that read every client socket, via `selectors`.

A thread per client would cost 16 KB of memory each before doing anything;
a handful of selector threads serve thousands. Reads never block (sockets are
read with MSG_DONTWAIT when the selector says they are readable) and each
turn handles at most one `recv` per peer, so no client can hold a thread.
"""

from __future__ import annotations

import itertools
import logging
import selectors

from server.loop import SelectorLoop
from server.peer import Peer

log = logging.getLogger(__name__)


class _Reader(SelectorLoop):
    def add(self, peer: Peer) -> None:
        self.call_soon(lambda: self._register(peer.sock, selectors.EVENT_READ, peer))

    def _ready(self, key: selectors.SelectorKey) -> None:
        peer: Peer = key.data
        if peer.on_readable():
            self._finish(peer)

    def _at_exit(self) -> None:
        for key in list(self._selector.get_map().values()):
            if isinstance(key.data, Peer):
                self._finish(key.data)

    def _finish(self, peer: Peer) -> None:
        self._selector.unregister(peer.sock)
        try:
            peer.close()
        except Exception:
            log.exception("closing %s failed", peer.label)


class ReaderPool:
    """Spreads peers over `count` reader threads."""

    def __init__(self, count: int) -> None:
        self._readers = [_Reader(f"reader-{index}") for index in range(count)]
        self._next = itertools.cycle(self._readers)

    def start(self) -> None:
        for reader in self._readers:
            reader.start()

    def add(self, peer: Peer) -> None:
        """Start reading `peer`; any thread."""
        next(self._next).add(peer)

    def stop(self, timeout: float) -> None:
        """Stop every reader; peers still open are closed by their reader."""
        for reader in self._readers:
            reader.stop()
        for reader in self._readers:
            reader.thread.join(timeout)
