"""server/store/messages.py: stored history over a real SQLite file (issues 14, 15)."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import sqlite3
import stat
import string
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import LOBBY, nick_key, room_key
from server.store import (
    DATABASE_FILE_NAME,
    LATEST_VERSION,
    MIGRATIONS,
    SqliteMessageStore,
    SqliteStore,
    StoredMessage,
    StoreError,
    TxnTaken,
    account_party,
)
from server.store import messages as messages_module
from tests.server.store_helpers import (
    WAIT,
    add_account,
    check_a_closed_store_refuses,
    check_a_failed_read_is_a_store_error,
    check_a_newer_file_is_refused,
    check_a_non_database_is_refused_and_kept,
    check_an_older_accounts_file_gains_the_store,
    msg,
    raw,
    run_all,
    store_fixtures,
)

ANN, BOB, CAT, DAN = (account_party(name) for name in ("ann", "bob", "cat", "dan"))

_db_path, _store = store_fixtures(SqliteMessageStore)


@contextlib.contextmanager
def _scratch_store() -> Iterator[SqliteMessageStore]:
    """A store in a directory of its own without durability (an fsync per
    commit), for the tests of queries over many messages.
    """
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteMessageStore(Path(directory) / DATABASE_FILE_NAME)
        store._writer.connection.execute("PRAGMA synchronous = OFF")
        try:
            yield store
        finally:
            store.close()


def ids(messages: list[StoredMessage]) -> list[int]:
    return [message.id for message in messages]


def fts_consistent(path: Path) -> None:
    """FTS5's own check that the index matches the messages table."""
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        )
    finally:
        connection.close()


def lobby(count: int, start: int = 1) -> list[StoredMessage]:
    return [msg(i, f"line {i}") for i in range(start, start + count)]


# --- opening ---------------------------------------------------------------------


def test_a_new_file_is_private_at_the_latest_step_and_durable(store, db_path):
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert raw(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    # FULL (2): a confirmed message survives a power cut, not only a crash.
    assert store._writer.connection.execute("PRAGMA synchronous").fetchone() == (2,)
    for reader in (store._reader, store._searcher):
        assert reader.connection.execute("PRAGMA query_only").fetchone() == (1,)
    assert store.last_id() == 0
    assert store.page(ANN, before=100, after=0, limit=10) == ([], False)


def test_an_accounts_file_from_step_2_gains_messages(db_path):
    check_an_older_accounts_file_gains_the_store(
        SqliteMessageStore,
        db_path,
        MIGRATIONS[:2],
        write=lambda store: store.append([msg(1)]),
        read=lambda store: ids(store.page(ANN, before=9, after=0, limit=9)[0]),
        expected=[1],
    )


def test_accounts_and_messages_share_the_file_at_the_same_time(db_path):
    with SqliteStore(db_path) as accounts, SqliteMessageStore(db_path) as store:
        for i in range(1, 21):
            store.append([msg(i)])
            add_account(accounts, f"u{i}")
        assert accounts.count_accounts() == 20
        assert store.last_id() == 20


def test_a_file_from_a_newer_server_is_refused(db_path):
    check_a_newer_file_is_refused(SqliteMessageStore, db_path)


def test_a_file_that_is_not_a_database_is_refused_and_kept(db_path):
    check_a_non_database_is_refused_and_kept(SqliteMessageStore, db_path)


def test_a_failed_read_is_a_store_error(store, db_path):
    store.append([msg(1)])
    check_a_failed_read_is_a_store_error(
        db_path, "messages", store.last_id, "reading messages failed"
    )


def test_a_closed_store_raises_store_error(db_path):
    store = SqliteMessageStore(db_path)
    check_a_closed_store_refuses(
        store,
        store.last_id,
        lambda: store.append([msg(1)]),
        lambda: store.backup(db_path.parent / "copy"),
    )


# --- append and by_txn -----------------------------------------------------------


def test_append_then_read_back_by_txn(store):
    txn = os.urandom(16)
    sent = [msg(1, "to all", txn=txn), msg(2, "psst", to="bob", offline=True)]
    store.append(sent)
    assert store.by_txn(txn) == sent[0]
    assert store.by_txn(os.urandom(16)) is None
    assert store.last_id() == 2
    assert store.page(BOB, before=3, after=0, limit=5) == (sent, False)


def test_text_and_txn_never_reach_a_repr():
    secret = StoredMessage(
        id=1,
        timestamp_ms=5,
        sender="ann",
        sender_party=ANN,
        target="bob",
        target_party=BOB,
        text="the password is swordfish",
        txn=b"\xab" * 16,
    )
    assert "swordfish" not in repr(secret)
    assert "ab" * 4 not in repr(secret)
    assert "\\xab" not in repr(secret)


@pytest.mark.parametrize(
    ("target", "target_party", "offline"),
    [("bob", None, False), (None, BOB, False), (None, None, True)],
)
def test_a_half_addressed_message_is_refused(target, target_party, offline):
    with pytest.raises(ValueError, match=r"target|direct"):
        StoredMessage(
            id=1,
            timestamp_ms=1,
            sender="ann",
            sender_party=ANN,
            target=target,
            target_party=target_party,
            text="x",
            offline=offline,
        )


def test_a_stored_txn_refuses_the_whole_batch(store):
    txn = os.urandom(16)
    store.append([msg(1, txn=txn)])
    with pytest.raises(TxnTaken) as caught:
        store.append([msg(2), msg(3, txn=txn), msg(4)])
    assert caught.value.txn == txn
    assert txn.hex() not in str(caught.value)
    assert store.last_id() == 1
    assert ids(store.page(ANN, before=10, after=0, limit=10)[0]) == [1]
    store.append([msg(2), msg(3, txn=os.urandom(16))])  # the store still works
    assert store.last_id() == 3


def test_a_txn_twice_in_one_batch_is_refused(store):
    txn = os.urandom(16)
    with pytest.raises(TxnTaken):
        store.append([msg(1, txn=txn), msg(2, txn=txn)])
    assert store.last_id() == 0


def test_a_reused_id_is_a_store_error_not_a_txn_error(store):
    store.append([msg(1)])
    with pytest.raises(StoreError, match="UNIQUE") as caught:
        store.append([msg(1, txn=os.urandom(16))])
    assert not isinstance(caught.value, TxnTaken)


def test_a_txn_must_have_16_bytes(store):
    with pytest.raises(StoreError, match="CHECK"):
        store.append([msg(1, txn=b"short")])


def test_an_empty_batch_is_nothing(store):
    store.append([])
    assert store.last_id() == 0


def test_ids_keep_increasing_across_reopen_and_pruning(db_path):
    with SqliteMessageStore(db_path) as store:
        store.append(lobby(5))
    with SqliteMessageStore(db_path) as store:
        assert store.last_id() == 5
        assert store.prune(10**12) == 5
        assert store.last_id() == 5  # pruned, but the ids stay used
    with SqliteMessageStore(db_path) as store:
        assert store.last_id() == 5
        store.append(lobby(2, start=6))
        assert store.last_id() == 7


# --- pages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "limit", "expected", "more"),
    [
        (11, 3, [8, 9, 10], True),
        (8, 3, [5, 6, 7], True),
        (5, 3, [2, 3, 4], True),
        (4, 3, [1, 2, 3], False),  # exactly the last ones: nothing older
        (4, 4, [1, 2, 3], False),
        (11, 10, list(range(1, 11)), False),
        (11, 9, list(range(2, 11)), True),
        (2, 5, [1], False),
        (1, 5, [], False),  # before is exclusive
        (0, 5, [], False),
        (2**64 - 1, 2, [9, 10], True),  # any u64 from the wire
    ],
)
def test_newest_page_below_before(store, before, limit, expected, more):
    store.append(lobby(10))
    page, has_more = store.page(ANN, before=before, after=0, limit=limit)
    assert (ids(page), has_more) == (expected, more)


