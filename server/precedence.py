"""`Precedence`: short, urgent work that the reader threads stand aside for.

Python threads share one interpreter lock. The recorder's commit and each
of its sends give that lock up for a system call and must win it back,
and a reader decoding a flood holds it up to the switch interval (5 ms)
before handing it over. A quiet client's message, published in a batch of
its own (an *express* batch, `server.ordering`), paid that wait hundreds of
times: one message to 600 members took 15-18 ms to publish at the start of
a flood instead of 3-5 ms. So the recorder tells of every batch it works
on (`working`), and a batch the readers should stand aside for is
*expedited*: an express batch from its start, and the batch in progress
when a quiet message arrives, since the express batch waits for it and at
a flood's start that batch was as slow (40 ms instead of 5). A reader
about to serve its next peer waits while an expedited batch runs.

A reader waits at most `PATIENCE` seconds per turn in all, so a commit that
waits on the disk or on another connection's lock cannot stop the readers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

PATIENCE = 0.02
"""Seconds a reader stands aside per turn at most."""


class Precedence:
    """One thread's batches of work; the readers wait for expedited ones, up
    to a limit."""

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._working = False
        # Set unless the batch in progress was expedited.
        self._unhurried = threading.Event()
        self._unhurried.set()

    @property
    def held(self) -> bool:
        """Whether an expedited batch runs now."""
        return not self._unhurried.is_set()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Run one batch of work, which `expedite` can make urgent."""
        with self._state:
            self._working = True
        try:
            yield
        finally:
            with self._state:
                self._working = False
                self._unhurried.set()

    def expedite(self) -> None:
        """Have the readers stand aside until the batch in progress ends
        (nothing if no batch is in progress)."""
        with self._state:
            if self._working:
                self._unhurried.clear()

    def give_way(self, timeout: float) -> float:
        """Wait while an expedited batch runs, `timeout` seconds at most.

        Returns:
            The seconds waited: 0.0 at once when nothing urgent runs.
        """
        if timeout <= 0 or not self.held:
            return 0.0
        start = time.monotonic()
        self._unhurried.wait(timeout)
        return time.monotonic() - start
