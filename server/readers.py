"""`ReaderPool`: a few threads that read every client socket, via `selectors`.

A thread per client would cost 16 KB of memory each before doing anything;
a handful of selector threads serve thousands. Reads never block (sockets are
read with MSG_DONTWAIT when the selector says they are readable) and each
turn handles at most one `recv` and `FRAMES_PER_TURN` frames per peer, so no
client can hold a thread. A peer with frames left over is *backlogged*: it
is served in the next turn whether its socket is readable or not, and that
turn does not wait in `select`.

Each reader also tells its peers how late it is (for the flood limit, see
`server.ratelimit`): data read now may have waited since the reader last
caught up, which is the start of its current turn minus the length of the
turn before (data that arrived during that turn is read in this one). Time
spent waiting in `select` does not count: nothing was waiting then.

Within a turn, peers whose last read held few frames are served first
(`Peer.appetite`), so a flood of frames from some delays the others by as
little as it can. Before each peer a reader stands aside while the
recorder publishes an express batch (`server.precedence`).

A turn can still be long: at the start of a flood, hundreds of abusers'
reads of 16 frames each took a reader 20-25 ms, and a message that arrived
just after the turn began waited for all of it. So every `CUT_IN_EVERY`
seconds of a turn the reader looks again (`select` without waiting) and
serves at once the light peers that became readable meanwhile: those whose
last read held at most one frame, once per turn each.
"""

from __future__ import annotations

import itertools
import logging
import selectors
from collections.abc import Callable

from server.loop import SelectorLoop
from server.peer import Peer
from server.precedence import PATIENCE, Precedence

log = logging.getLogger(__name__)

CUT_IN_EVERY = 0.002
"""Seconds of a turn between two looks for light peers that became readable."""


class _Reader(SelectorLoop):
    def __init__(
        self,
        name: str,
        clock: Callable[[], float],
        precedence: Precedence | None = None,
    ) -> None:
        super().__init__(name)
        self._clock = clock
        self._precedence = precedence or Precedence()
        self._patience = PATIENCE
        self._turn_began = clock()
        self._last_turn = 0.0
        self._caught_up = self._turn_began
        self._backlogged: dict[Peer, None] = {}  # in the order they fell behind
        self._in_turn: set[Peer] = set()  # served, or to be served, this turn
        self._looked = self._turn_began  # when ready sockets were last listed

    def add(self, peer: Peer) -> None:
        peer.post = self.call_soon  # results of slow work come back here
        self.call_soon(lambda: self._register(peer.sock, selectors.EVENT_READ, peer))

    def _before_select(self) -> None:
        self._last_turn = self._clock() - self._turn_began
        self._in_turn = set()  # keeps no closed peer alive while waiting

    def _after_select(self) -> None:
        self._turn_began = self._looked = self._clock()
        self._patience = PATIENCE
        self._caught_up = self._turn_began - self._last_turn

    def _timeout(self) -> float:
        return 0.0 if self._backlogged else self.SELECT_TIMEOUT

    def _in_order(
        self, ready: list[tuple[selectors.SelectorKey, int]]
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """The backlogged peers join the ready ones; light talkers go first.

        Light talkers are the peers whose last read held fewest frames.

        One turn reads every ready peer once, and a read can hold hundreds
        of frames (a flooder's, a burst of requests). Served in `select`'s
        order, a client with one message could wait behind all of them;
        served by appetite, it waits behind the other light ones only.
        """
        if self._backlogged:
            ready = self._with_backlog(ready)
        self._in_turn = {key.data for key, _ in ready if isinstance(key.data, Peer)}
        if len(ready) < 2:
            return ready
        return sorted(ready, key=_appetite)

    def _with_backlog(
        self, ready: list[tuple[selectors.SelectorKey, int]]
    ) -> list[tuple[selectors.SelectorKey, int]]:
        listed = {key.data for key, _ in ready}
        keys = self._selector.get_map()
        for peer in self._backlogged:
            key = keys.get(peer.sock.fileno())
            if peer not in listed and key is not None and key.data is peer:
                ready.append((key, selectors.EVENT_READ))
        self._backlogged.clear()
        return ready

    def _ready(self, key: selectors.SelectorKey) -> None:
        self._serve(key.data)
        if self._clock() - self._looked >= CUT_IN_EVERY:
            self._cut_in()

    def _cut_in(self) -> None:
        """Serve now the light peers that became readable during this turn."""
        self._looked = self._clock()
        for key, _ in self._selector.select(0):
            peer = key.data
            if (
                isinstance(peer, Peer)
                and peer.appetite <= 1
                and peer not in self._in_turn
            ):
                self._in_turn.add(peer)
                self._serve(peer)

    def _serve(self, peer: Peer) -> None:
        self._patience -= self._precedence.give_way(self._patience)
        if peer.on_readable(self._caught_up):
            self._finish(peer)
        elif peer.backlogged:
            self._backlogged[peer] = None

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


def _appetite(item: tuple[selectors.SelectorKey, int]) -> int:
    appetite: int = getattr(item[0].data, "appetite", 0)  # the waker has none
    return appetite


class ReaderPool:
    """Spreads peers over `count` reader threads."""

    def __init__(
        self,
        count: int,
        clock: Callable[[], float],
        precedence: Precedence | None = None,
    ) -> None:
        self._readers = [
            _Reader(f"reader-{index}", clock, precedence) for index in range(count)
        ]
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
