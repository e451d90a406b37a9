"""The store's records, errors and interfaces, free of any database.

`server.accounts` and the hub depend on these protocols only; `SqliteStore`,
`SqliteMessageStore` and `SqliteRoomStore` implement them. Nothing here does
I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import attrs

from protocol import LOBBY, RoomRole, nick_key


class Role(enum.StrEnum):
    """What an account may do; stored as its value."""

    USER = "user"
    ADMIN = "admin"


@attrs.frozen(kw_only=True)
class AccountRecord:
    """One row of `accounts`.

    Attributes:
        id: stable number; tokens, invites and bans refer to it.
        name: the nick as registered (display form).
        name_key: `protocol.nick_key(name)`: unique, so `Bob` and `b0b`
            cannot both be registered.
        password_hash: the argon2 PHC string (never the password); left out
            of `repr` so it cannot end up in a log by accident.
        role: user or admin.
        created_at: seconds since the epoch.
        disabled: a disabled account cannot log in.
    """

    id: int
    name: str
    name_key: str
    password_hash: str = attrs.field(repr=False)
    role: Role
    created_at: float
    disabled: bool


@attrs.frozen(kw_only=True)
class TokenRecord:
    """One row of `tokens`: a login token, known only by its SHA-256."""

    token_hash: bytes = attrs.field(repr=False)
    account_id: int
    created_at: float
    last_used: float
    label: str


@attrs.frozen(kw_only=True)
class InviteRecord:
    """One row of `invites`: a one-time registration code, known by its SHA-256."""

    code_hash: bytes = attrs.field(repr=False)
    created_by: int | None
    created_at: float
    expires_at: float
    used_by: int | None


@attrs.frozen(kw_only=True)
class BanRecord:
    """One row of `bans`: an account, an address, or both, kept out until `until`.

    `until` is None for a ban without end.
    """

    id: int
    account_id: int | None
    address: str | None
    reason: str
    created_at: float
    until: float | None


@attrs.frozen(kw_only=True)
class StoredMessage:
    """One row of `messages`: a chat line as kept for history (issues 14, 15).

    Keyword-only: a dozen fields, most of them strings, are too easy to swap
    when given by position.

    A message is one of three kinds, told apart by which fields are set:

    - to the lobby: `room`, `target` and `target_party` all None;
    - to a room: `room` (its key) and `target` (its name) set,
      `target_party` None;
    - direct: `target` and `target_party` set, `room` None.

    Attributes:
        id: given by the hub, increasing across restarts; the order of history.
        timestamp_ms: milliseconds since the epoch, given by the hub.
        sender: the sender's nick as shown.
        sender_party: who sent it (see `account_party` / `guest_party`).
        target: the recipient's nick for a direct message, the room's name
            as shown (`#Rust`) for a room message; None for the lobby.
        target_party: the recipient's party for a direct message; None
            otherwise.
        text: the message. Left out of `repr`: direct messages are private
            and must never reach a log.
        txn: the client's 16-byte transaction id (`Post.txn`), unique; None
            for lines that came without one. Left out of `repr` too.
        offline: a direct message stored for an account none of whose
            connections was online, not yet handed to it.
        room: the room's key (`protocol.room_key(target)`, `#rust`) for a
            room message; None for the lobby and for direct messages.
        sender_key: `protocol.nick_key(sender)`, the identity of the nick
            the sender had then. Derived from `sender` when not given.
        target_key: for a direct message `protocol.nick_key(target)`,
            derived from `target` when not given; None otherwise.
    """

    id: int
    timestamp_ms: int
    sender: str
    sender_party: str
    target: str | None
    target_party: str | None
    text: str = attrs.field(repr=False)
    txn: bytes | None = attrs.field(default=None, repr=False)
    offline: bool = False
    room: str | None = None
    # Derived rather than "" / None by default: a caller that forgets them
    # would otherwise store direct messages that `only="@nick"` never finds.
    sender_key: str = attrs.field(
        default=attrs.Factory(lambda self: nick_key(self.sender), takes_self=True)
    )
    target_key: str | None = attrs.field(
        default=attrs.Factory(
            lambda self: (
                nick_key(self.target)
                if self.target is not None and self.target_party is not None
                else None
            ),
            takes_self=True,
        )
    )

    def __attrs_post_init__(self) -> None:
        if self.room is None:
            if (self.target is None) != (self.target_party is None):
                msg = (
                    "a message outside rooms has both target and target_party,"
                    " or neither"
                )
                raise ValueError(msg)
        else:
            _check_room_message(self.room, self.target, self.target_party)
        if self.offline and self.target_party is None:
            msg = "only a direct message can wait offline"
            raise ValueError(msg)
        if self.target_key is not None and self.target_party is None:
            msg = "only a direct message has a target_key"
            raise ValueError(msg)


def _check_room_message(
    room: str, target: str | None, target_party: str | None
) -> None:
    # Shape only: whether `room` is `room_key(target)` is the hub's business,
    # and checking it here would make stored rows unreadable if a Unicode
    # update ever changed a key (every row read is built through here).
    if target is None or target_party is not None:
        msg = "a room message has a target (the room's name) and no target_party"
        raise ValueError(msg)
    if room == LOBBY or not room.startswith("#"):
        msg = f"a room key starts with '#' and is not the lobby's: {room!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class RoomRecord:
    """One row of `rooms` (issue 15).

    The lobby needs no row (everyone is in it and its messages have no
    room), but the hub may keep one for its topic.

    Attributes:
        key: `protocol.room_key(name)`: what makes two names one room.
        name: the room's name as its creator wrote it (`#Rust`).
        topic: empty for none.
        invite_only: only invited parties may join.
        owner_party: the party that created it.
        created_at: seconds since the epoch.
    """

    key: str
    name: str
    topic: str
    invite_only: bool
    owner_party: str
    created_at: float


_ACCOUNT_PARTY = "a:"


def account_party(name_key: str) -> str:
    """The party of a logged-in account: `a:` + its `nick_key` (issue 14)."""
    return _ACCOUNT_PARTY + name_key


def guest_party(session_id: str) -> str:
    """The party of a guest: `s:` + its session id in hex (issue 14)."""
    return f"s:{session_id}"


def is_account_party(party: str) -> bool:
    """Whether `party` is an account's (from `account_party`)."""
    return party.startswith(_ACCOUNT_PARTY)


