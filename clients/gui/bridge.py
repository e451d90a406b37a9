"""Bringing transport events onto the Tk thread: a queue drained with `after`.

Tk is not thread-safe: no Tk call (not even `event_generate`) may run on a
transport thread. The transport's sink is `SimpleQueue.put`, which is; the
Tk thread drains the queue every `interval_ms`, at most `batch` events per
turn so a flood cannot freeze the window, and ticks the client between.
"""

from __future__ import annotations

import queue
import time
import tkinter
from collections.abc import Callable

from clients.core.transport import TransportEvent


class QueueBridge:
    """Transport threads `put`; the Tk thread `drain`s.

    Args:
        widget: any widget of the window, for `after`.
        on_event: called on the Tk thread with each transport event.
        on_tick: called on the Tk thread every `tick_seconds`.
    """

    def __init__(
        self,
        widget: tkinter.Misc,
        on_event: Callable[[TransportEvent], None],
        on_tick: Callable[[], None],
        *,
        interval_ms: int = 30,
        batch: int = 200,
        tick_seconds: float = 0.25,
    ) -> None:
        self._widget = widget
        self._on_event = on_event
        self._on_tick = on_tick
        self._interval = interval_ms
        self._batch = batch
        self._tick_seconds = tick_seconds
        self._next_tick = 0.0
        self._queue: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        self._after_id: str | None = None
        self._running = False

    def put(self, event: TransportEvent) -> None:
        """The transport's sink; safe from any thread."""
        self._queue.put(event)

    def start(self) -> None:
        self._running = True
        if self._after_id is None:
            self._after_id = self._widget.after(self._interval, self._turn)

    def stop(self) -> None:
        self._running = False
        if self._after_id is not None:
            self._widget.after_cancel(self._after_id)
            self._after_id = None

    def drain(self) -> int:
        """Handle what is queued (up to one batch); return how many were handled."""
        handled = 0
        while handled < self._batch:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self._on_event(event)
            handled += 1
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + self._tick_seconds
            self._on_tick()
        return handled

    def _turn(self) -> None:
        self._after_id = None
        self.drain()
        # drain() may have closed the window (/quit): then stop() was called.
        if self._running:
            self._after_id = self._widget.after(self._interval, self._turn)
