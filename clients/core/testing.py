"""Test helpers for code built on the session core: a manual clock and a
driver that plays the UI thread for a `ChatClient` without any UI."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from clients.core import events as ev
from clients.core.client import ChatClient
from clients.core.session import Backoff, ChatSession
from clients.core.transport import TransportEvent


class ManualClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class HeadlessDriver:
    """Plays the UI thread: pumps transport events into a real `ChatClient`.

    Every UI event is recorded in `events`, in order.
    """

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        *,
        backoff: Backoff | None = None,
        ping_interval: float = 20.0,
        dead_after: float = 45.0,
    ) -> None:
        self.inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        self.session = ChatSession(
            nick=nick,
            server=f"{host}:{port}",
            backoff=backoff or Backoff(base=0.05, cap=0.5),
            ping_interval=ping_interval,
            dead_after=dead_after,
        )
        self.client = ChatClient(self.session, host, port, self.inbox.put)
        self.events: list[ev.UiEvent] = []
        self.events += self.client.start()

    def pump(self, duration: float = 0.05) -> None:
        """Process whatever arrives for `duration` seconds."""
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.inbox.get(timeout=min(remaining, 0.02))
            except queue.Empty:
                self.events += self.client.tick()
            else:
                self.events += self.client.handle(event)

    def wait_for(
        self,
        predicate: Callable[[ev.UiEvent], bool],
        timeout: float = 5.0,
        *,
        since: int = 0,
    ) -> ev.UiEvent:
        """Pump until an event matching `predicate` is recorded at index >= `since`."""
        seen = since
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                msg = f"no matching event in {timeout} s; got {self.events!r}"
                raise TimeoutError(msg)
            self.pump(0.02)

    def wait_connected(self, timeout: float = 5.0, *, since: int = 0) -> None:
        self.wait_for(
            lambda e: (
                isinstance(e, ev.ConnectionChanged)
                and e.status is ev.ConnectionStatus.CONNECTED
            ),
            timeout,
            since=since,
        )

    def submit(self, line: str) -> bool:
        result = self.client.submit(line)
        self.events += result.events
        return result.accepted

    def lines(self) -> list[ev.ChatLine]:
        return [e for e in self.events if isinstance(e, ev.ChatLine)]

    def close(self) -> None:
        self.client.close("test over")
        self.pump(0.05)
