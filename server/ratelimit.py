"""A token bucket: the per-connection flood limit. Pure; the clock is passed in."""

from __future__ import annotations


class TokenBucket:
    """Allows bursts of `capacity` events, refilled at `rate` per second."""

    def __init__(self, capacity: int, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._tokens = float(capacity)
        self._updated = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; True if the event is allowed."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
