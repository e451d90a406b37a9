"""`Delivery`: every chat line the user sent, until the server confirms it.

A line waits (offline, or for the rate limit), is sent with a fresh ref, and
is confirmed when the server echoes that ref. When a connection drops, the
lines in flight are kept with their refs; once the next connection says
which refs the server delivered (`SessionToken.last_ref`, spec 12.2) the
rest are sent again, first and in order, so nothing is lost or doubled.
With stored history (issue 14) each line carries a transaction id instead,
so every line in doubt is simply sent again: the server keeps it once.
No I/O, no clock: `ChatSession` drives it.
"""

from __future__ import annotations

import itertools
from collections import deque

import attrs

QUEUE_LIMIT = 1000
"""Lines that may wait for the connection; past it the user is told, and the
line stays in the input box."""

_EXCERPT = 40


@attrs.frozen
class Outgoing:
    """One line the user sent: to everyone (`target` None) or to one nick.

    `txn` is its transaction id for `Post` (empty where none is used).
    """

    local_id: int
    text: str
    target: str | None
    txn: bytes = b""

    def describe(self) -> str:
        return describe_message(self.text, self.target)


def describe_message(text: str, target: str | None) -> str:
    """A message in a notice: `message to bob “the first words…”`."""
    first = text.splitlines()[0] if text else ""
    excerpt = first if len(first) <= _EXCERPT else first[:_EXCERPT] + "…"
    if first != text and len(first) <= _EXCERPT:
        excerpt += " …"
    where = f" to {target}" if target else ""
    return f"message{where} “{excerpt}”"


@attrs.frozen
class Settled:
    """What became of the lines in flight when a connection dropped.

    Attributes:
        delivered: the server had delivered them (their echo was lost).
        unknown: the server cannot say (it does not speak sessions).
        resent: queued again, ahead of everything else.
    """

    delivered: list[Outgoing]
    unknown: list[Outgoing]
    resent: list[Outgoing]


class Delivery:
    """The queue, the lines in flight, and the lines whose fate is unknown."""

    def __init__(self, *, limit: int = QUEUE_LIMIT) -> None:
        self.limit = limit
        self._ids = itertools.count(1)
        self._waiting: deque[Outgoing] = deque()
        self._unconfirmed: dict[int, Outgoing] = {}
        self._lost: dict[int, Outgoing] = {}
        self._doubtful: list[Outgoing] = []
        self._ever_sent: set[int] = set()

    def __len__(self) -> int:
        """Lines not yet confirmed, wherever they are."""
        return (
            len(self._waiting)
            + len(self._unconfirmed)
            + len(self._lost)
            + len(self._doubtful)
        )

    @property
    def full(self) -> bool:
        return len(self._waiting) + len(self._lost) + len(self._doubtful) >= self.limit

    def add(self, text: str, target: str | None, txn: bytes = b"") -> Outgoing:
        """A new line to send, after every line already waiting."""
        line = Outgoing(next(self._ids), text, target, txn)
        self._waiting.append(line)
        return line

    def restore(
        self, text: str, target: str | None, txn: bytes, *, sent: bool
    ) -> Outgoing:
        """A line an earlier run left unconfirmed (from the journal).

        One that was never sent waits like a new line; one that was sent is
        in doubt until the next connection says whether lines can be sent
        again safely (`settle`).
        """
        line = Outgoing(next(self._ids), text, target, txn)
        if sent:
            self._doubtful.append(line)
            self._ever_sent.add(line.local_id)
        else:
            self._waiting.append(line)
        return line

    def snapshot(self) -> list[tuple[Outgoing, bool]]:
        """Every unconfirmed line in the order it would be sent again, each
        with whether it may have reached a server (for the journal)."""
        lines = [
            *self._doubtful,
            *(self._lost[ref] for ref in sorted(self._lost)),
            *(self._unconfirmed[ref] for ref in sorted(self._unconfirmed)),
            *self._waiting,
        ]
        return [(line, line.local_id in self._ever_sent) for line in lines]

    def has_waiting(self) -> bool:
        return bool(self._waiting)

    def take(self) -> Outgoing | None:
        """The next line to send, if any."""
        return self._waiting.popleft() if self._waiting else None

    def sent(self, ref: int, line: Outgoing) -> None:
        self._unconfirmed[ref] = line
        self._ever_sent.add(line.local_id)

    def is_ours(self, ref: int) -> bool:
        return ref in self._unconfirmed

    def confirmed(self, ref: int) -> Outgoing | None:
        """The server delivered the line sent as `ref`."""
        return self._forget(self._unconfirmed.pop(ref, None) if ref else None)

    def refused(self, ref: int) -> Outgoing | None:
        """The server refused the line sent as `ref` for good."""
        return self._forget(self._unconfirmed.pop(ref, None) if ref else None)

    def retry(self, ref: int) -> Outgoing | None:
        """The server refused `ref` for now (rate limit): send it again first."""
        line = self._unconfirmed.pop(ref, None) if ref else None
        if line is not None:
            self._waiting.appendleft(line)
        return line

    def connection_lost(self) -> list[Outgoing]:
        """The connection dropped: keep what was in flight until `settle`."""
        self._lost.update(self._unconfirmed)
        self._unconfirmed.clear()
        return [self._lost[ref] for ref in sorted(self._lost)]

    def settle(self, last_ref: int | None, *, idempotent: bool = False) -> Settled:
        """A new connection is open; decide the fate of the lines in flight.

        Args:
            last_ref: the highest ref the server delivered for this session,
                or None if the server cannot say (no `session` capability).
            idempotent: lines go out with their transaction ids (`Post`),
                so all of them are sent again: the server keeps each once.
        """
        lost = sorted(self._lost.items())
        doubtful = self._doubtful
        self._lost.clear()
        self._doubtful = []
        if idempotent:
            resent = doubtful + [line for _, line in lost]
            self._waiting.extendleft(reversed(resent))
            return Settled([], [], resent)
        if last_ref is None:
            settled = Settled([], doubtful + [line for _, line in lost], [])
        else:
            # An earlier run's lines (doubtful) have refs this session's
            # last_ref cannot speak for.
            resent = [line for ref, line in lost if ref > last_ref]
            self._waiting.extendleft(reversed(resent))
            settled = Settled(
                [line for ref, line in lost if ref <= last_ref], doubtful, resent
            )
        for line in settled.delivered + settled.unknown:
            self._forget(line)
        return settled

    def drop_all(self) -> list[Outgoing]:
        """Give up on everything (the user quit), oldest first."""
        everything = [line for line, _ in self.snapshot()]
        self._doubtful.clear()
        self._lost.clear()
        self._unconfirmed.clear()
        self._waiting.clear()
        self._ever_sent.clear()
        return everything

    def _forget(self, line: Outgoing | None) -> Outgoing | None:
        if line is not None:
            self._ever_sent.discard(line.local_id)
        return line
