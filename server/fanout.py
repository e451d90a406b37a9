"""`Fanout`: publishing committed messages, each recipient's copies in one write.

The hub decides who is online and in which order things go out
(`server.ordering`); this part turns a group of durable records into the
bytes each connection gets. Everyone gets the group's broadcast frames; a
sender gets its own copy with its ref, a direct message's recipient and a
room's members get theirs, and a repeated transaction id is confirmed with
the message first stored under it. It also remembers the recent transaction
ids, so a repeat is answered without reading the store, and the highest id
published (the join point of a newcomer, spec 12.4).

Called under the hub's lock; no sockets of its own (`Member.deliver`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from protocol import Error, ErrorCode, encode_frame
from server import history
from server.history import Record
from server.store.base import StoredMessage, is_account_party

if TYPE_CHECKING:
    from server.hub import Member

RECENT_TXNS = 10_000
"""Transaction ids remembered in memory (older ones are looked up in the store)."""

STORE_FAILED = "the server could not store your message; it was not sent"
"""What a sender is told when the store failed (its message was not sent)."""

Copies = dict[int, tuple["Member", dict[int, bytes]]]
"""Who gets frames of their own, keyed by `id(member)`: slot index -> frame."""


class Fanout:
    """Publishes groups of records and remembers what was published.

    Args:
        members: everyone registered, in the hub's order.
        room_members: who is in the room with this key now (nobody if none).
        holder_of_party: the registered member under nick key `key`, if it is
            `party`.
        current: a member, or the connection that took its session over.
        party: whose eyes a member's stored direct messages are for.
        claim_offline: a direct message stored as offline whose account is
            online now is given live if this says it still was offline
            (else the account's login took it already: spec 12.4).
    """

    def __init__(
        self,
        *,
        members: Callable[[], Iterable[Member]],
        room_members: Callable[[str], Iterable[Member]],
        holder_of_party: Callable[[str | None, str], Member | None],
        current: Callable[[Member], Member | None],
        party: Callable[[Member], str],
        claim_offline: Callable[[int], bool] = lambda _id: True,
    ) -> None:
        self._members = members
        self._room_members = room_members
        self._holder_of_party = holder_of_party
        self._current = current
        self._party = party
        self._claim_offline = claim_offline
        self.txns: collections.OrderedDict[bytes, Record | StoredMessage] = (
            collections.OrderedDict()
        )
        self.published = 0
        """The highest message id fanned out."""

    def publish(self, records: list[Record], stored: bool) -> list[int]:
        """Publish durable records (or tell their senders the store failed).

        Returns:
            The ids of direct messages to an account that was online when
            they were taken (so they were not stored as offline) and is not
            now: the caller keeps them for the account's next login.
        """
        if not records:
            return []
        if not stored:
            for record in records:
                self._refuse_unstored(record)
            return []
        fresh = []
        for record in records:
            if record.original is None:
                fresh.append(record)
            else:
                self._confirm_repeat(record)
        return self._deliver_group(fresh) if fresh else []

    @staticmethod
    def same_sender(stored: StoredMessage, party: str) -> bool:
        """Whether `party` may hear again of `stored` as its own (spec 12.4):
        the same account, or a guest repeating a guest's id."""
        return stored.sender_party == party or not (
            is_account_party(stored.sender_party) or is_account_party(party)
        )

    def _deliver_group(self, records: list[Record]) -> list[int]:
        shared = [encode_frame(history.delivered(r.stored)) for r in records]
        unheld: list[int] = []
        special = self._special_copies(records, shared, unheld)
        self._remember_published(records)
        broadcast = [
            record.stored.target_party is None and record.stored.room is None
            for record in records
        ]
        if not any(broadcast):
            # Rooms and direct messages only: nobody else gets anything, so
            # only their recipients are visited (not every connection).
            for member, frames in special.values():
                member.deliver(b"".join(frames.values()))
            return unheld
        everything = b"".join(
            frame for frame, wide in zip(shared, broadcast, strict=True) if wide
        )
        for member in self._members():
            entry = special.pop(id(member), None)
            if entry is None:
                member.deliver(everything)
                continue
            frames = entry[1]
            member.deliver(
                b"".join(
                    frames.get(i) or (shared[i] if broadcast[i] else b"")
                    for i in range(len(records))
                )
            )
        # Senders no longer registered (kicked, say) still get their
        # confirmations ahead of their last words.
        for member, frames in special.values():
            member.deliver(b"".join(frames.values()))
        return unheld

    def _confirm_repeat(self, record: Record) -> None:
        """A transaction id the store held already: confirm the original."""
        original = record.original
        assert original is not None  # noqa: S101 - only repeats come here
        if original.txn is not None:
            self.txns[original.txn] = original
        for member, ref in [(record.sender, record.ref), *record.waiters]:
            target = self._current(member) or member
            if self.same_sender(original, self._party(member)):
                frame = encode_frame(history.delivered(original, ref))
            else:
                text = "that transaction id was used by someone else"
                frame = encode_frame(
                    Error(code=ErrorCode.INVALID_FIELD, text=text, ref=ref)
                )
            target.deliver(frame)

    def _remember_published(self, records: list[Record]) -> None:
        """Recent transaction ids now map to stored messages; the join point moves."""
        for record in records:
            if record.stored.txn is not None:
                self.txns[record.stored.txn] = record.stored
        while len(self.txns) > RECENT_TXNS:
            self.txns.popitem(last=False)
        self.published = max(self.published, records[-1].stored.id)

    def _special_copies(
        self, records: list[Record], shared: list[bytes], unheld: list[int]
    ) -> Copies:
        """Who gets something other than the broadcast frames, and what:
        senders (their copy carries the ref), DM recipients, room members and
        repeats of a transaction id. One slot per record. Direct messages to
        an account that nobody holds now, not stored as offline, go to
        `unheld`."""
        special: Copies = {}

        def add(member: Member | None, frame: bytes, index: int) -> None:
            # Indexes come in increasing order, so each dict is in message
            # order; a later frame for the same index (the sender's own copy)
            # replaces the earlier one in place.
            if member is None:
                return
            entry = special.get(id(member))
            if entry is None:
                entry = special[id(member)] = (member, {})
            entry[1][index] = frame

        for index, record in enumerate(records):
            message = record.stored
            if message.room is not None:
                for inside in self._room_members(message.room):
                    add(inside, shared[index], index)
            if message.target_party is not None:
                add(self._recipient(record, unheld), shared[index], index)
            own = shared[index]
            if record.ref:
                own = encode_frame(history.delivered(message, record.ref))
            add(self._current(record.sender) or record.sender, own, index)
            for waiter, ref in record.waiters:
                frame = encode_frame(history.delivered(message, ref))
                add(self._current(waiter) or waiter, frame, index)
        return special

    def _recipient(self, record: Record, unheld: list[int]) -> Member | None:
        """Who gets a direct message now, exactly once.

        Its account may have come or gone since the message was stored: one
        stored for nobody online goes to `unheld` (to be kept); one stored
        as offline for an account online now goes out live only if the
        account's login did not take it already.
        """
        message = record.stored
        assert message.target_party is not None  # noqa: S101 - DMs only
        recipient = self._holder_of_party(record.target_key, message.target_party)
        if recipient is None:
            if not message.offline and is_account_party(message.target_party):
                unheld.append(message.id)
            return None
        if message.offline and not self._claim_offline(message.id):
            return None
        return recipient

    def _refuse_unstored(self, record: Record) -> None:
        """The store failed: the sender learns its message was not sent."""
        txn = record.stored.txn
        if txn is not None:
            self.txns.pop(txn, None)
        for member, ref in [(record.sender, record.ref), *record.waiters]:
            current = self._current(member) or member
            current.deliver(
                encode_frame(
                    Error(code=ErrorCode.INTERNAL_ERROR, text=STORE_FAILED, ref=ref)
                )
            )
