"""Giving the heap that TLS handshakes freed back to the operating system (glibc).

Only the server imports this module; it imports nothing of the project. It
calls glibc's `malloc_trim` through `ctypes` and does nothing at all where
the C library is not glibc (musl, macOS, Windows).

Why (docs/performance.md, "TLS memory"): an OpenSSL handshake allocates and
frees about 30 KB of temporaries (record buffers, key shares, the
certificate flight) between allocations that live as long as the
connection. glibc keeps those holes in its heap, so a server that has just
greeted 1000 TLS clients held about 30 MB of free heap it would never give
back; `malloc_trim(0)` returns the whole free pages in them (measured with
`python -m bench --tls`: RSS per idle TLS client about 51 -> 27 KB).
Trimming walks every arena under its lock (2-15 ms with 1000 clients
here), so it is done at most once per `TRIM_INTERVAL`, only after
handshakes, and from the housekeeper, never from a thread that reads
clients.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_INTERVAL = 1.0
"""Seconds between two trims at least: a burst of handshakes is trimmed once a
second while it lasts, and once more within a second after it ends."""

_GLIBC_MARKER = "gnu_get_libc_version"
"""A symbol only glibc exports: musl and the BSD libcs have no `malloc_trim`
worth calling, or none at all."""


class HeapTrimmer:
    """Calls `malloc_trim(0)` after handshakes and departures, at most once per interval.

    `note_freed()` is cheap and safe from any thread (it only sets a
    flag); `trim_if_due()` does the work and is meant for one periodic
    thread (the housekeeper). Without glibc both do nothing.

    Args:
        library: the C library to load; None looks in what this process
            has loaded already (no search, no subprocess: `find_library`
            would run `ldconfig`). A name that does not load, or a library
            that is not glibc, leaves the trimmer `available == False`.
        interval: seconds between two trims at least.
        clock: monotonic seconds (tests inject their own).
    """

    def __init__(
        self,
        library: str | None = None,
        *,
        interval: float = TRIM_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = False
        self._last = float("-inf")
        self.trims = 0
        """How many times `malloc_trim` was called."""
        self._malloc_trim = _load_malloc_trim(library)

    @property
    def available(self) -> bool:
        """True if the C library is glibc and `malloc_trim` can be called."""
        return self._malloc_trim is not None

    @property
    def pending(self) -> bool:
        """True if a handshake finished since the last trim."""
        return self._pending

    def note_freed(self) -> None:
        """Heap was freed in bulk: a TLS handshake's temporaries, or a closed
        connection's buffers. Any thread."""
        self._pending = True

    def trim_if_due(self) -> bool:
        """Trim if a handshake finished since the last trim and the interval passed.

        Returns:
            True if `malloc_trim` was called now.
        """
        if not self._pending or self._malloc_trim is None:
            return False
        if self._clock() - self._last < self._interval:
            return False
        if not self._lock.acquire(blocking=False):
            return False  # another thread is trimming right now
        try:
            self._pending = False  # handshakes finishing during the trim count again
            self._trim()
        finally:
            self._lock.release()
        return True

    def trim(self) -> bool:
        """Trim now, whatever happened since (for an operator's command).

        Returns:
            True if `malloc_trim` was called (glibc is present).
        """
        if self._malloc_trim is None:
            return False
        with self._lock:
            self._pending = False
            self._trim()
        return True

    def _trim(self) -> None:
        assert self._malloc_trim is not None  # noqa: S101 - checked by callers
        started = time.perf_counter()
        # ctypes releases the GIL for the call: other threads go on running
        # (they wait only if they malloc in the arena being trimmed).
        released = self._malloc_trim(0)
        self._last = self._clock()
        self.trims += 1
        log.debug(
            "malloc_trim: %s in %.1f ms",
            "released memory" if released else "nothing to release",
            (time.perf_counter() - started) * 1000,
        )


def _load_malloc_trim(library: str | None) -> Callable[[int], int] | None:
    name = library or "this process"
    try:
        libc = ctypes.CDLL(library)
    except (OSError, TypeError) as error:  # TypeError: Windows needs a name
        log.debug("cannot load %s (%s): heap trimming is off", name, error)
        return None
    if not hasattr(libc, _GLIBC_MARKER) or not hasattr(libc, "malloc_trim"):
        log.debug("%s is not glibc: heap trimming is off", name)
        return None
    malloc_trim = libc.malloc_trim
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    function: Callable[[int], int] = malloc_trim
    return function


_trimmer: HeapTrimmer | None = None
_trimmer_lock = threading.Lock()


def trimmer() -> HeapTrimmer:
    """The process's trimmer (made on first use: it loads the C library)."""
    global _trimmer  # noqa: PLW0603 - one per process, like the heap it trims
    if _trimmer is None:
        with _trimmer_lock:
            if _trimmer is None:
                _trimmer = HeapTrimmer()
    return _trimmer


def note_freed() -> None:
    """Tell the process's trimmer heap was freed in bulk (a TLS handshake
    finished, a connection closed); cheap, any thread."""
    trimmer().note_freed()


def trim_if_due() -> bool:
    """Trim the process's heap if handshakes finished and the interval passed.

    For the server's housekeeper, which calls it on every turn.
    """
    return trimmer().trim_if_due()
