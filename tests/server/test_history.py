"""Stored history on a real server (spec 12.4): Post exactly once, the join
point, pages, search visibility, kept direct messages, restarts."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import cast

import attrs
import pytest

import protocol as p
from server import ChatServer, admin
from server.history import Record, Recorder, Step
from server.hub import Member
from server.precedence import Precedence
from server.store import SqliteMessageStore, StoredMessage
from tests.server.conftest import FAST
from tests.server.helpers import hello_v2, wait_for
from tests.wire import WireClient

HISTORY = (p.CAP_LIMITS, p.CAP_SESSION, p.CAP_HISTORY)
ACCOUNTS = (*HISTORY, p.CAP_ACCOUNTS)


def _txn() -> bytes:
    return os.urandom(p.TXN_BYTES)


@pytest.fixture(name="data_server")
def _data_server(make_server, tmp_path) -> Callable[..., ChatServer]:
    def make(**overrides) -> ChatServer:
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("cheap_hashing", True)
        return make_server(**overrides)

    return make


_open: list[WireClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _open:
        _open.pop().close()


def _client(server: ChatServer) -> WireClient:
    client = WireClient(server.address)
    _open.append(client)
    return client


def _join(server: ChatServer, nick: str, caps=HISTORY, **kwargs) -> WireClient:
    client = _client(server)
    events = hello_v2(client, nick, caps, **kwargs)
    assert isinstance(events[0], p.Welcome), events
    if p.CAP_HISTORY in caps:
        assert p.CAP_HISTORY in events[0].capabilities
    return client


def _own(client: WireClient, ref: int) -> p.Delivered:
    while True:
        event = client.expect(p.Delivered, skip=(p.UserJoined, p.UserLeft))
        if event.ref == ref:
            return event


def _fetch(client: WireClient, **fields) -> tuple[list[p.Recalled], p.HistoryEnd]:
    ref = fields.setdefault("ref", 77)
    client.send(p.FetchHistory(**fields))
    return _answer(client, ref)


def _answer(client: WireClient, ref: int) -> tuple[list[p.Recalled], p.HistoryEnd]:
    recalled: list[p.Recalled] = []
    while True:
        event = client.next()
        if isinstance(event, p.Recalled) and event.ref == ref:
            recalled.append(event)
        elif isinstance(event, p.HistoryEnd) and event.ref == ref:
            assert event.count == len(recalled)
            return recalled, event


def test_a_post_reaches_everyone_once_and_a_repeat_only_confirms(data_server):
    server = data_server()
    ann = _join(server, "ann")
    bob = _client(server)
    bob.hello("bob", version=1)  # a version 1 client notices nothing
    txn = _txn()
    ann.send(p.Post(ref=1, txn=txn, text="hello"))
    first = _own(ann, 1)
    seen = bob.expect(p.Delivered, skip=(p.UserJoined,))
    assert (seen.id, seen.text, seen.ref) == (first.id, "hello", 0)
    # The same txn again, as after a drop: the original comes back, once.
    ann.send(p.Post(ref=2, txn=txn, text="hello"))
    again = _own(ann, 2)
    assert again.id == first.id
    assert again.timestamp_ms == first.timestamp_ms
    assert not [e for e in bob.drain(0.3) if isinstance(e, p.Delivered)]


def test_a_repeat_on_a_new_connection_and_after_a_restart(data_server):
    server = data_server()
    ann = _join(server, "ann")
    txn = _txn()
    ann.send(p.Post(ref=1, txn=txn, text="once"))
    first = _own(ann, 1)
    ann.close()
    server.stop()
    server = data_server()
    ann = _join(server, "ann")
    ann.send(p.Post(ref=5, txn=txn, text="once"))
    again = _own(ann, 5)
    assert again.id == first.id
    ann.send(p.Post(ref=6, txn=_txn(), text="later"))
    assert _own(ann, 6).id > first.id  # ids go on increasing over restarts
    recalled, end = _fetch(ann, limit=100)
    # Only what was published before this connection joined: one message.
    assert [r.text for r in recalled] == ["once"]
    assert not end.more


def test_fetch_stops_at_the_join_point_and_pages_back(data_server):
    server = data_server()
    ann = _join(server, "ann")
    ids = []
    for ref in range(1, 8):
        ann.send(p.Post(ref=ref, txn=_txn(), text=f"m{ref}"))
        ids.append(_own(ann, ref).id)
    bob = _join(server, "bob")
    ann.send(p.Post(ref=50, txn=_txn(), text="live"))
    live = bob.expect(p.Delivered, skip=(p.UserJoined,))
    assert live.text == "live"
    page, end = _fetch(bob, limit=3)
    assert [r.id for r in page] == ids[-3:]
    assert end.more
    older, end = _fetch(bob, ref=78, before=page[0].id, limit=10)
    assert [r.id for r in older] == ids[:-3]
    assert not end.more
    caught_up, end = _fetch(bob, ref=79, after=ids[1], limit=2)
    assert [r.id for r in caught_up] == ids[2:4]
    assert end.more
    rest, end = _fetch(bob, ref=80, after=ids[3], limit=500)
    assert [r.id for r in rest] == ids[4:]  # never past the join point
    assert not end.more


def test_direct_messages_are_seen_only_by_their_two_parties(data_server):
    server = data_server()
    ann, bob, eve = (_join(server, n) for n in ("ann", "bob", "eve"))
    ann.send(p.Post(ref=1, txn=_txn(), target="bob", text="secret lunch plan"))
    _own(ann, 1)
    ann.send(p.Post(ref=2, txn=_txn(), text="public lunch plan"))
    _own(ann, 2)
    for client, expected in ((bob, 2), (eve, 1), (ann, 2)):
        client.drain(0.2)
        client.send(p.Search(ref=9, query="lunch", limit=50))
        found, _ = _answer(client, 9)
        assert len(found) == expected, (client.nick, found)


def test_search_takes_words_not_syntax(data_server):
    server = data_server()
    ann = _join(server, "ann")
    ann.send(p.Post(ref=1, txn=_txn(), text='he said "NEAR(a b)" -x * OR'))
    _own(ann, 1)
    for query in ['"NEAR(a', "-x", "*", "OR", 'said "', "^", ":", "AND NOT"]:
        ann.send(p.Search(ref=3, query=query, limit=5))
        _answer(ann, 3)  # an answer, never an error or a closed connection


def test_a_direct_message_waits_for_an_offline_account(data_server):
    server = data_server()
    bob = _join(server, "bob", ACCOUNTS)
    bob.send(p.Register(ref=1, password="correct horse"))
    bob.expect(p.AccountStatus)
    bob.close()
    # Offline means the server has seen bob go (a message that reaches a
    # connection still closing is delivered to it, not kept).
    assert wait_for(lambda: server.hub.member("bob") is None)
    ann = _join(server, "ann")
    ann.send(p.Post(ref=1, txn=_txn(), target="bob", text="while you were out"))
    kept = _own(ann, 1)
    assert kept.target == "bob"
    bob = _client(server)
    events = hello_v2(bob, "bob", ACCOUNTS, password="correct horse")
    assert isinstance(events[0], p.Welcome)
    bob.expect(p.AccountStatus)
    recalled, end = _answer(bob, 0)
    assert [(r.id, r.text) for r in recalled] == [(kept.id, "while you were out")]
    assert end.count == 1
    bob.close()
    assert wait_for(lambda: server.hub.member("bob") is None)
    # Given once: the next login finds nothing kept.
    bob = _client(server)
    hello_v2(bob, "bob", ACCOUNTS, password="correct horse")
    bob.expect(p.AccountStatus)
    recalled, end = _answer(bob, 0)
    assert recalled == []


def test_a_guest_cannot_message_an_unknown_nick(data_server):
    server = data_server()
    ann = _join(server, "ann")
    ann.send(p.Post(ref=4, txn=_txn(), target="nobody", text="hi"))
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.UNKNOWN_USER, 4)


def test_history_needs_the_capability(data_server):
    server = data_server()
    ann = _join(server, "ann", (p.CAP_LIMITS, p.CAP_SESSION))
    ann.send(p.FetchHistory(ref=3))
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.UNKNOWN_MESSAGE_TYPE, 3)


def test_no_history_server_offers_none(data_server):
    server = data_server(history=False)
    client = _client(server)
    events = hello_v2(client, "ann", HISTORY)
    assert p.CAP_HISTORY not in events[0].capabilities


def test_replies_keep_their_order_behind_stored_messages(data_server):
    server = data_server()
    ann = _join(server, "ann")
    ann.send(p.Post(ref=1, txn=_txn(), text="first"))
    ann.send(p.Post(ref=2, txn=_txn(), target="nobody", text="x"))
    ann.send(p.Ping(payload=b"after"))
    order: list[str] = []
    while len(order) < 3:
        event = ann.next()
        if isinstance(event, p.Delivered | p.Error | p.Pong):
            order.append(type(event).__name__)
    assert order == ["Delivered", "Error", "Pong"]


def test_retention_prunes_old_messages_at_start(data_server, tmp_path):
    data_dir = tmp_path / "data"
    server = data_server()  # creates and migrates the database
    server.stop()
    day_ms = 86_400_000
    now_ms = 1_800_000_000_000
    with SqliteMessageStore.in_data_dir(data_dir) as store:
        store.append(
            [
                StoredMessage(
                    id=n,
                    timestamp_ms=now_ms - age_days * day_ms,
                    sender="old",
                    sender_party="s:00",
                    target=None,
                    target_party=None,
                    text=f"{age_days} days old",
                )
                for n, age_days in enumerate((40, 20, 1), start=1)
            ]
        )
    server = ChatServer(
        attrs.evolve(FAST, data_dir=data_dir, retention_days=30),
        wall_clock=lambda: now_ms / 1000,
    )
    server.start()
    try:
        ann = _join(server, "ann")
        recalled, _ = _fetch(ann, limit=100)
        assert [r.text for r in recalled] == ["20 days old", "1 days old"]
    finally:
        server.stop()


def test_a_backup_taken_while_running_restores_into_a_working_server(
    data_server, tmp_path
):
    server = data_server(rate_burst=100)
    ann = _join(server, "ann")
    for ref in range(1, 31):
        ann.send(p.Post(ref=ref, txn=_txn(), text=f"kept {ref}"))
    copy = tmp_path / "backup.sqlite3"
    assert admin.main(["--data-dir", str(tmp_path / "data"), "backup", str(copy)]) == 0
    last = _own(ann, 30)
    server.stop()
    restored = tmp_path / "restored"
    restored.mkdir()
    copy.rename(restored / "chinwag.sqlite3")
    server = data_server(data_dir=restored)
    bob = _join(server, "bob")
    recalled, _ = _fetch(bob, limit=100)
    texts = [r.text for r in recalled]
    # A consistent copy: a prefix of what was said, nothing torn.
    assert texts == [f"kept {n}" for n in range(1, len(texts) + 1)]
    bob.send(p.Post(ref=1, txn=_txn(), text="after the restore"))
    assert _own(bob, 1).id > (recalled[-1].id if recalled else 0)
    del last


def _row(n: int, txn: bytes | None = None) -> StoredMessage:
    """A public message from ann, as the recorder stores it."""
    return StoredMessage(
        id=n,
        timestamp_ms=n,
        sender="ann",
        sender_party="s:01",
        target=None,
        target_party=None,
        text=f"m{n}",
        txn=txn,
    )


def test_the_recorder_turns_a_stored_transaction_id_into_a_repeat(tmp_path):
    txn = _txn()

    with SqliteMessageStore.in_data_dir(tmp_path) as store:
        store.append([_row(1, txn)])
        published: list[tuple[list[Step], bool]] = []
        nobody = cast("Member", None)  # the recorder never looks at senders
        steps: list[Step] = [
            Record(_row(2), nobody, 1),
            Record(_row(3, txn), nobody, 2),
        ]
        queue = [steps]

        def take(_timeout: float) -> list[Step]:
            return queue.pop() if queue else []

        recorder = Recorder(
            take=take,
            publish=lambda taken, ok: published.append((taken, ok)),
            store=store,
        )
        recorder.start()
        assert wait_for(lambda: bool(published))
        recorder.stop()
        taken, ok = published[0]
        assert ok
        assert taken[0].original is None
        assert taken[1].original is not None
        assert taken[1].original.id == 1  # the stored one, confirmed again
        page, _ = store.page("s:01", before=100, after=0, limit=10)
        assert [m.id for m in page] == [1, 2]


@pytest.mark.parametrize("urgent", [True, False])
def test_an_express_batch_is_committed_and_published_while_the_readers_stand_aside(
    tmp_path, urgent
):
    precedence = Precedence()
    seen: list[bool] = []
    nobody = cast("Member", None)
    queue: list[list[Step]] = [[Record(_row(1), nobody, 1)]]

    def take(_timeout: float) -> list[Step]:
        return queue.pop() if queue else []

    with SqliteMessageStore.in_data_dir(tmp_path) as store:
        recorder = Recorder(
            take=take,
            publish=lambda _taken, _ok: seen.append(precedence.held),
            store=store,
            urgent=lambda: urgent,
            precedence=precedence,
        )
        recorder.start()
        assert wait_for(lambda: bool(seen))
        recorder.stop()
    assert seen == [urgent]
    assert not precedence.held
