"""`Pacer`: the client's copy of the server's flood limit, so it is never refused.

The server allows a burst of frames, then one more every interval (a token
bucket, spec 5.7). Version 2 servers say their numbers in `Limits`; for
others the documented defaults apply. The pacer keeps a small margin on both,
so frames that reach the server closer together than they left (the network
bunches them) still fit. Pure: the clock is passed in.
"""

from __future__ import annotations

import attrs

DEFAULT_BURST = 20
"""The version 1 default burst (spec 5.7), used until a server says otherwise."""

DEFAULT_INTERVAL = 0.1
"""The version 1 default refill: one frame every 100 ms."""

_BURST_MARGIN = 2
_INTERVAL_MARGIN = 1.1


@attrs.define
class Pacer:
    """A token bucket that mirrors the server's, with a safety margin.

    Attributes:
        burst: the server's burst (frames at once).
        interval: the server's seconds per extra frame.
    """

    burst: int = DEFAULT_BURST
    interval: float = DEFAULT_INTERVAL
    _tokens: float = 0.0
    _updated: float = 0.0
    _paused_until: float = 0.0

    def restart(self, now: float, *, spent: int = 0) -> None:
        """A new connection: a full bucket, less the `spent` frames already sent."""
        self._tokens = float(self._capacity() - spent)
        self._updated = now
        self._paused_until = 0.0

    def configure(self, burst: int, interval: float, now: float) -> None:
        """The server told its limits (`Limits`); keep what was spent since."""
        used = self._capacity() - self._refill(now)
        self.burst = max(1, burst)
        self.interval = max(0.0, interval)
        self._tokens = self._capacity() - used
        self._updated = now

    def ready(self, now: float) -> bool:
        """True if one frame may be sent now."""
        return now >= self._paused_until and self._refill(now) >= 1.0

    def spend(self, now: float) -> None:
        """Count one frame as sent (sent even when not `ready`: Hello, Bye)."""
        self._tokens = self._refill(now) - 1.0
        self._updated = now

    def wait(self, now: float) -> float:
        """Seconds until `ready` will be true (0 if it is)."""
        if self.ready(now):
            return 0.0
        missing = 1.0 - self._refill(now)
        refill = missing * self._slow_interval() if missing > 0 else 0.0
        return max(refill, self._paused_until - now)

    def back_off(self, now: float, seconds: float = 1.0) -> None:
        """The server refused a frame anyway: empty the bucket and pause."""
        self._tokens = 0.0
        self._updated = now
        self._paused_until = now + seconds

    def _capacity(self) -> int:
        return max(1, self.burst - _BURST_MARGIN)

    def _slow_interval(self) -> float:
        return self.interval * _INTERVAL_MARGIN

    def _refill(self, now: float) -> float:
        elapsed = max(0.0, now - self._updated)
        interval = self._slow_interval()
        gained = elapsed / interval if interval > 0 else float(self._capacity())
        return min(float(self._capacity()), self._tokens + gained)