@pytest.mark.parametrize(
    ("after", "before", "limit", "expected", "more"),
    [
        (3, 11, 3, [4, 5, 6], True),
        (7, 11, 3, [8, 9, 10], False),  # exactly the rest: nothing newer
        (6, 11, 3, [7, 8, 9], True),
        (5, 8, 3, [6, 7], False),  # before bounds the resume too
        (5, 8, 2, [6, 7], False),
        (5, 8, 1, [6], True),
        (10, 11, 3, [], False),
        (9, 10, 3, [], False),
        (2**64 - 1, 2**64 - 1, 3, [], False),
    ],
)
def test_oldest_page_after_after(store, after, before, limit, expected, more):  # noqa: PLR0917
    store.append(lobby(10))
    page, has_more = store.page(ANN, before=before, after=after, limit=limit)
    assert (ids(page), has_more) == (expected, more)


def test_limit_must_be_positive(store):
    with pytest.raises(ValueError, match="limit"):
        store.page(ANN, before=5, after=0, limit=0)
    with pytest.raises(ValueError, match="limit"):
        store.search(ANN, "x", before=0, limit=0)


def _mixed(store) -> None:
    store.append(
        [
            msg(1, "hello everyone"),
            msg(2, "secret for bob", to="bob"),
            msg(3, "secret for ann", sender="bob", to="ann"),
            msg(4, "secret between cat and dan", sender="cat", to="dan"),
            msg(5, "secret note to self", to="ann"),
            msg(6, "goodbye everyone", sender="dan"),
        ]
    )


@pytest.mark.parametrize(
    ("party", "visible"),
    [
        (ANN, [1, 2, 3, 5, 6]),
        (BOB, [1, 2, 3, 6]),
        (CAT, [1, 4, 6]),
        (DAN, [1, 4, 6]),
        (account_party("eve"), [1, 6]),
        ("s:00ff", [1, 6]),
    ],
)
def test_each_party_sees_the_lobby_and_its_own_direct_messages(store, party, visible):
    _mixed(store)
    assert ids(store.page(party, before=100, after=0, limit=50)[0]) == visible
    assert ids(store.page(party, before=100, after=1, limit=50)[0]) == visible[1:]
    secrets = [i for i in visible if i in (2, 3, 4, 5)]  # the texts with "secret"
    assert ids(store.search(party, "secret", before=0, limit=50)[0]) == secrets


def test_pages_match_a_model_of_who_sees_what(store):
    """Random traffic between five parties: every page equals a plain filter."""
    rng = random.Random(14)
    nicks = ["ann", "bob", "cat", "dan", "eve"]
    sent = []
    for i in range(1, 401):
        sender = rng.choice(nicks)
        to = rng.choice([*nicks, None, None]) if rng.random() < 0.6 else None
        sent.append(msg(i, f"m{i}", sender=sender, to=to))
    store.append(sent)
    for _ in range(300):
        party = account_party(rng.choice(nicks))
        after = rng.choice([0, 0, rng.randrange(0, 400)])
        before = rng.randrange(after + 1, 403)
        limit = rng.randrange(1, 60)
        model = [
            m.id
            for m in sent
            if after < m.id < before
            and (m.target_party is None or party in (m.sender_party, m.target_party))
        ]
        expected = model[-limit:] if after == 0 else model[:limit]
        page, more = store.page(party, before=before, after=after, limit=limit)
        assert ids(page) == expected, (party, after, before, limit)
        assert more == (len(model) > limit)


