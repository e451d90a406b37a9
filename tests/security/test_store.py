"""server/store: a real SQLite file, its schema steps, and several threads at once."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.store import (
    LATEST_VERSION,
    MIGRATIONS,
    InviteUnusable,
    Migration,
    NameTaken,
    Role,
    SchemaTooNew,
    SqliteStore,
    StoreError,
)
from tests.server.store_helpers import (
    check_a_closed_store_refuses,
    check_a_failed_read_is_a_store_error,
    check_a_non_database_is_refused_and_kept,
    raw,
)


def _hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _fake_hash(name: str) -> str:
    return f"$argon2id$fake${name}"


def _add(store: SqliteStore, name: str, at: float = 100.0, **extra):
    return store.create_account(
        name=name,
        name_key=name.lower(),
        password_hash=_fake_hash(name),
        role=Role.USER,
        created_at=at,
        **extra,
    )


def _add_many(store: SqliteStore, tag: str, count: int) -> None:
    for i in range(count):
        _add(store, f"{tag}{i}")


def test_a_new_file_is_private_wal_and_at_the_latest_step(store, db_path):
    assert store.version == LATEST_VERSION == len(MIGRATIONS)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert raw(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    connection = store._db.connection
    assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
    tables = {
        row[0]
        for row in raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {"accounts", "tokens", "invites", "bans"} <= tables


def test_everything_survives_close_and_reopen(db_path):
    with SqliteStore(db_path) as store:
        bob = _add(store, "Bob")
        store.add_token(
            account_id=bob.id, token_hash=_hash("t1"), created_at=5.0, label="laptop"
        )
        store.add_invite(
            code_hash=_hash("inv"), created_by=bob.id, created_at=6.0, expires_at=99.0
        )
        ban = store.add_ban(
            account_id=None,
            address="192.0.2.1",
            reason="spam",
            created_at=7.0,
            until=None,
        )
        store.set_role(bob.id, Role.ADMIN)
    with SqliteStore(db_path) as store:
        again = store.account_by_key("bob")
        assert again is not None
        assert (again.id, again.name, again.role, again.created_at) == (
            bob.id,
            "Bob",
            Role.ADMIN,
            100.0,
        )
        assert again.password_hash == _fake_hash("Bob")
        (token,) = store.tokens_of(bob.id)
        assert (token.label, token.created_at, token.last_used) == ("laptop", 5.0, 5.0)
        invite = store.invite(_hash("inv"))
        assert invite is not None
        assert (invite.created_by, invite.used_by, invite.expires_at) == (
            bob.id,
            None,
            99.0,
        )
        assert store.active_ban(account_id=None, address="192.0.2.1", now=8.0) == ban
        assert store.count_accounts() == 1


def test_migrating_from_an_empty_file(tmp_path):
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()  # exists, no schema: version 0
    assert raw(path, "PRAGMA user_version") == [(0,)]
    with SqliteStore(path) as store:
        assert store.version == LATEST_VERSION


def test_migrating_from_the_step_before(tmp_path):
    path = tmp_path / "old.sqlite3"
    with SqliteStore(path, steps=MIGRATIONS[:-1]) as old:
        assert old.version == LATEST_VERSION - 1
        bob = _add(old, "Bob")
        old.add_token(
            account_id=bob.id, token_hash=_hash("t"), created_at=1.0, label=""
        )
    with SqliteStore(path) as store:
        assert store.version == LATEST_VERSION
        assert store.account_by_id(bob.id) is not None
        assert len(store.tokens_of(bob.id)) == 1
        # the last step's tables work on the upgraded file
        store.add_invite(
            code_hash=_hash("i"), created_by=bob.id, created_at=1.0, expires_at=9.0
        )
        store.add_ban(
            account_id=bob.id, address=None, reason="", created_at=1.0, until=None
        )


LATER = Migration(
    LATEST_VERSION + 1,
    "a later step",
    (
        "CREATE TABLE later (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT",
        "INSERT INTO later (name) VALUES ('first')",
    ),
)


def test_adding_a_step_is_appending_one(db_path):
    with SqliteStore(db_path) as store:
        _add(store, "Bob")
    with SqliteStore(db_path, steps=(*MIGRATIONS, LATER)) as store:
        assert store.version == LATEST_VERSION + 1
        assert store.account_by_key("bob") is not None
    assert raw(db_path, "SELECT name FROM later") == [("first",)]
    with pytest.raises(SchemaTooNew, match="newer than this server"):
        SqliteStore(db_path)


def test_a_failing_step_leaves_the_file_at_the_step_before(db_path):
    SqliteStore(db_path).close()
    broken = Migration(
        LATEST_VERSION + 1,
        "broken",
        (
            "CREATE TABLE half (a INTEGER) STRICT",
            "INSERT INTO no_such_table VALUES (1)",
        ),
    )
    with pytest.raises(
        StoreError, match=rf"schema step {LATEST_VERSION + 1} \(broken\) failed"
    ):
        SqliteStore(db_path, steps=(*MIGRATIONS, broken))
    assert raw(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name = 'half'") == []
    with SqliteStore(db_path) as store:  # still perfectly usable
        assert store.version == LATEST_VERSION


def test_steps_must_be_numbered_in_order(tmp_path):
    with pytest.raises(ValueError, match="numbered"):
        SqliteStore(tmp_path / "x.sqlite3", steps=(MIGRATIONS[1],))


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path):
    check_a_non_database_is_refused_and_kept(SqliteStore, tmp_path / "chinwag.sqlite3")


def test_a_failed_read_is_a_store_error(store, db_path):
    check_a_failed_read_is_a_store_error(
        db_path, "accounts", store.count_accounts, "database read failed"
    )


def test_a_closed_store_says_so(db_path):
    store = SqliteStore(db_path)
    check_a_closed_store_refuses(
        store, store.count_accounts, lambda: _add(store, "Bob")
    )


def test_names_are_unique_by_key(store):
    _add(store, "Bob")
    with pytest.raises(NameTaken):
        store.create_account(
            name="BOB",
            name_key="bob",
            password_hash=_fake_hash("BOB"),
            role=Role.USER,
            created_at=1.0,
        )
    assert store.count_accounts() == 1


def test_foreign_keys_are_enforced(store):
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_token(account_id=999, token_hash=_hash("t"), created_at=1.0, label="")


def test_an_invite_is_spent_with_the_account_in_one_transaction(store):
    store.add_invite(
        code_hash=_hash("code"), created_by=None, created_at=0.0, expires_at=50.0
    )
    with pytest.raises(InviteUnusable):
        _add(store, "late", at=50.0, invite_hash=_hash("code"))  # expired at 50
    with pytest.raises(InviteUnusable):
        _add(store, "stranger", at=1.0, invite_hash=_hash("unknown"))
    assert store.count_accounts() == 0

    alice = _add(store, "alice", at=10.0, invite_hash=_hash("code"))
    invite = store.invite(_hash("code"))
    assert invite is not None
    assert invite.used_by == alice.id
    with pytest.raises(InviteUnusable):
        _add(store, "carol", at=11.0, invite_hash=_hash("code"))
    assert store.count_accounts() == 1

    store.add_invite(
        code_hash=_hash("c2"), created_by=None, created_at=0.0, expires_at=50.0
    )
    with pytest.raises(NameTaken):  # the name fails: the invite stays unspent
        _add(store, "alice", at=12.0, invite_hash=_hash("c2"))
    assert store.invite(_hash("c2")).used_by is None


def test_password_hash_compare_and_set(store):
    bob = _add(store, "bob")
    new, newer = _fake_hash("new"), _fake_hash("newer")
    assert not store.set_password_hash(bob.id, new, expected=_fake_hash("other"))
    assert store.set_password_hash(bob.id, new, expected=bob.password_hash)
    assert store.account_by_id(bob.id).password_hash == new
    assert store.set_password_hash(bob.id, newer)
    assert store.account_by_id(bob.id).password_hash == newer
    assert not store.set_password_hash(999, "x")


def test_tokens(store):
    bob = _add(store, "bob")
    for name in ("a", "b", "c"):
        store.add_token(
            account_id=bob.id, token_hash=_hash(name), created_at=1.0, label=name
        )
    store.touch_token(_hash("a"), 9.0)
    store.touch_token(_hash("a"), 5.0)  # never goes back
    assert store.token(_hash("a")).last_used == 9.0
    assert store.token(_hash("zz")) is None
    assert store.delete_tokens(bob.id, keep=_hash("b")) == 2
    assert [t.label for t in store.tokens_of(bob.id)] == ["b"]
    assert store.delete_token(_hash("b"))
    assert not store.delete_token(_hash("b"))
    with pytest.raises(StoreError):  # a token hash is 32 bytes
        store.add_token(
            account_id=bob.id, token_hash=b"short", created_at=1.0, label=""
        )


def test_bans(store):
    bob = _add(store, "bob")
    assert store.active_ban(account_id=bob.id, address="192.0.2.9", now=0.0) is None
    short = store.add_ban(
        account_id=bob.id, address=None, reason="a", created_at=0.0, until=10.0
    )
    assert store.active_ban(account_id=bob.id, address=None, now=5.0) == short
    assert store.active_ban(account_id=bob.id, address=None, now=10.0) is None
    forever = store.add_ban(
        account_id=None, address="192.0.2.9", reason="b", created_at=0.0, until=None
    )
    assert store.active_ban(account_id=bob.id, address="192.0.2.9", now=5.0) == forever
    assert store.active_ban(account_id=None, address="192.0.2.10", now=5.0) is None
    assert store.delete_ban(forever.id)
    assert store.active_ban(account_id=None, address="192.0.2.9", now=5.0) is None
    store.add_ban(
        account_id=bob.id, address=None, reason="c", created_at=0.0, until=None
    )
    store.add_ban(
        account_id=None, address="192.0.2.9", reason="d", created_at=0.0, until=None
    )
    assert store.delete_bans(account_id=bob.id, address="192.0.2.9") == 3  # `short` too
    assert store.delete_bans(account_id=bob.id, address=None) == 0
    with pytest.raises(ValueError, match="account, an address"):
        store.add_ban(
            account_id=None, address=None, reason="", created_at=0.0, until=None
        )


def test_many_threads_share_one_store(store):
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)

    def work(worker: int) -> int:
        start.wait(timeout=10)
        for i in range(per_thread):
            account = _add(store, f"user{worker}x{i}")
            store.add_token(
                account_id=account.id,
                token_hash=_hash(f"{worker}/{i}"),
                created_at=float(i),
                label="",
            )
            assert store.account_by_key(f"user{worker}x{i}").id == account.id
            store.count_accounts()
        return worker

    with ThreadPoolExecutor(threads) as pool:
        assert sorted(pool.map(work, range(threads), timeout=60)) == list(
            range(threads)
        )
    assert store.count_accounts() == threads * per_thread
    assert raw(store.path, "PRAGMA integrity_check") == [("ok",)]


def test_two_stores_on_one_file_wait_for_each_other(db_path):
    """Like two server processes on one data directory: the busy timeout serialises writers."""
    first = SqliteStore(db_path)
    second = SqliteStore(db_path)
    try:
        with ThreadPoolExecutor(2) as pool:
            jobs = [
                pool.submit(_add_many, store, tag, 40)
                for store, tag in ((first, "a"), (second, "b"))
            ]
            for job in jobs:
                job.result(timeout=60)
        assert first.count_accounts() == second.count_accounts() == 80
    finally:
        first.close()
        second.close()
