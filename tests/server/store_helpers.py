"""Helpers for the tests of `server.store` over a real SQLite file: the file
and an open store as fixtures, accounts and messages to put in it, a plain
look at the file, threads at once, and what every store does on opening.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from protocol import nick_key, room_key
from server.store import (
    DATABASE_FILE_NAME,
    LATEST_VERSION,
    Migration,
    Role,
    SchemaTooNew,
    SqliteStore,
    StoredMessage,
    StoreError,
    account_party,
)
from server.store.connection import SqliteFile

WAIT = 10.0
"""Seconds a test waits for its threads."""

S = TypeVar("S", bound=SqliteFile)


def store_fixtures(open_store: Callable[[Path], S]):
    """The `db_path` and `store` fixtures of one store's tests.

    Every store shares one file with the others, so each store's tests want
    the same two things: where that file goes (a `data` folder that does not
    exist yet, as on a first start) and a store of their own kind open on it,
    closed after the test. Fixtures in a helper module only take effect once
    the test module holds them, hence a factory whose result the module keeps:
    `_db_path, _store = store_fixtures(SqliteRoomStore)`.
    """

    @pytest.fixture(name="db_path")
    def _db_path(tmp_path: Path) -> Path:
        return tmp_path / "data" / DATABASE_FILE_NAME

    @pytest.fixture(name="store")
    def _store(db_path: Path) -> Iterator[S]:
        store = open_store(db_path)
        yield store
        store.close()

    return _db_path, _store


def add_account(accounts: SqliteStore, name: str) -> None:
    """An ordinary account named `name`, keyed by its case-folded name (the
    nick key of a plain ASCII name), with a stand-in hash: the store keeps
    the hash as text and never checks it.
    """
    accounts.create_account(
        name=name,
        name_key=name.casefold(),
        password_hash="$argon2id$fake",
        role=Role.USER,
        created_at=1.0,
    )


def msg(
    message_id: int,
    text: str = "hello",
    *,
    sender: str = "ann",
    to: str | None = None,
    room: str | None = None,
    txn: bytes | None = None,
    offline: bool = False,
    at: int | None = None,
) -> StoredMessage:
    """A message from `sender` to the lobby, to the nick `to` or to the room
    named `room` (`#Rust`), as the hub stores it; parties from the nick keys.
    """
    return StoredMessage(
        id=message_id,
        timestamp_ms=message_id * 1000 if at is None else at,
        sender=sender,
        sender_party=account_party(nick_key(sender)),
        target=to if room is None else room,
        target_party=None if to is None else account_party(nick_key(to)),
        room=None if room is None else room_key(room),
        text=text,
        txn=txn,
        offline=offline,
    )


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


def check_an_older_accounts_file_gains_the_store(
    open_store: Callable[[Path], S],
    path: Path,
    steps: tuple[Migration, ...],
    *,
    write: Callable[[S], object],
    read: Callable[[S], object],
    expected: object,
) -> None:
    """A file from a server that stopped at `steps`, holding the account Ann,
    is stepped on when `open_store` opens it: what `write` put there `read`
    gives back (`expected`) after a reopen, and the accounts are kept.
    """
    with SqliteStore(path, steps=steps) as old:
        add_account(old, "Ann")
    with open_store(path) as store:
        write(store)
    with SqliteStore(path) as accounts, open_store(path) as store:
        assert accounts.version == LATEST_VERSION
        assert accounts.account_by_key("ann") is not None
        assert read(store) == expected


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