# --- search ----------------------------------------------------------------------


def test_search_needs_every_word_ignores_case_and_accents(store):
    store.append(
        [
            msg(1, "Café au lait, s'il vous plaît"),
            msg(2, "the CAFE is closed"),
            msg(3, "tea only"),
            msg(4, "crème brûlée at the café"),
        ]
    )
    assert ids(store.search(ANN, "cafe", before=0, limit=10)[0]) == [1, 2, 4]
    assert ids(store.search(ANN, "CAFÉ the", before=0, limit=10)[0]) == [2, 4]
    assert ids(store.search(ANN, "brulee creme", before=0, limit=10)[0]) == [4]
    assert ids(store.search(ANN, "cafe tea", before=0, limit=10)[0]) == []


def test_search_pages_backwards_from_before(store):
    store.append([msg(i, f"needle {i}" if i % 2 else "hay") for i in range(1, 11)])
    assert store.search(ANN, "needle", before=0, limit=2)[0] == [
        msg(7, "needle 7"),
        msg(9, "needle 9"),
    ]
    assert store.search(ANN, "needle", before=0, limit=2)[1] is True
    assert ids(store.search(ANN, "needle", before=7, limit=2)[0]) == [3, 5]
    assert store.search(ANN, "needle", before=3, limit=1) == (
        [msg(1, "needle 1")],
        False,
    )
    assert store.search(ANN, "needle", before=4, limit=2) == (
        [msg(1, "needle 1"), msg(3, "needle 3")],
        False,  # exactly the last matches
    )
    assert store.search(ANN, "needle", before=1, limit=2) == ([], False)
    assert ids(store.search(ANN, "needle", before=2**64 - 1, limit=9)[0]) == [
        1,
        3,
        5,
        7,
        9,
    ]


def test_the_last_word_is_also_a_prefix_when_long_enough(store):
    store.append([msg(1, "category theory"), msg(2, "a cat"), msg(3, "catalogue")])
    assert ids(store.search(ANN, "cat", before=0, limit=9)[0]) == [1, 2, 3]
    assert ids(store.search(ANN, "theory cat", before=0, limit=9)[0]) == [1]
    assert ids(store.search(ANN, "cat theory", before=0, limit=9)[0]) == []
    store.append([msg(4, "c"), msg(5, "ca"), msg(6, "cab")])
    assert ids(store.search(ANN, "ca", before=0, limit=9)[0]) == [1, 2, 3, 5, 6]
    # one letter: only the word itself, no merge of every word starting so
    assert ids(store.search(ANN, "c", before=0, limit=9)[0]) == [4]
    # only the last word: earlier ones match whole
    assert ids(store.search(ANN, "cat a", before=0, limit=9)[0]) == [2]


HOSTILE = [
    '"',
    '""',
    '"""',
    'a"b',
    "NEAR(",
    "NEAR(a b)",
    "NEAR(a b, 2)",
    "*",
    "a*",
    "**a",
    "-",
    "-secret",
    ":",
    "text:",
    "text:secret",
    "messages_fts:secret",
    "^",
    "^secret",
    "AND",
    "OR",
    "NOT",
    "a AND b OR NOT c",
    "(",
    ")",
    "(secret)",
    "{text}: secret",
    "+",
    "secret +",
    "\x00",
    "a\x00b",
    "secret\x00",
    "'; DROP TABLE messages; --",
    "💥",
    "日本",
    "ﬁ",
    "e\u0301",
    "\u200b",
    "\u202e",
    "  ",
    "",
    "\t\n\r",
    "x" * 400,
    " ".join(["secret"] * 200),
    "\U0010ffff",
    "\ue000",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(store, query):
    store.append([msg(1, "secret AND NEAR(a b) text:secret ^ -x"), msg(2, "other")])
    found, more = store.search(ANN, query, before=0, limit=10)
    assert more is False
    assert set(ids(found)) <= {1, 2}
    assert raw(store.path, "SELECT count(*) FROM messages") == [(2,)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("AND", [2]),  # a word, not an operator
        ("or", [3]),
        ("NOT", [1, 3, 4]),  # not, NOT and (as a prefix) nothing
        ("NEAR(a", [5]),
        ("near", [5]),
        ("-x", [6]),  # not "without x"
        ("text:secret", [7]),  # not a column filter
        ("text:", [7]),
        ('"hi"', [8]),
        ('he said "hi"', [8]),
        ("*", []),
        ("!!!", []),
        ("", []),
        ("   ", []),
        ("ÜBER", [9]),
        ("日本語のテキスト", [10]),
        ("日本", [10]),  # no word breaks in CJK: the prefix finds it
        ("\ue000", [11]),  # private use characters are letters to the index
    ],
)
def test_words_match_literally(store, query, expected):
    store.append(
        [
            msg(1, "nothing here"),
            msg(2, "this and that"),
            msg(3, "to be or not"),
            msg(4, "knot NOT ok"),
            msg(5, "NEAR(a b)"),
            msg(6, "-x marks"),
            msg(7, "text:secret"),
            msg(8, 'he said "hi" to me'),
            msg(9, "über alles"),
            msg(10, "日本語のテキスト"),
            msg(11, "private \ue000 use"),
        ]
    )
    assert ids(store.search(ANN, query, before=0, limit=20)[0]) == expected


def test_an_empty_or_punctuation_query_finds_nothing(store):
    store.append([msg(1, "!!! ... ???")])
    for query in ("", " ", "!!!", "... ???", "\x00\x01", '"" ""'):
        assert store.search(ANN, query, before=0, limit=5) == ([], False)


