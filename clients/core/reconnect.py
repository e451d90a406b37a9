"""Connection timing: when to connect again (`RetryTimer`) and when a
connection is dead (`Keepalive`).

A dropped connection is retried after an exponential backoff with jitter,
counting down in whole seconds for the status line; an open one is pinged
after a silence and given up after a longer one, and one that never gets
its Welcome is given up too. `ChatSession` passes the time in and acts on
the answers; no clock, no sockets, no threads here.
"""

from __future__ import annotations

import enum
import math
import random

import attrs

from protocol import State

HANDSHAKE_TIMEOUT = 15.0
"""Seconds to wait for Welcome before deciding the server is not Chinwag."""


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff with jitter between reconnection attempts."""

    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number `attempt` (0 = the first retry)."""
        ceiling = min(self.cap, self.base * 2.0**attempt)
        return ceiling * rng.uniform(0.5, 1.0)


@attrs.frozen
class Retry:
    """A reconnection just scheduled.

    Attributes:
        retry_in: whole seconds until it, for the status line.
        repeated: it failed for the same reason as the last attempt (say
            it quietly).
    """

    retry_in: int
    repeated: bool


@attrs.frozen
class Countdown:
    """Where a scheduled reconnection stands.

    Attributes:
        connect: it is due: connect now.
        retry_in: the whole seconds left changed to this (show it).
    """

    connect: bool = False
    retry_in: int | None = None


class RetryTimer:
    """The reconnection schedule across attempts.

    Args:
        backoff: the delays.
        rng: randomness for the jitter.
    """

    def __init__(self, backoff: Backoff, rng: random.Random) -> None:
        self._backoff = backoff
        self._rng = rng
        self._attempt = 0
        self._retry_at: float | None = None
        self._shown: int | None = None
        self._last_failure: str | None = None

    @property
    def scheduled(self) -> bool:
        """A reconnection waits for its time."""
        return self._retry_at is not None

    def schedule(self, reason: str, now: float) -> Retry:
        """The connection failed for `reason`: plan the next attempt."""
        delay = self._backoff.delay(self._attempt, self._rng)
        self._attempt += 1
        self._retry_at = now + delay
        self._shown = math.ceil(delay)
        repeated = reason == self._last_failure
        self._last_failure = reason
        return Retry(self._shown, repeated)

    def tick(self, now: float) -> Countdown:
        """How the scheduled reconnection stands at `now` (due once)."""
        if self._retry_at is None:
            return Countdown()
        remaining = self._retry_at - now
        if remaining <= 0:
            self._retry_at = None
            return Countdown(connect=True)
        if math.ceil(remaining) != self._shown:
            self._shown = math.ceil(remaining)
            return Countdown(retry_in=self._shown)
        return Countdown()

    def cancel(self) -> None:
        """Do not reconnect (the user quit, or retrying cannot help)."""
        self._retry_at = None

    def succeeded(self) -> None:
        """A connection was welcomed: the next failure starts afresh."""
        self._attempt = 0
        self._last_failure = None

    def reset(self) -> None:
        """The user asked to connect now: start afresh."""
        self.succeeded()
        self._retry_at = None


class Alarm(enum.Enum):
    NONE = "none"
    PING = "ping"
    """The server has been silent a while: ping it (once per silence)."""
    DEAD = "dead"
    """The server stopped answering: give the connection up."""
    NO_WELCOME = "no-welcome"
    """No Welcome came in time: this is not a Chinwag server."""


class Keepalive:
    """Watches the silence on one connection at a time.

    Args:
        ping_interval: ping the server after this much silence.
        dead_after: give the connection up after this much silence.
        handshake_timeout: wait this long for Welcome.
    """

    def __init__(
        self,
        *,
        ping_interval: float,
        dead_after: float,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self._ping_interval = ping_interval
        self._dead_after = dead_after
        self._handshake_timeout = handshake_timeout
        self._connected_at = 0.0
        self._last_heard = 0.0
        self._pinged = False

    def started(self, now: float) -> None:
        """Hello went out on a new connection."""
        self._connected_at = now
        self.heard(now)

    def heard(self, now: float) -> None:
        """Bytes came from the server."""
        self._last_heard = now
        self._pinged = False

    def check(self, now: float, state: State) -> Alarm:
        """What the silence calls for on a connection in `state`."""
        if state is State.HELLO_SENT:
            late = now - self._connected_at > self._handshake_timeout
            return Alarm.NO_WELCOME if late else Alarm.NONE
        if state is not State.OPEN:
            return Alarm.NONE
        silent = now - self._last_heard
        if silent > self._dead_after:
            return Alarm.DEAD
        if silent > self._ping_interval and not self._pinged:
            self._pinged = True
            return Alarm.PING
        return Alarm.NONE
