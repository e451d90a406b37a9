"""`SqliteRoomStore`: the rooms (issue 15) in the server's SQLite file.

Only this package touches the database. The rooms live in the same file as
the accounts and the messages (schema step 4) on a connection of their own.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protocol import RoomRole, room_key
from server.store.base import NoSuchRoom, RoomExists, RoomRecord, StoreError
from server.store.connection import (
    LockedConnection,
    SqliteFile,
    Synchronous,
    Wording,
    open_writer,
)

_ROOM_COLUMNS = "key, name, topic, invite_only, owner_party, created_at"

_WORDING = Wording(
    closed="the room store is closed",
    reading="reading rooms failed",
    writing="writing rooms failed",
)


class SqliteRoomStore(SqliteFile):
    """The `RoomStore` protocol over the server's SQLite file.

    Threads: one connection shared under a `threading.Lock`, like
    `SqliteStore`: every operation is a few indexed rows, and rooms change
    at the pace of people typing commands.

    Durability: WAL with `synchronous=NORMAL`: never a corrupt file; a power
    cut may lose the last changes before a checkpoint (a join, a topic).

    Opening applies the schema steps the file lacks (`migrate`, idempotent
    and safe between processes), as `SqliteMessageStore` does.

    Args:
        path: the database file; created (mode 0600) with its directory if
            missing.
        busy_timeout: seconds to wait for another connection's write lock
            (the message store's writer, the accounts, an admin command).

    Raises:
        StoreError: the file cannot be opened or migrated.
        SchemaTooNew: the file comes from a newer server.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        connection, _ = open_writer(
            path, busy_timeout=busy_timeout, synchronous=Synchronous.NORMAL
        )
        self._db = LockedConnection(connection, _WORDING)

    def close(self) -> None:
        self._db.close()

    # --- rooms -----------------------------------------------------------

    def rooms(self) -> list[RoomRecord]:
        with self._db.read() as db:
            rows = db.execute(f"SELECT {_ROOM_COLUMNS} FROM rooms").fetchall()  # noqa: S608 - constant columns
        return _by_name([_room(row) for row in rows])

    def room(self, key: str) -> RoomRecord | None:
        with self._db.read() as db:
            row = db.execute(
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE key = ?",  # noqa: S608 - constant columns
                (key,),
            ).fetchone()
        return _room(row) if row else None

    def create_room(
        self, *, key: str, name: str, owner_party: str, created_at: float
    ) -> RoomRecord:
        if not name.startswith("#") or room_key(name) != key:
            msg = f"the key of the room {name!r} is not {key!r}"
            raise ValueError(msg)
        try:
            with self._db.write() as db:
                db.execute(
                    "INSERT INTO rooms (key, name, owner_party, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (key, name, owner_party, created_at),
                )
        except StoreError as error:
            if isinstance(error.__cause__, sqlite3.IntegrityError):
                raise RoomExists(f"the room {name} exists already") from error
            raise
        return RoomRecord(
            key=key,
            name=name,
            topic="",
            invite_only=False,
            owner_party=owner_party,
            created_at=float(created_at),
        )

    def delete_room(self, key: str) -> bool:
        """Delete the room; its messages stay, filed under a key no room can
        have (`#name~N`), so a new room of the same name does not show them."""
        with self._db.write() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room = ?", (key,)
            ).fetchone()
            db.execute(
                "UPDATE messages SET room = ? WHERE room = ?",
                (f"{key}~{row[0]}", key),
            )
            return db.execute("DELETE FROM rooms WHERE key = ?", (key,)).rowcount > 0

    def set_topic(self, key: str, topic: str) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "UPDATE rooms SET topic = ? WHERE key = ?", (topic, key)
            )
            return cursor.rowcount > 0

    def set_invite_only(self, key: str, flag: bool) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "UPDATE rooms SET invite_only = ? WHERE key = ?", (int(flag), key)
            )
            return cursor.rowcount > 0

    # --- members ---------------------------------------------------------

    def members(self, key: str) -> dict[str, RoomRole]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT party, role FROM room_members WHERE room_key = ?"
                " ORDER BY joined_at, party",
                (key,),
            ).fetchall()
        return {str(party): RoomRole(role) for party, role in rows}

    def rooms_of(self, party: str) -> list[tuple[RoomRecord, RoomRole]]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT r.key, r.name, r.topic, r.invite_only, r.owner_party,"
                " r.created_at, m.role"
                " FROM room_members AS m JOIN rooms AS r ON r.key = m.room_key"
                " WHERE m.party = ?",
                (party,),
            ).fetchall()
        pairs = [(_room(row[:6]), RoomRole(row[6])) for row in rows]
        pairs.sort(key=lambda pair: _name_order(pair[0]))
        return pairs

    def add_member(
        self, key: str, party: str, role: RoomRole, joined_at: float
    ) -> None:
        role = RoomRole(role)
        with self._adding(key) as db:
            db.execute(
                "INSERT INTO room_members (room_key, party, role, joined_at)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (room_key, party) DO UPDATE SET role = excluded.role",
                (key, party, int(role), joined_at),
            )

    def remove_member(self, key: str, party: str) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM room_members WHERE room_key = ? AND party = ?",
                (key, party),
            )
            return cursor.rowcount > 0

    # --- bans ------------------------------------------------------------

    def bans(self, key: str) -> set[str]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT party FROM room_bans WHERE room_key = ?", (key,)
            ).fetchall()
        return {str(row[0]) for row in rows}

    def add_ban(self, key: str, party: str, reason: str, created_at: float) -> None:
        with self._adding(key) as db:
            db.execute(
                "INSERT INTO room_bans (room_key, party, reason, created_at)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (room_key, party) DO UPDATE"
                " SET reason = excluded.reason, created_at = excluded.created_at",
                (key, party, reason, created_at),
            )

    def remove_ban(self, key: str, party: str) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM room_bans WHERE room_key = ? AND party = ?", (key, party)
            )
            return cursor.rowcount > 0

    # --- invites ---------------------------------------------------------

    def add_invite(self, key: str, party: str, created_at: float) -> None:
        with self._adding(key) as db:
            db.execute(
                "INSERT INTO room_invites (room_key, party, created_at)"
                " VALUES (?, ?, ?)"
                " ON CONFLICT (room_key, party) DO UPDATE"
                " SET created_at = excluded.created_at",
                (key, party, created_at),
            )

    def take_invite(self, key: str, party: str) -> bool:
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM room_invites WHERE room_key = ? AND party = ?",
                (key, party),
            )
            return cursor.rowcount > 0

    @contextlib.contextmanager
    def _adding(self, key: str) -> Iterator[sqlite3.Connection]:
        """A write that refers to the room `key`: `NoSuchRoom` if it is gone."""
        try:
            with self._db.write() as db:
                yield db
        except StoreError as error:
            cause = error.__cause__
            if isinstance(cause, sqlite3.IntegrityError) and "FOREIGN KEY" in str(
                cause
            ):
                raise NoSuchRoom(f"no room {key!r} is stored") from error
            raise


def _room(row: tuple[Any, ...]) -> RoomRecord:
    key, name, topic, invite_only, owner_party, created_at = row
    return RoomRecord(
        key=str(key),
        name=str(name),
        topic=str(topic),
        invite_only=bool(invite_only),
        owner_party=str(owner_party),
        created_at=float(created_at),
    )


def _name_order(room: RoomRecord) -> tuple[str, str]:
    # Case ignored the way people read names; the name itself breaks ties.
    return room.name.casefold(), room.name


def _by_name(rooms: list[RoomRecord]) -> list[RoomRecord]:
    return sorted(rooms, key=_name_order)
