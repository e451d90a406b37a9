"""`Outbox`: what waits to go out on the connection, and what must outlive the process.

Control frames (requests, pings, typing notices) and the user's chat lines
(`Delivery`) leave in that order, as fast as the server's flood limit allows
(`Pacer`); the unconfirmed lines and the last message seen are kept in the
journal (`JournalKeeper`), so a crash or a quit loses nothing. `ChatSession`
decides what to queue and hands over the open `Connection`; this part owns
the queues, the refs of the lines and when to write. No sockets, no clock
(times are passed in), and files only through the journal.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable

import attrs

from clients.core import events as ev
from clients.core.delivery import QUEUE_LIMIT, Delivery, Outgoing
from clients.core.journal import Journal, JournalKeeper, JournalLine, JournalState
from clients.core.pacing import Pacer
from protocol import (
    MAX_TEXT_CHARS,
    TXN_BYTES,
    Connection,
    Error,
    ErrorCode,
    Message,
    Post,
    SendDirect,
    SendText,
)

SEEN_SAVE_INTERVAL = 5.0
"""Seconds between journal writes that only move the last seen message id
(unconfirmed lines are written at once)."""


@attrs.frozen
class Sent:
    """What one `Outbox.send` put on the wire.

    Attributes:
        data: the frames, to send in this order.
        events: a `Pending` (no longer queued) for each chat line among them.
    """

    data: bytes
    events: list[ev.UiEvent]


class Outbox:
    """The frames and lines waiting for the connection, paced.

    Args:
        refs: the session's ref counter (refs are shared by every request).
        now: the clock's time at the start.
        limit: chat lines that may wait; past it a new line is refused.
        journal: where unconfirmed lines outlive the process; lines an
            earlier run left there are queued again.
    """

    def __init__(
        self,
        *,
        refs: Callable[[], int],
        now: float,
        limit: int = QUEUE_LIMIT,
        journal: Journal | None = None,
    ) -> None:
        self.delivery = Delivery(limit=limit)
        self.pacer = Pacer()
        self._refs = refs
        self._control: deque[Message] = deque()
        self._settled = False
        self._told_slow_down = False
        self._journal = JournalKeeper(
            journal, now=now, seen_interval=SEEN_SAVE_INTERVAL
        )
        for kept in self._journal.loaded.lines:
            self.delivery.restore(kept.text, kept.target, kept.txn, sent=kept.sent)

    @property
    def last_seen(self) -> int | None:
        """The last message id seen by an earlier run (from the journal)."""
        return self._journal.loaded.last_seen

    def __len__(self) -> int:
        """Chat lines not yet confirmed, wherever they are."""
        return len(self.delivery)

    def queue(self, *messages: Message) -> None:
        """Control frames to send before any waiting chat line, in order."""
        self._control.extend(messages)

    def add(
        self, text: str, target: str | None, *, queued: bool, unreachable: bool
    ) -> ev.Pending | str:
        """A chat line the user sent (to everyone when `target` is None).

        Args:
            queued: no connection is open: the line waits for one.
            unreachable: `target` is known to be offline and would never
                get the line.

        Returns:
            The line as the UI shows it until it is confirmed, or why it was
            not taken (nothing is queued then).
        """
        if len(text) > MAX_TEXT_CHARS:
            return f"your message has {len(text)} characters; the limit is {MAX_TEXT_CHARS}. Nothing was sent."
        if unreachable:
            return f"{target} is not online; nothing was sent"
        if self.delivery.full:
            return f"{self.delivery.limit} messages already wait to be sent; this one was not added. Try again once they are through."
        line = self.delivery.add(text, target, os.urandom(TXN_BYTES))
        return _pending(line, queued=queued)

    def waiting(self) -> list[ev.UiEvent]:
        """A queued `Pending` for every unconfirmed line (at start-up)."""
        return [_pending(line, queued=True) for line, _ in self.delivery.snapshot()]

    def restart(self, now: float, *, spent: int) -> None:
        """A new connection, on which `spent` frames (Hello…) went out already.

        Chat lines wait until `settle` says which of the old ones to resend.
        """
        self.pacer.restart(now, spent=spent)
        self._settled = False
        self._told_slow_down = False

    def settle(self, last_ref: int | None, *, idempotent: bool) -> list[ev.UiEvent]:
        """Decide the fate of the lines in flight when the last connection
        dropped (see `Delivery.settle`); chat lines may go out from now."""
        settled = self.delivery.settle(last_ref, idempotent=idempotent)
        self._settled = True
        events: list[ev.UiEvent] = []
        for line in settled.delivered:
            events += [
                ev.PendingDone(local_id=line.local_id, delivered=True),
                ev.Notice(
                    f"your {line.describe()} was delivered before the connection dropped"
                ),
            ]
        for line in settled.unknown:
            events += [
                ev.PendingDone(local_id=line.local_id, delivered=False),
                ev.Notice(
                    f"the connection dropped before the server confirmed your {line.describe()}; it may not have been delivered",
                    ev.NoticeLevel.ERROR,
                ),
            ]
        return events

    def send(self, conn: Connection, now: float, *, posts: bool) -> Sent:
        """Send what the flood limit allows now on the open `conn`.

        Args:
            posts: send chat lines as `Post` with their transaction ids
                (the server keeps history, issue 14).
        """
        data = b""
        events: list[ev.UiEvent] = []
        while self.pacer.ready(now):
            if self._control:
                data += conn.send(self._control.popleft())
            elif self._settled and (line := self.delivery.take()) is not None:
                ref = self._refs()
                self.delivery.sent(ref, line)
                data += conn.send(_message(line, ref, posts=posts))
                events.append(_pending(line, queued=False))
            else:
                break
            self.pacer.spend(now)
        return Sent(data, events)

    def refused(self, error: Error, now: float) -> list[ev.UiEvent] | None:
        """An Error about one of our chat lines: what to show, or None if
        the error is about something else."""
        if error.code is ErrorCode.RATE_LIMITED and (
            error.ref == 0 or self.delivery.is_ours(error.ref)
        ):
            # Our own pacing should prevent this; if the server still says
            # so, wait and send the line again: it is never dropped.
            self.delivery.retry(error.ref)
            self.pacer.back_off(now)
            if self._told_slow_down:
                return []
            self._told_slow_down = True
            return [
                ev.Notice(
                    "the server asked us to slow down; your messages will follow shortly"
                )
            ]
        if (line := self.delivery.refused(error.ref)) is not None:
            return [
                ev.PendingDone(local_id=line.local_id, delivered=False),
                ev.Notice(
                    f"your {line.describe()} was not delivered: {error.text}",
                    ev.NoticeLevel.ERROR,
                ),
            ]
        return None

    def again_later(self, message: Message, now: float) -> None:
        """The server refused a request for now (rate limit): pause, then
        send it again."""
        self.pacer.back_off(now)
        self._control.append(message)

    def connection_lost(self) -> list[ev.UiEvent]:
        """Drop the control frames (they belonged to that connection); the
        chat lines in flight wait for the next one (a queued `Pending` each)."""
        self._control.clear()
        return [_pending(line, queued=True) for line in self.delivery.connection_lost()]

    def keep(
        self, last_seen: int | None, now: float, *, force: bool = False
    ) -> tuple[bool, list[ev.UiEvent]]:
        """Keep the unconfirmed lines and `last_seen` in the journal.

        Args:
            force: write a changed last seen id now rather than later.

        Returns:
            Whether the journal on disk is up to date, and a problem to
            show (once) if it could not be written.
        """
        state = JournalState(
            lines=tuple(
                JournalLine(txn=line.txn, text=line.text, target=line.target, sent=sent)
                for line, sent in self.delivery.snapshot()
            ),
            last_seen=last_seen,
        )
        kept = self._journal.keep(state, now, force=force)
        problem: list[ev.UiEvent] = []
        if kept.problem is not None:
            problem.append(_error(kept.problem))
        return kept.current, problem

    def close(self, *, kept: bool) -> list[ev.UiEvent]:
        """The user quit: write nothing more and give up on every line.

        Args:
            kept: the journal holds the lines, for the next run.
        """
        self._journal.close()  # what is on disk now waits for the next run
        events: list[ev.UiEvent] = []
        for line in self.delivery.drop_all():
            events += [
                ev.PendingDone(local_id=line.local_id, delivered=False),
                ev.Notice(f"kept to send next time: {line.describe()}")
                if kept
                else _error(f"not sent: {line.describe()}"),
            ]
        return events


def _message(line: Outgoing, ref: int, *, posts: bool) -> Message:
    if posts:
        return Post(ref=ref, txn=line.txn, target=line.target, text=line.text)
    if line.target is None:
        return SendText(ref=ref, text=line.text)
    return SendDirect(ref=ref, target=line.target, text=line.text)


def _pending(line: Outgoing, *, queued: bool) -> ev.Pending:
    return ev.Pending(
        local_id=line.local_id, text=line.text, target=line.target, queued=queued
    )


def _error(text: str) -> ev.Notice:
    return ev.Notice(text, ev.NoticeLevel.ERROR)
