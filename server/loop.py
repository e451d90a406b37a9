"""`SelectorLoop`: a thread around one selector, fed by other threads.

Other threads never touch the selector: they queue a callable with
`call_soon` and wake the loop through a socket pair. So registering,
unregistering and closing sockets happen on one thread and cannot race with
`select` (a closed socket's number may be reused at once by `accept`).
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Waker:
    """A socket pair whose read end wakes a thread blocked in `select`.

    One byte at a time: while a wake is on its way (sent, not yet drained),
    further wakes send nothing, so a crowd handed to a loop at once costs
    it one wake-up, not one per client.
    """

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)
        self._pending = False

    def wake(self) -> None:
        if self._pending:
            return
        self._pending = True
        try:
            self._writer.send(b"\0")
        except OSError:
            pass  # already awake (buffer full), or shutting down

    def drain(self) -> None:
        """Take the wake (the loop's thread, before it runs what was queued).

        The flag drops only once the byte is read: a wake in between sends
        nothing, and what it queued runs in this same turn.
        """
        try:
            while self.reader.recv(4096):
                pass
        except OSError:
            pass
        self._pending = False

    def close(self) -> None:
        self.reader.close()
        self._writer.close()


class SelectorLoop:
    """Subclasses say what to do with a ready socket (`_ready`) and at exit.

    Args:
        name: the thread's name, as logs show it.
    """

    SELECT_TIMEOUT = 1.0
    """Seconds a turn waits for a ready socket or a wake."""

    def __init__(self, name: str) -> None:
        self._selector = selectors.DefaultSelector()
        self._waker = Waker()
        self._selector.register(self._waker.reader, selectors.EVENT_READ)
        self._calls: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Ask the loop to end; `thread.join` waits for it."""
        self._stopping.set()
        self._waker.wake()

    def call_soon(self, function: Callable[[], object]) -> None:
        """Run `function` on the loop's thread; safe from any thread."""
        self._calls.put(function)
        self._waker.wake()

    def _ready(self, key: selectors.SelectorKey) -> None:
        raise NotImplementedError

    def _at_exit(self) -> None:
        """Runs on the loop's thread as it ends, before the selector closes."""

    def _register(self, sock: socket.socket, events: int, data: Any) -> None:
        if not self._is_registered(sock):
            self._selector.register(sock, events, data)

    def _unregister(self, sock: socket.socket) -> None:
        if self._is_registered(sock):
            self._selector.unregister(sock)

    def _is_registered(self, sock: socket.socket) -> bool:
        # By descriptor: looking a socket up that is not registered makes
        # `selectors` format the socket's repr for its KeyError (system calls;
        # measured at 7% of the server's time while a crowd connects).
        fd = sock.fileno()
        return fd >= 0 and fd in self._selector.get_map()

    def _timeout(self) -> float:
        """Seconds this turn may wait in `select` (subclasses with work left say 0)."""
        return self.SELECT_TIMEOUT

    def _before_select(self) -> None:
        """Runs on the loop's thread before each `select` (a turn has ended)."""

    def _after_select(self) -> None:
        """Runs on the loop's thread as soon as `select` returns (a turn begins)."""

    def _in_order(
        self, ready: list[tuple[selectors.SelectorKey, int]]
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """The order to serve a turn's ready keys in (as `select` gave them)."""
        return ready

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._turn()
        except Exception:
            log.exception("%s thread failed", self.thread.name)
        finally:
            self._run_calls()
            self._at_exit()
            self._selector.close()
            self._waker.close()

    def _turn(self) -> None:
        """Wait for ready sockets and serve each once.

        A method of its own so that what a turn served (its keys, and the
        peers they name) is not kept alive by the loop while it waits for
        the next one: a closed peer is freed as soon as it is let go.
        """
        self._before_select()
        ready = self._selector.select(timeout=self._timeout())
        self._after_select()
        for key, _ in self._in_order(ready):
            if key.fileobj is self._waker.reader:
                self._waker.drain()
            else:
                self._ready(key)
        self._run_calls()

    def _run_calls(self) -> None:
        while True:
            try:
                function = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                function()
            except Exception:
                log.exception("%s: a queued call failed", self.thread.name)
