"""Per-address connection limits (spec 5.7): so one host cannot take every slot.

Two limits per address: connections held at once, and new connections per
sliding window. And a cooldown: an address whose connection was kicked for
flooding may not connect again for a while, so a flooder cannot come back
at once with a fresh burst allowance (a full token bucket) each time. IPv6 addresses are counted per /64 (one host usually has a
whole /64 to pick from), IPv4-mapped IPv6 addresses as the IPv4 address.
Loopback addresses may be exempt. Thread-safe: the acceptor admits, readers
release.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import math
import threading
from collections.abc import Callable

import attrs

IPV6_PREFIX = 64
"""IPv6 addresses sharing this many leading bits count as one address."""


@attrs.frozen
class Admission:
    """The outcome of `AddressLimiter.admit`.

    Attributes:
        key: what to pass to `release` when the connection ends (None when
            exempt or refused: nothing was counted).
        refusal: why the connection is refused, as a sentence; None if admitted.
    """

    key: str | None
    refusal: str | None = None


@functools.lru_cache(maxsize=4096)
def address_key(host: str) -> tuple[str, bool]:
    """The address a connection counts against, and whether it is loopback.

    Cached like `is_loopback`: asked for every connection.

    Raises:
        ValueError: `host` is not an IP address.
    """
    ip = ipaddress.ip_address(host.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False)
        return str(network), ip.is_loopback
    return str(ip), ip.is_loopback


class AddressLimiter:
    """Counts connections per address.

    Args:
        max_concurrent: connections one address may hold at once.
        max_new: new connections one address may open per `window`.
        window: seconds.
        exempt_loopback: loopback addresses are not limited.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        *,
        max_concurrent: int,
        max_new: int,
        window: float,
        exempt_loopback: bool,
        clock: Callable[[], float],
    ) -> None:
        self._max_concurrent = max_concurrent
        self._max_new = max_new
        self._window = window
        self._exempt_loopback = exempt_loopback
        self._clock = clock
        self._lock = threading.Lock()
        self._open: collections.Counter[str] = collections.Counter()
        self._recent: dict[str, collections.deque[float]] = {}
        self._cooldown: dict[str, float] = {}  # address -> refused until

    def admit(self, host: str) -> Admission:
        """Count a new connection from `host`, or say which limit it breaks."""
        try:
            key, loopback = address_key(host)
        except ValueError:
            return Admission(None)  # not an IP address (a Unix socket, say)
        if loopback and self._exempt_loopback:
            return Admission(None)
        now = self._clock()
        with self._lock:
            until = self._cooldown.get(key, 0.0)
            if until > now:
                return Admission(
                    None,
                    "a connection from your address was disconnected for flooding; "
                    f"try again in {math.ceil(until - now)} seconds",
                )
            if self._open[key] >= self._max_concurrent:
                return Admission(
                    None,
                    f"too many connections from your address: {self._max_concurrent} "
                    "at once is the limit",
                )
            recent = self._recent.setdefault(key, collections.deque())
            while recent and recent[0] <= now - self._window:
                recent.popleft()
            if len(recent) >= self._max_new:
                return Admission(
                    None,
                    f"too many new connections from your address: {self._max_new} "
                    f"per {self._window:g} seconds is the limit; try again later",
                )
            recent.append(now)
            self._open[key] += 1
        return Admission(key)

    def penalize(self, key: str | None, seconds: float) -> None:
        """Refuse new connections from `key` for `seconds` (it was flooding)."""
        if key is None or seconds <= 0:
            return
        with self._lock:
            self._cooldown[key] = max(
                self._cooldown.get(key, 0.0), self._clock() + seconds
            )

    def release(self, key: str | None) -> None:
        """A connection admitted under `key` has ended."""
        if key is None:
            return
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def prune(self) -> None:
        """Forget addresses with nothing open and nothing recent (bounds memory)."""
        now = self._clock()
        limit = now - self._window
        with self._lock:
            for key in [k for k, until in self._cooldown.items() if until <= now]:
                del self._cooldown[key]
            for key in [k for k, r in self._recent.items() if not r or r[-1] <= limit]:
                if key not in self._open:
                    del self._recent[key]

    def tracked(self) -> int:
        """How many addresses are remembered (for tests and logs)."""
        with self._lock:
            return len(self._recent.keys() | self._open.keys())


@functools.lru_cache(maxsize=4096)
def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (an IPv6 zone suffix is ignored).

    Cached: asked for every connection, and parsing an address is not free.
    """
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
