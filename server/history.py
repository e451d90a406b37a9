"""Stored history (spec 12.4): the recorder thread and the answers to history requests.

Every accepted chat message becomes a `Record` in the hub's ordered queue.
The `Recorder` thread takes what has gathered, commits all of it in one
transaction (group commit: one fsync for many messages) and only then has the
hub fan it out. So nobody ever sees a message the database could lose, and a
sender's confirmation means the message survives a crash.

Answers to FetchHistory and Search are built here from store reads; they
are capped in bytes so one request never fills a client's outbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from protocol import (
    MAX_HISTORY_PAGE,
    Delivered,
    FetchHistory,
    HistoryEnd,
    Recalled,
    Search,
    encode_frame,
    is_room,
    nick_key,
    normalize_nick,
    normalize_room,
    room_key,
)
from server.precedence import Precedence
from server.store.base import MessageStore, StoredMessage, StoreError, TxnTaken

if TYPE_CHECKING:
    from server.hub import Member

log = logging.getLogger(__name__)

PAGE_BYTES = 64 * 1024
"""An answer stops after about this many bytes of frames (`more` tells)."""

NOBODY = "-"
"""The party of a connection without a session: no history request can
name it, so what was sent to it is visible to its sender only."""


@attrs.define(eq=False)
class Record:
    """A message accepted but not yet durable and published.

    Attributes:
        stored: the row to write.
        sender: the connection that sent it (its confirmation goes there, or
            to whichever connection holds its session by then).
        ref: the sender's request id.
        target_key: the DM recipient's nick key; None for everyone.
        waiters: connections that sent the same transaction id again
            meanwhile, with their refs: each gets the confirmation too.
        original: set when the store already held this transaction id (a
            repeat the hub could not see coming): confirm that instead.
    """

    stored: StoredMessage
    sender: Member
    ref: int
    target_key: str | None = None
    waiters: list[tuple[Member, int]] = attrs.field(factory=list)
    original: StoredMessage | None = None


Step = Record | Callable[[], object]
"""What the hub's ordered queue holds: a message, or something to send after it."""


def delivered(message: StoredMessage, ref: int = 0) -> Delivered:
    """The live frame for a stored message."""
    return Delivered(
        id=message.id,
        timestamp_ms=message.timestamp_ms,
        sender=message.sender,
        target=message.target,
        text=message.text,
        ref=ref,
    )


def recalled(message: StoredMessage, ref: int) -> Recalled:
    """The history frame for a stored message."""
    return Recalled(
        ref=ref,
        id=message.id,
        timestamp_ms=message.timestamp_ms,
        sender=message.sender,
        target=message.target,
        text=message.text,
    )


def clamp_limit(limit: int) -> int:
    return max(1, min(limit, MAX_HISTORY_PAGE))


def answer(
    ref: int,
    messages: Sequence[StoredMessage],
    more: bool,
    *,
    keep_newest: bool,
    budget: int = PAGE_BYTES,
) -> bytes:
    """Recalled frames for `messages` (ascending) and the closing HistoryEnd.

    Past `budget` bytes the rest is left out and `more` set: the oldest are
    dropped for a page going back in time (`keep_newest`), the newest for
    one going forward, so the client's next request continues seamlessly.
    """
    frames: list[bytes] = []
    size = 0
    ordered = reversed(messages) if keep_newest else iter(messages)
    for message in ordered:
        frame = encode_frame(recalled(message, ref))
        if frames and size + len(frame) > budget:
            more = True
            break
        frames.append(frame)
        size += len(frame)
    if keep_newest:
        frames.reverse()
    frames.append(encode_frame(HistoryEnd(ref=ref, count=len(frames), more=more)))
    return b"".join(frames)


@attrs.frozen
class Viewer:
    """Who asks for history: their party, their rooms' keys, and the store's
    name for the one conversation asked about (None: all of them)."""

    party: str
    rooms: tuple[str, ...] = ()
    only: str | None = None


def conversation_filter(conversation: str | None) -> str | None:
    """The store's name for a FetchHistory/Search `conversation` (spec 12.4):
    `#lobby` or a room's key, or `@` and a nick's key for direct messages.

    Raises:
        InvalidRoom, InvalidNick: not a room name nor a nickname.
    """
    if conversation is None:
        return None
    if is_room(conversation):
        return room_key(normalize_room(conversation))
    return "@" + nick_key(normalize_nick(conversation))