class StoreError(Exception):
    """The database failed (disk full, file corrupt, locked too long...).

    The message is for the operator's log; callers tell the user only that
    the server had a problem.
    """


class NameTaken(StoreError):
    """An account with the same `name_key` exists."""


class InviteUnusable(StoreError):
    """The invite code is unknown, already used or expired."""


class SchemaTooNew(StoreError):
    """The file was written by a newer server; refusing to touch it."""


class RoomExists(StoreError):
    """`RoomStore.create_room` met a key that is taken."""


class NoSuchRoom(StoreError):
    """A member, ban or invite was added to a room that is not stored."""


class TxnTaken(StoreError):
    """`MessageStore.append` met a `txn` that is stored already (or repeated
    within the batch); nothing of that batch was stored.

    Attributes:
        txn: the offending transaction id (not in the message: txns never
            reach a log).
    """

    def __init__(self, txn: bytes) -> None:
        super().__init__("a message with this transaction id is stored already")
        self.txn = txn


class Store(Protocol):
    """Everything the server keeps on disk about accounts.

    Implementations are safe to call from several threads. Each method is
    one transaction. Times are seconds since the epoch, given by the caller
    (the store reads no clock, so tests control time).
    """

    def close(self) -> None:
        """Release the database; later calls fail."""

    # accounts
    def create_account(
        self,
        *,
        name: str,
        name_key: str,
        password_hash: str,
        role: Role,
        created_at: float,
        invite_hash: bytes | None = None,
    ) -> AccountRecord:
        """Insert an account; with `invite_hash`, consume that invite atomically.

        Raises:
            NameTaken: `name_key` is registered already.
            InviteUnusable: the invite is unknown, used, or expired at
                `created_at` (nothing is inserted then).
        """
        ...

    def account_by_id(self, account_id: int) -> AccountRecord | None: ...

    def account_by_key(self, name_key: str) -> AccountRecord | None: ...

    def count_accounts(self) -> int: ...

    def set_password_hash(
        self, account_id: int, password_hash: str, *, expected: str | None = None
    ) -> bool:
        """Replace the hash; with `expected`, only if the stored one still is that.

        Returns True if a row changed. `expected` lets a background re-hash
        never overwrite a password changed in the meantime.
        """
        ...

    def set_role(self, account_id: int, role: Role) -> bool: ...

    def set_disabled(self, account_id: int, disabled: bool) -> bool: ...

    # tokens
    def add_token(
        self, *, account_id: int, token_hash: bytes, created_at: float, label: str
    ) -> None: ...

    def token(self, token_hash: bytes) -> TokenRecord | None: ...

    def touch_token(self, token_hash: bytes, last_used: float) -> None: ...

    def tokens_of(self, account_id: int) -> list[TokenRecord]: ...

    def delete_token(self, token_hash: bytes) -> bool: ...

    def delete_tokens(self, account_id: int, *, keep: bytes | None = None) -> int:
        """Delete every token of the account except `keep`; return how many."""
        ...

    # invites
    def add_invite(
        self,
        *,
        code_hash: bytes,
        created_by: int | None,
        created_at: float,
        expires_at: float,
    ) -> None: ...

    def invite(self, code_hash: bytes) -> InviteRecord | None: ...

    # bans
    def add_ban(
        self,
        *,
        account_id: int | None,
        address: str | None,
        reason: str,
        created_at: float,
        until: float | None,
    ) -> BanRecord: ...

    def active_ban(
        self, *, account_id: int | None, address: str | None, now: float
    ) -> BanRecord | None:
        """The ban, if any, in force at `now` for this account or this address."""
        ...

    def bans_in_force(self, now: float) -> list[BanRecord]:
        """Every ban in force at `now`."""
        ...

    def delete_ban(self, ban_id: int) -> bool: ...

    def delete_bans(self, *, account_id: int | None, address: str | None) -> int:
        """Delete every ban on this account or this address; return how many."""
        ...


