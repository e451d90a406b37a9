"""Helpers for the tests of `server.store` over a real SQLite file: a plain
look at the file, threads at once, and what every store does on opening.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from server.store import LATEST_VERSION, SchemaTooNew, StoreError
from server.store.connection import SqliteFile

WAIT = 10.0
"""Seconds a test waits for its threads."""


def raw(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Look at the file through a separate, plain connection."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def run_all(*targets: Callable[[], object]) -> list[BaseException]:
    """Run each target on its own thread at once; the exceptions they raised."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], object]) -> None:
        try:
            target()
        except BaseException as error:  # reported to the test
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def check_a_newer_file_is_refused(
    open_store: Callable[[Path], SqliteFile], path: Path
) -> None:
    """A file a newer server stepped further is `SchemaTooNew`, not touched."""
    open_store(path).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    connection.close()
    with pytest.raises(SchemaTooNew):
        open_store(path)
    assert raw(path, "PRAGMA user_version") == [(LATEST_VERSION + 1,)]


def check_a_non_database_is_refused_and_kept(
    open_store: Callable[[Path], SqliteFile], path: Path
) -> None:
    """A file that is not SQLite is a clear `StoreError`, and left as it was."""
    junk = b"not sqlite at all" * 100
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junk)
    with pytest.raises(StoreError, match="cannot use the database"):
        open_store(path)
    assert path.read_bytes() == junk


def check_a_failed_read_is_a_store_error(
    path: Path, table: str, read: Callable[[], object], says: str
) -> None:
    """A read that SQLite fails (its table renamed away meanwhile) raises a
    `StoreError` that `says` so, caused by the `sqlite3` error; once the
    table is back the same read works (the lock was let go).
    """
    raw(path, f"ALTER TABLE {table} RENAME TO gone_for_a_moment")
    try:
        with pytest.raises(StoreError, match=says) as caught:
            read()
    finally:
        raw(path, f"ALTER TABLE gone_for_a_moment RENAME TO {table}")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    read()


def check_a_closed_store_refuses(
    store: SqliteFile, *uses: Callable[[], object]
) -> None:
    """Closing twice is fine; then each of `uses` raises a `StoreError` that
    says the store is closed.
    """
    store.close()
    store.close()
    for use in uses:
        with pytest.raises(StoreError, match="closed"):
            use()