def test_match_expression_quotes_every_word():
    expression = messages_module.match_expression('say "NEAR(a b)" -x col:y')
    assert expression == '"say" """NEAR(a" "b)""" "-x" "col:y"'
    assert messages_module.match_expression("hello") == '"hello"*'
    assert messages_module.match_expression("!!! ...") is None


# --- offline direct messages -----------------------------------------------------


def test_take_offline_hands_each_message_out_once(store):
    store.append(
        [
            msg(1, "first while away", to="bob", offline=True),
            msg(2, "for everyone"),
            msg(3, "bob is online for this one", to="bob"),
            msg(4, "for cat", to="cat", offline=True),
            msg(5, "second while away", sender="dan", to="bob", offline=True),
        ]
    )
    taken = store.take_offline(BOB)
    assert ids(taken) == [1, 5]
    assert [m.text for m in taken] == ["first while away", "second while away"]
    assert store.take_offline(BOB) == []
    assert ids(store.take_offline(CAT)) == [4]
    assert store.take_offline(ANN) == []
    # still history, no longer waiting
    page, _ = store.page(BOB, before=9, after=0, limit=9)
    assert ids(page) == [1, 2, 3, 5]
    assert not any(m.offline for m in page)


def test_keeping_and_claiming_mark_a_direct_message_as_waiting_or_not(store):
    store.append(
        [
            msg(1, "taken live", to="bob", offline=True),
            msg(2, "missed", to="bob"),
            msg(3, "for everyone"),
        ]
    )
    assert store.claim_offline(1)
    assert not store.claim_offline(1), "claimed once"
    assert not store.claim_offline(2), "never waited"
    store.keep_offline([2, 3])  # a broadcast cannot wait offline
    assert ids(store.take_offline(BOB)) == [2]
    assert not store.claim_offline(2), "taken at a login"


def test_take_offline_from_many_threads_gives_each_message_once(store):
    store.append([msg(i, f"m{i}", to="bob", offline=True) for i in range(1, 101)])
    results: list[list[int]] = []

    def take() -> None:
        results.append(ids(store.take_offline(BOB)))

    assert run_all(*[take] * 8) == []
    assert sorted(itertools.chain.from_iterable(results)) == list(range(1, 101))
    assert sum(1 for got in results if got) == 1


# --- pruning ---------------------------------------------------------------------


def test_prune_deletes_old_messages_and_their_index_entries(store, db_path):
    store.append([msg(i, f"word{i} common", at=i * 100) for i in range(1, 11)])
    assert store.prune(older_than_ms=501) == 5
    assert ids(store.page(ANN, before=99, after=0, limit=99)[0]) == [6, 7, 8, 9, 10]
    assert ids(store.search(ANN, "common", before=0, limit=99)[0]) == [6, 7, 8, 9, 10]
    assert store.search(ANN, "word3", before=0, limit=9) == ([], False)
    assert raw(
        db_path, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'word3'"
    ) == [(0,)]
    fts_consistent(db_path)
    assert store.prune(older_than_ms=501) == 0
    assert store.prune(older_than_ms=-(2**70)) == 0


def test_prune_works_in_batches(store, db_path, monkeypatch):
    monkeypatch.setattr(messages_module, "PRUNE_BATCH", 7)
    store.append([msg(i, f"text {i}", at=i) for i in range(1, 51)])
    assert store.prune(older_than_ms=36) == 35  # 5 full batches, then a short one
    assert store.prune(older_than_ms=2**70) == 15
    assert store.search(ANN, "text", before=0, limit=9) == ([], False)
    fts_consistent(db_path)


# --- backup ----------------------------------------------------------------------


def test_a_backup_made_while_another_thread_appends_is_consistent(store, tmp_path):
    batch = 10
    stop = threading.Event()
    written = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for n in range(2000):  # bounded: at most 20,000 messages
                if stop.is_set():
                    return
                first = n * batch + 1
                store.append(
                    [msg(i, f"busy word{i}") for i in range(first, first + batch)]
                )
                if n >= 5:
                    written.set()
        except BaseException as error:  # reported to the test below
            errors.append(error)
            written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert written.wait(WAIT)
        copy = tmp_path / "backup.sqlite3"
        store.backup(copy)
    finally:
        stop.set()
        thread.join(WAIT)
    assert not errors
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.sqlite3", "data"]
    assert raw(copy, "PRAGMA integrity_check") == [("ok",)]
    fts_consistent(copy)
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    (restored_dir / DATABASE_FILE_NAME).write_bytes(copy.read_bytes())
    with SqliteMessageStore.in_data_dir(restored_dir) as restored:
        last = restored.last_id()
        assert last >= 6 * batch
        assert last % batch == 0  # whole batches: one transaction each
        everything, more = restored.page(ANN, before=last + 1, after=0, limit=last)
        assert ids(everything) == list(range(1, last + 1))
        assert more is False
        assert ids(restored.search(ANN, f"word{last}", before=0, limit=5)[0]) == [last]
        restored.append([msg(last + 1)])  # and it is a working database


def test_backup_replaces_nothing_on_failure_and_refuses_itself(
    store, db_path, tmp_path
):
    store.append(lobby(3))
    with pytest.raises(StoreError, match="onto itself"):
        store.backup(db_path)
    with pytest.raises(StoreError, match="cannot write the backup"):
        store.backup(tmp_path / "no" / "such" / "dir" / "copy")
    assert ids(store.page(ANN, before=9, after=0, limit=9)[0]) == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_backup_overwrites_an_old_backup_whole(store, tmp_path):
    copy = tmp_path / "copy.sqlite3"
    store.append(lobby(2))
    store.backup(copy)
    store.append(lobby(2, start=3))
    store.backup(copy)
    assert raw(copy, "SELECT max(id) FROM messages") == [(4,)]


# --- export ----------------------------------------------------------------------