class MessageStore(Protocol):
    """Stored history (issues 14, 15): every chat line, searchable, in id order.

    Implementations are safe to call from several threads, and reads may run
    while a write commits. Ids and times come from the caller.

    Who may see a message: everyone for a lobby message; the members of its
    room for a room message (the caller says which rooms a party is in, with
    `rooms`); its sender's party and its target's party for a direct
    message. A party's own message to a room it has left is not visible.
    """

    def close(self) -> None:
        """Release the database; later calls raise `StoreError`."""

    def last_id(self) -> int:
        """The highest id ever stored (0 for none), pruned messages included,
        so ids given from `last_id() + 1` on are never reused.
        """
        ...

    def append(self, messages: Sequence[StoredMessage]) -> None:
        """Store the messages in one transaction (group commit).

        Durable when this returns (it survives a crash or a power cut). Ids
        are the caller's and must be new.

        Raises:
            TxnTaken: a `txn` is stored already or appears twice in the
                batch; nothing was stored.
            StoreError: the database failed; nothing was stored.
        """
        ...

    def by_txn(self, txn: bytes) -> StoredMessage | None:
        """The message stored with this transaction id, if any."""
        ...

    def page(
        self,
        party: str,
        *,
        before: int,
        after: int,
        limit: int,
        rooms: Collection[str] = (),
        only: str | None = None,
    ) -> tuple[list[StoredMessage], bool]:
        """Messages `party` may see with `after < id < before`.

        `before` is a real bound (the hub passes its join point + 1). With
        `after == 0`: the newest `limit` of them; otherwise the oldest
        `limit`. Returned in ascending id order, with whether more matching
        messages exist beyond those (older ones when `after == 0`, newer
        ones otherwise). `limit` must be at least 1.

        Args:
            party: who asks.
            before: see above.
            after: see above.
            limit: see above.
            rooms: the keys of the rooms `party` is a member of; their
                messages are visible (a plain `str` is refused: it is a
                collection of characters).
            only: narrows to one conversation: None for everything visible,
                `"#lobby"` for the lobby, `"#<key>"` for that room (nothing
                unless the key is in `rooms`), `"@<nick_key>"` for the
                direct messages between `party` and that nick (sent by
                `party` to that nick, or sent by that nick to `party`).

        Raises:
            ValueError: `limit` below 1, or `only` not of those forms.
            TypeError: `rooms` is a `str`.
        """
        ...

    def search(
        self,
        party: str,
        words: str,
        *,
        before: int,
        limit: int,
        rooms: Collection[str] = (),
        only: str | None = None,
    ) -> tuple[list[StoredMessage], bool]:
        """The newest `limit` messages `party` may see containing every word.

        `words` is user input, never query syntax: each word matches
        literally (case and accents ignored); the last one also as a prefix.
        `before` bounds the ids (0: no bound). Returned in ascending id
        order, with whether older matches exist. A query with no word in it
        (empty, only punctuation) gives `([], False)`. `rooms` and `only`
        are as for `page`.
        """
        ...

    def take_offline(self, party: str) -> list[StoredMessage]:
        """The offline direct messages for `party`, ascending; they stop
        being offline in the same transaction, so each is taken once. The
        records come back as they were stored (`offline=True`).
        """
        ...

    def claim_offline(self, message_id: int) -> bool:
        """Give a stored offline direct message live instead: True if it was
        still offline (it is not any more), False if `take_offline` took it."""
        ...

    def keep_offline(self, ids: list[int]) -> None:
        """Mark stored direct messages offline after all (`take_offline` gives
        them): their account left between being found online and being sent."""
        ...

    def prune(self, older_than_ms: int) -> int:
        """Delete the messages with `timestamp_ms < older_than_ms`; how many."""
        ...

    def backup(self, path: Path) -> None:
        """Write a consistent copy of the whole database to `path` (mode
        0600), while other threads and processes keep reading and writing.
        """
        ...

    def export(self, sender_party: str) -> Iterator[StoredMessage]:
        """Every message `sender_party` sent, ascending, read in batches (the
        whole history is never in memory at once).
        """
        ...


