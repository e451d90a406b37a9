"""Opening the server's SQLite file, and sharing a connection under a lock.

Only `server.store` imports this. It knows no table: each store module keeps
its own queries and uses these for the file, the pragmas and the transactions.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import attrs

from server.store.base import StoreError
from server.store.migrations import MIGRATIONS, Migration, migrate

log = logging.getLogger(__name__)

DATABASE_FILE_NAME = "chinwag.sqlite3"
"""The file's name inside the data directory."""


class Synchronous(enum.Enum):
    """How long a writer's commit waits for the disk (`PRAGMA synchronous`)."""

    NORMAL = "NORMAL"
    """Under WAL, never a corrupt file; a power cut may lose the last commits
    before a checkpoint (a crash of the process loses nothing)."""
    FULL = "FULL"
    """Every commit is on the disk when it returns, power cut included."""


def open_writer(
    path: Path,
    *,
    busy_timeout: float,
    synchronous: Synchronous,
    steps: tuple[Migration, ...] = MIGRATIONS,
) -> tuple[sqlite3.Connection, int]:
    """A connection that writes: WAL, `synchronous`, and the schema up to date.

    Args:
        path: the database file; created (mode 0600: it holds password hashes
            and direct messages) with its directory (0700) if missing.
        busy_timeout: seconds to wait for another connection's write lock.
        synchronous: the durability of this connection's commits.
        steps: the schema steps to apply (`migrate`: idempotent and safe
            between processes).

    Returns:
        The connection (autocommit, for any thread) and the schema version.

    Raises:
        StoreError: the file cannot be opened or migrated.
        SchemaTooNew: the file comes from a newer server.
    """
    connection = _connect(path, busy_timeout)
    with _closed_on_error(connection, path):
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s: WAL is not available here (journal mode %s)", path, mode)
        connection.execute(f"PRAGMA synchronous = {synchronous.value}")
        version = migrate(connection, steps)
    return connection, version


def open_reader(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """A connection that only reads (`query_only`), opened after a writer.

    Raises:
        StoreError: the file cannot be opened.
    """
    connection = _connect(path, busy_timeout)
    with _closed_on_error(connection, path):
        connection.execute("PRAGMA query_only = ON")
    return connection


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        connection = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,  # autocommit: transactions are explicit
            check_same_thread=False,  # shared under a lock (`LockedConnection`)
        )
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"cannot open the database {path}: {error}") from error
    with _closed_on_error(connection, path):
        # The cascades from accounts and rooms need it: every connection to
        # this file enforces foreign keys, whatever tables it writes.
        connection.execute("PRAGMA foreign_keys = ON")
    return connection


@contextlib.contextmanager
def _closed_on_error(connection: sqlite3.Connection, path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException as error:
        connection.close()
        if isinstance(error, sqlite3.Error):
            raise StoreError(f"cannot use the database {path}: {error}") from error
        raise


@attrs.frozen(kw_only=True)
class Wording:
    """What a store's `StoreError`s say (the admin command shows them)."""

    closed: str
    """The store was closed: "the room store is closed"."""
    reading: str
    """A read failed: "reading rooms failed" (the error follows)."""
    writing: str
    """A write failed: "writing rooms failed" (the error follows)."""


class LockedConnection:
    """One connection and the lock that shares it between threads.

    The lock means transactions of this process never meet SQLITE_BUSY on
    this connection, and no connection is left open by a thread that ended.
    Every `sqlite3.Error` inside `read` or `write` becomes a `StoreError`
    (its `__cause__` is the original, for callers that tell them apart).
    """

    def __init__(self, connection: sqlite3.Connection, wording: Wording) -> None:
        self.lock = threading.Lock()
        self.connection: sqlite3.Connection | None = connection
        self._wording = wording

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, for statements that only read.

        Raises:
            StoreError: the connection is closed, or a statement failed.
        """
        with self.lock:
            connection = self._open()
            try:
                yield connection
            except sqlite3.Error as error:
                raise StoreError(f"{self._wording.reading}: {error}") from error

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, holding the write lock from its start (IMMEDIATE).

        It commits when the block ends and rolls back when the block raises
        anything at all.

        Raises:
            StoreError: the connection is closed, or a statement failed.
        """
        with self.lock:
            connection = self._open()
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield connection
                connection.execute("COMMIT")
            except BaseException as error:
                if connection.in_transaction:
                    try:
                        connection.execute("ROLLBACK")
                    except sqlite3.Error as failed:  # the original error matters
                        log.warning("ROLLBACK failed: %s", failed)
                if isinstance(error, sqlite3.Error):
                    raise StoreError(f"{self._wording.writing}: {error}") from error
                raise

    def close(self, *, optimize: bool = False) -> None:
        """Close the connection (again is fine).

        Args:
            optimize: run `PRAGMA optimize` first, as SQLite advises for a
                connection that wrote before it closes (fresh statistics for
                the query planner).
        """
        with self.lock:
            if self.connection is None:
                return
            if optimize:
                try:
                    self.connection.execute("PRAGMA optimize")
                except sqlite3.Error as error:
                    log.warning("PRAGMA optimize failed: %s", error)
            self.connection.close()
            self.connection = None

    def _open(self) -> sqlite3.Connection:
        if self.connection is None:
            raise StoreError(self._wording.closed)
        return self.connection


class SqliteFile(abc.ABC):
    """A store in the server's SQLite file: `in_data_dir`, `close`, `with`."""

    path: Path
    """The database file."""

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Self:
        """Open (or create) `chinwag.sqlite3` in the server's data directory."""
        return cls(data_dir / DATABASE_FILE_NAME)

    @abc.abstractmethod
    def __init__(self, path: Path) -> None: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Close the store's connections (again is fine); later calls raise."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
