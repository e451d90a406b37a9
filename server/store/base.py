"""The store's records, errors and interface (`Store`), free of any database.

`server.accounts` and later the hub depend on `Store` only; `SqliteStore` is
one implementation. Nothing here does I/O.
"""

from __future__ import annotations

import enum
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
