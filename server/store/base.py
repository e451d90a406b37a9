"""The store's records, errors and interfaces, free of any database.

`server.accounts` and the hub depend on these protocols only; `SqliteStore`
and `SqliteMessageStore` implement them. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import attrs


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
    """One row of `messages`: a chat line as kept for history (issue 14).

    Keyword-only: nine fields, four of them strings, are too easy to swap
    when given by position.

    Attributes:
        id: given by the hub, increasing across restarts; the order of history.
        timestamp_ms: milliseconds since the epoch, given by the hub.
        sender: the sender's nick as shown.
        sender_party: who sent it (see `account_party` / `guest_party`).
        target: the recipient's nick for a direct message; None for everyone.
        target_party: the recipient's party for a direct message; None for
            everyone. `target` and `target_party` are both set or both None.
        text: the message. Left out of `repr`: direct messages are private
            and must never reach a log.
        txn: the client's 16-byte transaction id (`Post.txn`), unique; None
            for lines that came without one. Left out of `repr` too.
        offline: a direct message stored for an account none of whose
            connections was online, not yet handed to it.
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

    def __attrs_post_init__(self) -> None:
        if (self.target is None) != (self.target_party is None):
            msg = "a message has both target and target_party, or neither"
            raise ValueError(msg)
        if self.offline and self.target_party is None:
            msg = "only a direct message can wait offline"
            raise ValueError(msg)


def account_party(name_key: str) -> str:
    """The party of a logged-in account: `a:` + its `nick_key` (issue 14)."""
    return f"a:{name_key}"


def guest_party(session_id: str) -> str:
    """The party of a guest: `s:` + its session id in hex (issue 14)."""
    return f"s:{session_id}"


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

    def delete_ban(self, ban_id: int) -> bool: ...

    def delete_bans(self, *, account_id: int | None, address: str | None) -> int:
        """Delete every ban on this account or this address; return how many."""
        ...


class MessageStore(Protocol):
    """Stored history (issue 14): every chat line, searchable, in id order.

    Implementations are safe to call from several threads, and reads may run
    while a write commits. Ids and times come from the caller. Who may see a
    message: everyone for a message to everyone (`target_party` None), else
    its sender's party and its target's party.
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
        self, party: str, *, before: int, after: int, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """Messages `party` may see with `after < id < before`.

        `before` is a real bound (the hub passes its join point + 1). With
        `after == 0`: the newest `limit` of them; otherwise the oldest
        `limit`. Returned in ascending id order, with whether more matching
        messages exist beyond those (older ones when `after == 0`, newer
        ones otherwise). `limit` must be at least 1.
        """
        ...

    def search(
        self, party: str, words: str, *, before: int, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """The newest `limit` messages `party` may see containing every word.

        `words` is user input, never query syntax: each word matches
        literally (case and accents ignored); the last one also as a prefix.
        `before` bounds the ids (0: no bound). Returned in ascending id
        order, with whether older matches exist. A query with no word in it
        (empty, only punctuation) gives `([], False)`.
        """
        ...

    def take_offline(self, party: str) -> list[StoredMessage]:
        """The offline direct messages for `party`, ascending; they stop
        being offline in the same transaction, so each is taken once. The
        records come back as they were stored (`offline=True`).
        """
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
