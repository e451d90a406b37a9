"""`SqliteStore`: the `Store` in one SQLite file in the server's data directory.

Only this package opens the database. One connection, guarded by a lock,
serves every thread (see `SqliteStore` for why).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from server.store.base import (
    AccountRecord,
    BanRecord,
    InviteRecord,
    InviteUnusable,
    NameTaken,
    Role,
    TokenRecord,
)
from server.store.connection import (
    DATABASE_FILE_NAME,
    LockedConnection,
    SqliteFile,
    Synchronous,
    Wording,
    open_writer,
)
from server.store.migrations import MIGRATIONS, Migration

__all__ = ["DATABASE_FILE_NAME", "SqliteStore"]

_WORDING = Wording(
    closed="the store is closed",
    reading="database read failed",
    writing="database write failed",
)


class SqliteStore(SqliteFile):
    """The `Store` protocol over one SQLite file (WAL, `synchronous=NORMAL`).

    Threads: one connection shared under a `threading.Lock`, not one per
    thread. Every operation here is a few indexed rows (microseconds), the
    costly part of a login (argon2) runs outside the store, and the lock
    means transactions never meet SQLITE_BUSY inside this process and no
    per-thread connections are left open by threads that ended. Message
    history has its own writer connection (group commit) rather than share
    this lock; WAL lets it and this connection read concurrently.

    Durability: WAL with `synchronous=NORMAL` never corrupts the file; a power
    cut may lose the last transactions before a checkpoint, which for
    accounts means at worst a just-issued token or registration.

    Args:
        path: the database file; created (mode 0600, since it holds password
            hashes) with its directory if missing.
        steps: the schema steps to apply (tests pass a prefix to build an
            older file).
        busy_timeout: seconds to wait for another process's write lock.

    Raises:
        StoreError: the file cannot be opened or migrated.
        SchemaTooNew: the file comes from a newer server.
    """

    def __init__(
        self,
        path: Path,
        *,
        steps: tuple[Migration, ...] = MIGRATIONS,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = path
        connection, self.version = open_writer(
            path,
            busy_timeout=busy_timeout,
            synchronous=Synchronous.NORMAL,
            steps=steps,
        )
        self._db = LockedConnection(connection, _WORDING)

    def close(self) -> None:
        self._db.close(optimize=True)

    # --- accounts --------------------------------------------------------

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
        with self._db.write() as db:
            if invite_hash is not None and not _invite_usable(
                db, invite_hash, created_at
            ):
                raise InviteUnusable("this invite is unknown, used or expired")
            try:
                cursor = db.execute(
                    "INSERT INTO accounts (name, name_key, password_hash, role, created_at)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (name, name_key, password_hash, role.value, created_at),
                )
                account_id = int(cursor.fetchall()[0][0])
            except sqlite3.IntegrityError as error:
                raise NameTaken(f"the name {name!r} is registered already") from error
            if invite_hash is not None:
                db.execute(
                    "UPDATE invites SET used_by = ?, used_at = ? WHERE code_hash = ?",
                    (account_id, created_at, invite_hash),
                )
        return AccountRecord(
            id=account_id,
            name=name,
            name_key=name_key,
            password_hash=password_hash,
            role=role,
            created_at=created_at,
            disabled=False,
        )

    def account_by_id(self, account_id: int) -> AccountRecord | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT id, name, name_key, password_hash, role, created_at, disabled"
                " FROM accounts WHERE id = ?",
                (account_id,),
            ).fetchone()
        return _account(row) if row else None

    def account_by_key(self, name_key: str) -> AccountRecord | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT id, name, name_key, password_hash, role, created_at, disabled"
                " FROM accounts WHERE name_key = ?",
                (name_key,),
            ).fetchone()
        return _account(row) if row else None

    def count_accounts(self) -> int:
        with self._db.read() as db:
            return int(db.execute("SELECT count(*) FROM accounts").fetchone()[0])

    def set_password_hash(
        self, account_id: int, password_hash: str, *, expected: str | None = None
    ) -> bool:
        with self._db.write() as db:
            if expected is None:
                cursor = db.execute(
                    "UPDATE accounts SET password_hash = ? WHERE id = ?",
                    (password_hash, account_id),
                )
            else:
                cursor = db.execute(
                    "UPDATE accounts SET password_hash = ?"
                    " WHERE id = ? AND password_hash = ?",
                    (password_hash, account_id, expected),
                )
            return cursor.rowcount > 0

    def set_role(self, account_id: int, role: Role) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "UPDATE accounts SET role = ? WHERE id = ?", (role.value, account_id)
            )
            return cursor.rowcount > 0

    def set_disabled(self, account_id: int, disabled: bool) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "UPDATE accounts SET disabled = ? WHERE id = ?",
                (int(disabled), account_id),
            )
            return cursor.rowcount > 0

    # --- tokens ----------------------------------------------------------

    def add_token(
        self, *, account_id: int, token_hash: bytes, created_at: float, label: str
    ) -> None:
        with self._db.write() as db:
            db.execute(
                "INSERT INTO tokens (token_hash, account_id, created_at, last_used, label)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash, account_id, created_at, created_at, label),
            )

    def token(self, token_hash: bytes) -> TokenRecord | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT token_hash, account_id, created_at, last_used, label"
                " FROM tokens WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
        return _token(row) if row else None

    def touch_token(self, token_hash: bytes, last_used: float) -> None:
        with self._db.write() as db:
            db.execute(
                "UPDATE tokens SET last_used = max(last_used, ?) WHERE token_hash = ?",
                (last_used, token_hash),
            )

    def tokens_of(self, account_id: int) -> list[TokenRecord]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT token_hash, account_id, created_at, last_used, label"
                " FROM tokens WHERE account_id = ?"
                " ORDER BY created_at",
                (account_id,),
            ).fetchall()
        return [_token(row) for row in rows]

    def delete_token(self, token_hash: bytes) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM tokens WHERE token_hash = ?", (token_hash,)
            )
            return cursor.rowcount > 0

    def delete_tokens(self, account_id: int, *, keep: bytes | None = None) -> int:
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM tokens WHERE account_id = ?"
                " AND token_hash IS NOT coalesce(?, x'')",
                (account_id, keep),
            )
            return cursor.rowcount

    # --- invites ---------------------------------------------------------

    def add_invite(
        self,
        *,
        code_hash: bytes,
        created_by: int | None,
        created_at: float,
        expires_at: float,
    ) -> None:
        with self._db.write() as db:
            db.execute(
                "INSERT INTO invites (code_hash, created_by, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (code_hash, created_by, created_at, expires_at),
            )

    def invite(self, code_hash: bytes) -> InviteRecord | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT code_hash, created_by, created_at, expires_at, used_by"
                " FROM invites WHERE code_hash = ?",
                (code_hash,),
            ).fetchone()
        if row is None:
            return None
        return InviteRecord(
            code_hash=row[0],
            created_by=row[1],
            created_at=row[2],
            expires_at=row[3],
            used_by=row[4],
        )

    # --- bans ------------------------------------------------------------

    def add_ban(
        self,
        *,
        account_id: int | None,
        address: str | None,
        reason: str,
        created_at: float,
        until: float | None,
    ) -> BanRecord:
        if account_id is None and address is None:
            msg = "a ban needs an account, an address or both"
            raise ValueError(msg)
        with self._db.write() as db:
            cursor = db.execute(
                "INSERT INTO bans (account_id, address, reason, created_at, until)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (account_id, address, reason, created_at, until),
            )
            ban_id = int(cursor.fetchall()[0][0])
        return BanRecord(
            id=ban_id,
            account_id=account_id,
            address=address,
            reason=reason,
            created_at=float(created_at),
            until=None if until is None else float(until),
        )

    def active_ban(
        self, *, account_id: int | None, address: str | None, now: float
    ) -> BanRecord | None:
        with self._db.read() as db:
            # The longest-lasting ban in force: a permanent one first.
            row = db.execute(
                f"SELECT {_BAN_COLUMNS} FROM bans"  # noqa: S608 - constant columns
                " WHERE (account_id = ? OR address = ?)"
                " AND (until IS NULL OR until > ?)"
                " ORDER BY until IS NULL DESC, until DESC LIMIT 1",
                (account_id, address, now),
            ).fetchone()
        return _ban(row) if row else None

    def bans_in_force(self, now: float) -> list[BanRecord]:
        with self._db.read() as db:
            rows = db.execute(
                f"SELECT {_BAN_COLUMNS} FROM bans"  # noqa: S608 - constant columns
                " WHERE until IS NULL OR until > ?",
                (now,),
            ).fetchall()
        return [_ban(row) for row in rows]

    def delete_ban(self, ban_id: int) -> bool:
        with self._db.write() as db:
            return db.execute("DELETE FROM bans WHERE id = ?", (ban_id,)).rowcount > 0

    def delete_bans(self, *, account_id: int | None, address: str | None) -> int:
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM bans WHERE account_id = ? OR address = ?",
                (account_id, address),
            )
            return cursor.rowcount


def _invite_usable(db: sqlite3.Connection, code_hash: bytes, now: float) -> bool:
    row = db.execute(
        "SELECT 1 FROM invites WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
        (code_hash, now),
    ).fetchone()
    return row is not None


def _account(row: tuple[Any, ...]) -> AccountRecord:
    account_id, name, name_key, password_hash, role, created_at, disabled = row
    return AccountRecord(
        id=int(account_id),
        name=str(name),
        name_key=str(name_key),
        password_hash=str(password_hash),
        role=Role(role),
        created_at=float(created_at),
        disabled=bool(disabled),
    )


_BAN_COLUMNS = "id, account_id, address, reason, created_at, until"
"""What `_ban` reads, in its order."""


def _ban(row: tuple[Any, ...]) -> BanRecord:
    return BanRecord(
        id=row[0],
        account_id=row[1],
        address=row[2],
        reason=row[3],
        created_at=row[4],
        until=row[5],
    )


def _token(row: tuple[Any, ...]) -> TokenRecord:
    token_hash, account_id, created_at, last_used, label = row
    return TokenRecord(
        token_hash=bytes(token_hash),
        account_id=int(account_id),
        created_at=float(created_at),
        last_used=float(last_used),
        label=str(label),
    )