def test_export_gives_only_the_senders_messages_in_order(store):
    _mixed(store)
    store.append([msg(7, "later", sender="ann"), msg(8, "not mine", sender="bob")])
    assert ids(store.export(ANN)) == [1, 2, 5, 7]
    assert ids(store.export(BOB)) == [3, 8]
    assert list(store.export(account_party("eve"))) == []


def test_export_streams_in_batches_without_holding_the_store(store, monkeypatch):
    monkeypatch.setattr(messages_module, "EXPORT_BATCH", 3)
    store.append([msg(i, sender="ann" if i % 2 else "bob") for i in range(1, 13)])
    stream = store.export(ANN)
    assert next(stream).id == 1
    # Between batches the reader is free: other threads read and write.
    assert not store._reader.lock.locked()
    store.append([msg(13)])
    assert ids(store.page(BOB, before=99, after=0, limit=2)[0]) == [12, 13]
    assert [m.id for m in stream] == [3, 5, 7, 9, 11, 13]


def test_export_of_an_exact_multiple_of_the_batch(store, monkeypatch):
    monkeypatch.setattr(messages_module, "EXPORT_BATCH", 3)
    store.append(lobby(6))
    assert ids(store.export(ANN)) == [1, 2, 3, 4, 5, 6]


# --- threads ---------------------------------------------------------------------


def test_many_threads_write_and_read_at_once(store):
    writers, batches, batch = 4, 25, 4
    per_writer = batches * batch

    def write(writer: int) -> None:
        # Disjoint id ranges, so the appends really run at the same time.
        for n in range(batches):
            first = writer * per_writer + n * batch + 1
            store.append(
                [
                    msg(i, f"word{i}", txn=os.urandom(16))
                    for i in range(first, first + batch)
                ]
            )

    def read() -> None:
        for _ in range(100):
            page, _ = store.page(ANN, before=2**63, after=0, limit=20)
            assert ids(page) == sorted(ids(page))
            store.search(ANN, "word1", before=0, limit=5)
            store.last_id()

    errors = run_all(*(lambda w=w: write(w) for w in range(writers)), read, read, read)
    assert not errors
    total = writers * per_writer
    assert store.last_id() == total
    everything, more = store.page(ANN, before=total + 1, after=0, limit=total)
    assert ids(everything) == list(range(1, total + 1))
    assert more is False


# --- properties ------------------------------------------------------------------


def test_any_text_and_any_query_are_stored_and_searched_without_error():
    counter = itertools.count(1)
    with _scratch_store() as store:

        @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
        @given(
            texts=st.lists(st.text(max_size=200), min_size=1, max_size=5),
            query=st.text(max_size=400),
        )
        def check(texts: list[str], query: str) -> None:
            batch = [msg(next(counter), text) for text in texts]
            store.append(batch)
            assert store.page(
                ANN,
                before=batch[-1].id + 1,
                after=batch[0].id - 1,
                limit=len(batch),
            ) == (batch, False)
            found, _ = store.search(ANN, query, before=0, limit=50)
            assert ids(found) == sorted(ids(found))

        check()


_WORD = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)


def test_every_word_of_a_message_finds_it():
    counter = itertools.count(1)
    with _scratch_store() as store:

        @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
        @given(
            words=st.lists(_WORD, min_size=1, max_size=8),
            separator=st.sampled_from([" ", ", ", "-", '" "', "(", "*", ":"]),
            data=st.data(),
        )
        def check(words: list[str], separator: str, data: st.DataObject) -> None:
            message = msg(next(counter), separator.join(words))
            store.append([message])
            chosen = data.draw(st.lists(st.sampled_from(words), min_size=1))
            query = " ".join(word.upper() for word in chosen)
            found, _ = store.search(ANN, query, before=message.id + 1, limit=1)
            assert found == [message]

        check()


# --- rooms and conversations (issue 15) ------------------------------------------

RUST, GO = room_key("#Rust"), room_key("#go")


def test_a_room_message_has_a_room_a_target_and_no_target_party():
    message = msg(1, "hi all", sender="Bob", room="#Rust")
    assert (message.room, message.target, message.target_party) == (
        "#rust",
        "#Rust",
        None,
    )
    assert message.sender_key == "bob"
    assert message.target_key is None


def test_the_keys_of_the_nicks_are_derived_unless_given():
    direct = msg(1, sender="Ann", to="B0b")
    assert (direct.sender_key, direct.target_key) == ("ann", nick_key("bob"))
    assert msg(2).target_key is None
    given = StoredMessage(
        id=3,
        timestamp_ms=3,
        sender="Ann",
        sender_party=ANN,
        target="Bob",
        target_party=BOB,
        text="x",
        sender_key="then-ann",
        target_key="then-bob",
    )
    assert (given.sender_key, given.target_key) == ("then-ann", "then-bob")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"room": RUST, "target": None}, "room message"),
        ({"room": RUST, "target": "#Rust", "target_party": BOB}, "room message"),
        ({"room": LOBBY, "target": "#lobby"}, "lobby"),
        ({"room": "rust", "target": "#rust"}, "starts with '#'"),
        ({"room": RUST, "target": "#Rust", "offline": True}, "offline"),
        ({"target_key": "bob"}, "target_key"),
        ({"room": RUST, "target": "#Rust", "target_key": "bob"}, "target_key"),
    ],
)
def test_a_misshapen_room_or_lobby_message_is_refused(fields, match):
    base = {
        "id": 1,
        "timestamp_ms": 1,
        "sender": "ann",
        "sender_party": ANN,
        "target": None,
        "target_party": None,
        "text": "x",
    }
    with pytest.raises(ValueError, match=match):
        StoredMessage(**(base | fields))


