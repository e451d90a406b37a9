"""A token bucket: the per-connection flood limit. Pure; the clock is passed in.

Two refinements over the textbook bucket, both so that a client that keeps
to the advertised limit is never refused (spec 5.7, 12.1):

- `jitter`: the bucket holds `rate * jitter` tokens more than the burst
  (GCRA's "delay variation tolerance"), so frames that the network or the
  scheduler delays a little and then delivers together still pass.
- `refill(now, late)`: frames that piled up because the server itself was
  busy arrive together. The capacity for that read grows by `rate * late`,
  where `late` is how long the reader could not have read them, so the
  refill earned meanwhile is not cut off at the burst size. When the reader
  was idle, `late` is about zero: an idle client gains no extra burst.
"""

from __future__ import annotations

RATE_JITTER = 0.25
"""Seconds of arrival jitter the bucket tolerates (worth `rate * 0.25` frames)."""


class TokenBucket:
    """Allows bursts of `capacity` events, refilled at `rate` per second.

    Call `refill` once per batch of events (a `recv`), then `take` per event.
    """

    def __init__(
        self, capacity: int, rate: float, now: float, jitter: float = 0.0
    ) -> None:
        self.capacity = capacity + rate * jitter
        self.rate = rate
        self._tokens = self.capacity
        self._updated = now

    def refill(self, now: float, late: float = 0.0) -> None:
        """Add what accrued since the last refill, up to the capacity.

        Args:
            now: the current time.
            late: seconds the events being read may have waited because the
                server was busy; the capacity grows by `rate * late` for them.
        """
        elapsed = now - self._updated
        if elapsed > 0:
            limit = self.capacity + self.rate * max(0.0, late)
            self._tokens = min(limit, self._tokens + elapsed * self.rate)
            self._updated = now

    def take(self, cost: int = 1) -> bool:
        """Spend `cost` tokens if there are enough; True if the event is allowed.

        A cost above the capacity can never be saved up for: it is allowed
        once the bucket is full and leaves a debt that later refills repay.
        """
        if self._tokens >= min(cost, self.capacity):
            self._tokens -= cost
            return True
        return False