class RoomStore(Protocol):
    """The rooms (issue 15) that outlive a restart: their settings, members,
    bans and invites. The store treats a `#lobby` row (the hub keeps the
    lobby's topic in one) like any other.

    Implementations are safe to call from several threads; each method is
    one transaction. Keys are `protocol.room_key` values, parties are
    `account_party` / `guest_party` values, times are seconds since the
    epoch given by the caller. Deleting a room deletes its members, bans
    and invites (not its messages).

    Raises (every method):
        StoreError: the database failed, or the store is closed.
    """

    def close(self) -> None:
        """Release the database; later calls raise `StoreError`."""

    def rooms(self) -> list[RoomRecord]:
        """Every room, ordered by name ignoring case."""
        ...

    def room(self, key: str) -> RoomRecord | None: ...

    def create_room(
        self, *, key: str, name: str, owner_party: str, created_at: float
    ) -> RoomRecord:
        """Store a new open room with no topic and no members (the caller
        adds the owner with `add_member`).

        Raises:
            RoomExists: a room with this key is stored.
            ValueError: `key` is not `protocol.room_key(name)`.
        """
        ...

    def delete_room(self, key: str) -> bool:
        """Delete the room with its members, bans and invites; whether it
        existed. Its messages are kept but no longer belong to `key`: a new
        room of the same name starts with no history.
        """
        ...

    def set_topic(self, key: str, topic: str) -> bool:
        """Whether the room exists (and now has this topic)."""
        ...

    def set_invite_only(self, key: str, flag: bool) -> bool:
        """Whether the room exists (and now has this setting)."""
        ...

    def members(self, key: str) -> dict[str, RoomRole]:
        """Party → role, in the order they joined; empty for no such room."""
        ...

    def rooms_of(self, party: str) -> list[tuple[RoomRecord, RoomRole]]:
        """The rooms `party` is a member of with its role there, ordered by
        name ignoring case.
        """
        ...

    def add_member(
        self, key: str, party: str, role: RoomRole, joined_at: float
    ) -> None:
        """Add a member, or change the role of one (keeping when it joined).

        Raises:
            NoSuchRoom: the room is not stored.
        """
        ...

    def remove_member(self, key: str, party: str) -> bool:
        """Whether `party` was a member."""
        ...

    def bans(self, key: str) -> set[str]:
        """The banned parties of the room."""
        ...

    def add_ban(self, key: str, party: str, reason: str, created_at: float) -> None:
        """Ban `party` (again: the new reason and time replace the old).
        Membership and invites are the caller's business.

        Raises:
            NoSuchRoom: the room is not stored.
        """
        ...

    def remove_ban(self, key: str, party: str) -> bool:
        """Whether `party` was banned."""
        ...

    def add_invite(self, key: str, party: str, created_at: float) -> None:
        """Invite `party` (again: the new time replaces the old).

        Raises:
            NoSuchRoom: the room is not stored.
        """
        ...

    def take_invite(self, key: str, party: str) -> bool:
        """Whether `party` was invited; the invite is used up either way."""
        ...