def test_room_messages_are_stored_and_read_back_whole(store):
    sent = [
        msg(1, "to #Rust", room="#Rust", txn=os.urandom(16)),
        msg(2, "to bob", to="Bob"),
        msg(3, "to all"),
    ]
    store.append(sent)
    assert store.page(BOB, before=9, after=0, limit=9, rooms=[RUST]) == (sent, False)
    assert store.by_txn(sent[0].txn) == sent[0]
    assert list(store.export(ANN)) == sent


def test_the_file_refuses_a_room_message_with_a_target_party(store, db_path):
    store.append([msg(1)])
    connection = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            connection.execute(
                "INSERT INTO messages (id, timestamp_ms, sender, sender_party,"
                " target, target_party, text, room)"
                " VALUES (2, 2, 'ann', 'a:ann', '#Rust', 'a:bob', 'x', '#rust')"
            )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            connection.execute(
                "INSERT INTO messages (id, timestamp_ms, sender, sender_party,"
                " text, target_key) VALUES (3, 3, 'ann', 'a:ann', 'x', 'bob')"
            )
    finally:
        connection.close()


def _conversations(store) -> None:
    store.append(
        [
            msg(1, "lobby hello everyone"),
            msg(2, "rust hello", room="#Rust"),
            msg(3, "go hello", sender="bob", room="#go"),
            msg(4, "hello bob from ann", to="bob"),
            msg(5, "hello ann from bob", sender="Bob", to="ann"),
            msg(6, "hello cat from ann", to="cat"),
            msg(7, "hello self", to="ann"),
            msg(8, "hello dan from cat", sender="cat", to="dan"),
            msg(9, "rust hello again", sender="cat", room="#RUST"),
            msg(10, "lobby hello bye", sender="dan"),
        ]
    )


@pytest.mark.parametrize(
    ("party", "rooms", "only", "visible"),
    [
        (ANN, [], None, [1, 4, 5, 6, 7, 10]),
        (ANN, [RUST], None, [1, 2, 4, 5, 6, 7, 9, 10]),
        (ANN, [RUST, GO], None, [*range(1, 8), 9, 10]),
        (ANN, {RUST, GO, "#none"}, None, [*range(1, 8), 9, 10]),
        (ANN, [RUST, GO], LOBBY, [1, 10]),
        (ANN, [], LOBBY, [1, 10]),
        (ANN, [RUST, GO], RUST, [2, 9]),
        (ANN, [GO], RUST, []),  # not a member: nothing, even if it asks
        (ANN, [], RUST, []),
        (ANN, [RUST, GO], "#none", []),
        (ANN, [RUST], "@bob", [4, 5]),
        (ANN, [RUST], "@cat", [6]),
        (ANN, [RUST], "@ann", [7]),  # to itself, once
        (ANN, [RUST], "@dan", []),
        (BOB, [GO], None, [1, 3, 4, 5, 10]),
        (BOB, [GO], "@ann", [4, 5]),
        (BOB, [GO], "@cat", []),
        (CAT, [RUST], "@dan", [8]),
        (CAT, [RUST], "@ann", [6]),
        (DAN, [], "@cat", [8]),
        (account_party("eve"), [], None, [1, 10]),
        (account_party("eve"), [RUST], "@ann", []),
    ],
)
def test_page_and_search_narrow_to_what_the_party_may_see(
    store, party, rooms, only, visible
):
    _conversations(store)
    page, more = store.page(party, before=99, after=0, limit=99, rooms=rooms, only=only)
    assert (ids(page), more) == (visible, False)
    page, _ = store.page(party, before=99, after=1, limit=99, rooms=rooms, only=only)
    assert ids(page) == [i for i in visible if i > 1]
    found, more = store.search(
        party, "hello", before=0, limit=99, rooms=rooms, only=only
    )
    assert (ids(found), more) == (visible, False)


def test_a_non_member_never_sees_a_rooms_messages():
    """Whatever it asks for: pages, resumes, searches, every conversation."""
    with _scratch_store() as store:
        rng = random.Random(15)
        sent = [
            msg(
                i,
                f"secret word{i}",
                sender=rng.choice(["ann", "bob", "eve"]),
                room=rng.choice(["#Rust", "#go", "#vault"]),
            )
            for i in range(1, 301)
        ]
        store.append(sent)
        secret = {m.id for m in sent if m.room == "#vault"}
        eve = account_party("eve")  # sent to #vault, left it
        for only in (None, LOBBY, "#vault", RUST, "@ann", "@eve"):
            for rooms in ([], [RUST, GO]):
                for after in (0, 1, 150):
                    page, _ = store.page(
                        eve,
                        before=999,
                        after=after,
                        limit=300,
                        rooms=rooms,
                        only=only,
                    )
                    assert not secret & set(ids(page)), (only, rooms, after)
                for words in ("secret", "sec", "word1", "vault"):
                    found, _ = store.search(
                        eve, words, before=0, limit=300, rooms=rooms, only=only
                    )
                    assert not secret & set(ids(found)), (only, rooms, words)
        # A member does see them, so the test can fail.
        page, _ = store.page(eve, before=999, after=0, limit=300, rooms=["#vault"])
        assert set(ids(page)) == secret


def test_only_and_rooms_must_be_well_formed(store):
    for bad in ("", "#", "@", "bob", "lobby", "*"):
        if bad == "#":
            # A key nobody can be in: no message, no error.
            assert store.page(ANN, before=9, after=0, limit=5, only=bad) == ([], False)
            continue
        with pytest.raises(ValueError, match="only"):
            store.page(ANN, before=9, after=0, limit=5, only=bad)
        with pytest.raises(ValueError, match="only"):
            store.search(ANN, "x", before=0, limit=5, only=bad)
    with pytest.raises(TypeError, match="rooms"):
        store.page(ANN, before=9, after=0, limit=5, rooms=RUST)
    with pytest.raises(TypeError, match="rooms"):
        store.search(ANN, "x", before=0, limit=5, rooms=RUST)