def fetch(
    store: MessageStore, viewer: Viewer, request: FetchHistory, join_point: int
) -> bytes:
    """The answer to FetchHistory: never past `join_point` (spec 12.4)."""
    ceiling = join_point + 1
    before = ceiling if request.before == 0 else min(request.before, ceiling)
    if request.after >= before - 1:
        return encode_frame(HistoryEnd(ref=request.ref, count=0, more=False))
    messages, more = store.page(
        viewer.party,
        before=before,
        after=request.after,
        limit=clamp_limit(request.limit),
        rooms=viewer.rooms,
        only=viewer.only,
    )
    return answer(request.ref, messages, more, keep_newest=request.after == 0)


def search(store: MessageStore, viewer: Viewer, request: Search) -> bytes:
    """The answer to Search."""
    messages, more = store.search(
        viewer.party,
        request.query,
        before=request.before,
        limit=clamp_limit(request.limit),
        rooms=viewer.rooms,
        only=viewer.only,
    )
    return answer(request.ref, messages, more, keep_newest=True)


class Recorder:
    """The thread that makes messages durable, then has them published.

    Args:
        take: called with nothing, under no lock; blocks until steps are
            waiting (or `stop` was called) and returns them, oldest first.
        publish: called with the steps and whether the commit succeeded.
        store: where records are written.
        prune: called about once an hour (retention); None to keep all.
            The first call is the owner's, before the server starts.
        wake: makes a waiting `take` return at once (for `stop`).
        urgent: whether the batch just taken is an express one (quiet
            clients' messages), whose commit and publishing the readers
            stand aside for: it is expedited from its start.
        precedence: told of every batch (`Precedence.working`), so a quiet
            message that arrives meanwhile can expedite it too.
    """

    def __init__(
        self,
        *,
        take: Callable[[float], list[Step]],
        publish: Callable[[list[Step], bool], None],
        store: MessageStore,
        prune: Callable[[], None] | None = None,
        prune_every: float = 3600.0,
        wake: Callable[[], None] = lambda: None,
        urgent: Callable[[], bool] = lambda: False,
        precedence: Precedence | None = None,
    ) -> None:
        self._wake = wake
        self._urgent = urgent
        self._precedence = precedence or Precedence()
        self._take = take
        self._publish = publish
        self._store = store
        self._prune = prune
        self._prune_every = prune_every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Commit and publish what is waiting, then end the thread."""
        self._stopping.set()
        self._wake()
        self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _run(self) -> None:
        next_prune = time.monotonic() + self._prune_every  # the owner pruned at start
        while True:
            if self._prune is not None and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self._prune_every
                self._safely(self._prune)
            steps = self._take(1.0)
            if steps:
                self._commit_and_publish(steps)
            elif self._stopping.is_set():
                return

    def _commit_and_publish(self, steps: list[Step]) -> None:
        records = [step for step in steps if isinstance(step, Record)]
        with self._precedence.working():
            if self._urgent():
                self._precedence.expedite()
            ok = self._commit(records) if records else True
            self._safely(lambda: self._publish(steps, ok))

    def _commit(self, records: list[Record]) -> bool:
        """Store the batch; a transaction id found stored already turns its
        record into a repeat and the rest is tried again."""
        while True:
            rows = [r.stored for r in records if r.original is None]
            if not rows:
                return True
            try:
                self._store.append(rows)
            except TxnTaken as taken:
                if not self._mark_repeat(records, taken.txn):
                    log.exception("could not store %d messages", len(rows))
                    return False
            except StoreError:
                log.exception("could not store %d messages", len(rows))
                return False
            else:
                return True

    def _mark_repeat(self, records: list[Record], txn: bytes) -> bool:
        try:
            original = self._store.by_txn(txn)
        except StoreError:
            return False
        if original is None:
            return False
        for record in records:
            if record.stored.txn == txn and record.original is None:
                record.original = original
                return True
        return False

    @staticmethod
    def _safely(function: Callable[[], object]) -> None:
        try:
            function()
        except Exception:
            log.exception("history: unexpected error")