def test_a_page_in_many_rooms_pages_through_all_of_them(store):
    """150 rooms, one message each, interleaved with the lobby: pages of 7
    walk back and forth over exactly the member's messages.
    """
    names = [f"#room{n}" for n in range(150)]
    sent = []
    for n, name in enumerate(names):
        sent.append(msg(2 * n + 1, room=name))
        sent.append(msg(2 * n + 2))
    store.append(sent)
    mine = [room_key(name) for name in names[::2]]  # every other room
    expected = [m.id for m in sent if m.room is None or m.room in mine]
    seen: list[int] = []
    before = 10**6
    while True:
        page, more = store.page(CAT, before=before, after=0, limit=7, rooms=mine)
        seen[:0] = ids(page)
        if not more:
            break
        before = page[0].id
    assert seen == expected
    # Forwards (after == 0 asks for the newest, so start past message 1).
    assert expected[0] == 1
    seen = []
    after = 1
    while True:
        page, more = store.page(
            CAT, before=10**6, after=after, limit=7, rooms=tuple(mine)
        )
        seen += ids(page)
        if not more:
            break
        after = page[-1].id
    assert seen == expected[1:]


def _plans(db: sqlite3.Connection, sql: str, params: dict[str, object]) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]


@pytest.mark.parametrize("only", [None, LOBBY, RUST, "@bob"])
@pytest.mark.parametrize("rooms", [(), (RUST,), tuple(f"#r{n}" for n in range(100))])
@pytest.mark.parametrize("newest", [True, False])
def test_every_page_walks_indexes_never_the_whole_table(store, only, rooms, newest):
    """The structure that keeps a page fast with many rooms and much history
    (measured separately): each arm searches an index, none scans messages.
    """
    store.append([msg(1), msg(2, room="#Rust"), msg(3, to="bob")])
    scope = messages_module._scope(ANN, rooms, only)
    if scope is None:
        assert only == RUST
        assert RUST not in rooms
        return
    arms, params = scope
    params.update(after=0 if newest else 1, before=99, limit=5)
    sql = messages_module._page_query(arms, newest=newest)
    plans = _plans(store._reader.connection, sql, params)
    searches = [plan for plan in plans if plan.startswith("SEARCH messages")]
    assert len(searches) == len(arms)
    for arm, plan in zip(arms, searches, strict=True):
        assert f"USING INDEX {arm.index} " in plan
    assert not [plan for plan in plans if plan.startswith("SCAN messages")]
    store.page(ANN, before=99, after=0, limit=5, rooms=rooms, only=only)


@pytest.mark.parametrize("only", [None, LOBBY, RUST, "@bob"])
def test_a_search_is_driven_by_the_word_index(store, only):
    store.append([msg(1), msg(2, room="#Rust"), msg(3, to="bob")])
    scope = messages_module._scope(ANN, [RUST], only)
    assert scope is not None
    arms, params = scope
    params.update(match='"hello"', before=99, limit=5)
    plans = _plans(
        store._searcher.connection, messages_module._search_query(arms), params
    )
    assert any(plan.startswith("SCAN messages_fts VIRTUAL TABLE") for plan in plans)
    assert "SEARCH m USING INTEGER PRIMARY KEY (rowid=?)" in plans
    full_scans = [
        plan
        for plan in plans
        if plan.split()[:2] in (["SCAN", "m"], ["SCAN", "messages"])
    ]
    assert not full_scans
    if only == "@bob":  # the conversation's ids come from its own indexes
        assert any("USING INDEX messages_dm_sent " in plan for plan in plans)
        assert any("messages_dm_received " in plan for plan in plans)


_NICKS = ["ann", "Bob", "cat", "dan"]
_ROOM_NAMES = ["#Rust", "#go", "#Café"]
_ROOM_KEYS = [room_key(name) for name in _ROOM_NAMES]


def _sees(
    message: StoredMessage, party: str, rooms: set[str], only: str | None
) -> bool:
    """The rule of issue 15, written plainly."""
    lobby = message.room is None and message.target_party is None
    in_room = message.room is not None and message.room in rooms
    direct = message.target_party is not None and party in (
        message.sender_party,
        message.target_party,
    )
    if only is None:
        return lobby or in_room or direct
    if only == LOBBY:
        return lobby
    if only.startswith("#"):
        return in_room and message.room == only
    nick = only[1:]
    return message.target_party is not None and (
        (message.sender_party == party and message.target_key == nick)
        or (message.target_party == party and message.sender_key == nick)
    )


_ROOMS_ST = st.sets(st.sampled_from([*_ROOM_KEYS, "#elsewhere"]))
_ONLY_ST = st.sampled_from(
    [None, LOBBY, *_ROOM_KEYS, "#elsewhere", *(f"@{nick_key(n)}" for n in _NICKS)]
)
_PARTY_ST = st.sampled_from([account_party(nick_key(n)) for n in [*_NICKS, "eve"]])


@st.composite
def _traffic(draw: st.DrawFn) -> list[tuple[str, str | None, str | None, bool]]:
    """(sender, to, room, with the rare word) for each message of a batch."""
    kinds = st.one_of(
        st.tuples(st.sampled_from(_NICKS), st.none(), st.none(), st.booleans()),
        st.tuples(
            st.sampled_from(_NICKS),
            st.none(),
            st.sampled_from(_ROOM_NAMES),
            st.booleans(),
        ),
        st.tuples(
            st.sampled_from(_NICKS),
            st.sampled_from(_NICKS),
            st.none(),
            st.booleans(),
        ),
    )
    return draw(st.lists(kinds, min_size=1, max_size=12))


def test_pages_and_searches_equal_a_plain_filter():
    """Hypothesis sends traffic to the lobby, rooms and nicks, and asks as
    any party, member of any rooms, for any conversation: each page and each
    search equals the filter above. History grows across examples, and the
    model with it.
    """
    counter = itertools.count(1)
    stored: list[StoredMessage] = []
    with _scratch_store() as store:

        @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
        @given(
            traffic=_traffic(),
            party=_PARTY_ST,
            rooms=_ROOMS_ST,
            only=_ONLY_ST,
            limit=st.integers(1, 15),
            # Bounds relative to the newest id: no draw may depend on
            # how much history earlier examples left.
            back=st.integers(0, 60),
            span=st.integers(1, 80),
            word=st.sampled_from(["common", "rare", "comm"]),
        )
        def check(  # noqa: PLR0917 - hypothesis passes them by name
            traffic, party, rooms, only, limit, back, span, word
        ) -> None:
            batch = []
            for sender, to, room, rare in traffic:
                i = next(counter)
                text = f"common {'rare ' if rare else ''}m{i}"
                batch.append(msg(i, text, sender=sender, to=to, room=room))
            store.append(batch)
            stored.extend(batch)
            top = stored[-1].id
            if back % 3 == 0:  # a newest page, `back` below the top
                after, before = 0, max(1, top + 2 - back // 3)
            else:  # a resumed page
                after = max(1, top - back)
                before = after + span
            model = [
                m.id
                for m in stored
                if after < m.id < before and _sees(m, party, rooms, only)
            ]
            page, more = store.page(
                party,
                before=before,
                after=after,
                limit=limit,
                rooms=rooms,
                only=only,
            )
            expected = model[-limit:] if after == 0 else model[:limit]
            assert ids(page) == expected
            assert more == (len(model) > limit)
            model = [
                m.id
                for m in stored
                if m.id < before and word in m.text and _sees(m, party, rooms, only)
            ]
            found, more = store.search(
                party, word, before=before, limit=limit, rooms=rooms, only=only
            )
            assert ids(found) == model[-limit:]
            assert more == (len(model) > limit)

        check()


# --- schema step 4 on a file with history ----------------------------------------


def test_step_4_keeps_history_ids_and_the_index_and_fills_the_keys(db_path):
    with SqliteStore(db_path, steps=MIGRATIONS[:3]):
        pass
    connection = sqlite3.connect(db_path)
    try:
        connection.executemany(
            "INSERT INTO messages (id, timestamp_ms, sender, sender_party, target,"
            " target_party, text, txn, offline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (1, 1000, "Ann", "a:ann", None, None, "hello lobby", None, 0),
                (2, 2000, "B0b", "s:00ff", "Ann", "a:ann", "psst ann", b"t" * 16, 0),
                (3, 3000, "Ann", "a:ann", "Cat", "a:cat", "away cat", None, 1),
                (4, 4000, "Ann", "a:ann", None, None, "pruned later", None, 0),
            ],
        )
        connection.execute("DELETE FROM messages WHERE id = 4")  # pruned
        connection.commit()
    finally:
        connection.close()
    with SqliteMessageStore(db_path) as store:
        assert raw(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
        assert store.last_id() == 4  # the sequence survived the rebuild
        page, _ = store.page(ANN, before=9, after=0, limit=9)
        assert [(m.id, m.sender_key, m.target_key, m.room) for m in page] == [
            (1, "ann", None, None),
            (2, nick_key("B0b"), "ann", None),
            (3, "ann", "cat", None),
        ]
        assert page[1].txn == b"t" * 16
        assert page[2].offline
        assert ids(store.page(ANN, before=9, after=0, limit=9, only="@bob")[0]) == [2]
        assert ids(store.search(ANN, "psst", before=0, limit=9)[0]) == [2]
        assert ids(store.take_offline(account_party("cat"))) == [3]
        fts_consistent(db_path)
        assert raw(db_path, "PRAGMA integrity_check") == [("ok",)]
        assert raw(db_path, "PRAGMA foreign_key_check") == []
        store.append([msg(5, "a room line", room="#Rust")])
        assert store.last_id() == 5
        assert ids(store.search(ANN, "room", before=0, limit=9, rooms=[RUST])[0]) == [5]
    names = {name for (name,) in raw(db_path, "SELECT name FROM sqlite_schema")}
    assert "messages_4" not in names
    assert {
        "messages_fts_insert",
        "messages_fts_delete",
        "messages_fts_update",
        "messages_lobby",
        "messages_by_room",
        "messages_dm_sent",
        "messages_dm_received",
        "messages_to_party",
        "messages_from_party",
        "messages_offline",
        "messages_by_time",
        "rooms",
        "room_members",
        "room_bans",
        "room_invites",
    } <= names
    assert raw(db_path, "SELECT name FROM sqlite_sequence") == [("messages",)]


def test_step_4_on_a_file_whose_history_was_all_pruned(db_path):
    with SqliteStore(db_path, steps=MIGRATIONS[:3]):
        pass
    connection = sqlite3.connect(db_path)
    try:
        connection.execute(
            "INSERT INTO messages (id, timestamp_ms, sender, sender_party, text)"
            " VALUES (7, 1, 'ann', 'a:ann', 'gone')"
        )
        connection.execute("DELETE FROM messages")
        connection.commit()
    finally:
        connection.close()
    with SqliteMessageStore(db_path) as store:
        assert store.last_id() == 7
        assert store.page(ANN, before=99, after=0, limit=9) == ([], False)
