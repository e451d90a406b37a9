"""The hub publishes stored messages fairly (`server.ordering`): a burst one
sender got in does not hold back another's message, and nothing anyone sees
changes order within a sender or against the roster.

A real `Hub` with a real SQLite store; the test plays the recorder thread
(`take_steps`, commit, `publish`), so each batch is exactly what it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import protocol as p
from protocol.nicks import nick_key
from server.accounts import Account
from server.history import Record
from server.hub import Hub
from server.logins import Login
from server.store.base import Role, account_party
from server.store.messages import SqliteMessageStore
from tests.server.test_hub import FakeMember, ServerLimits


def _new_hub(
    store: SqliteMessageStore, on_quiet_message: Callable[[], object] = lambda: None
) -> Hub:
    hub = Hub(
        server_name="test",
        motd="",
        wall_clock=lambda: 1.7e9,
        clock=lambda: 0.0,
        limits_frame=p.encode_frame(ServerLimits),
        owns=lambda nick: nick_key(nick) == "bob",  # the one account
    )
    hub.attach_history(store, on_quiet_message=on_quiet_message)
    return hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = SqliteMessageStore.in_data_dir(tmp_path)
    yield _new_hub(store)
    store.close()


def _join(hub: Hub, nick: str) -> FakeMember:
    member = FakeMember()
    hub.join(member, p.Hello(version=1, client_name="t", nick=nick))
    hub.flush_presence()
    member.sent.clear()
    return member


def _record_one_batch(hub: Hub) -> bool:
    """What the recorder does once: take, store, publish; False if idle."""
    steps = hub.take_steps(0.0)
    records = [s for s in steps if isinstance(s, Record)]
    store = hub.message_store
    if records and store is not None:
        store.append([r.stored for r in records])
    hub.publish(steps, True)
    return bool(steps)


def _texts(member: FakeMember) -> list[str]:
    return [m.text for m in member.received() if isinstance(m, p.Delivered)]


def test_a_quiet_message_is_published_ahead_of_a_burst_not_behind_it(hub):
    flooder, quiet, reader = (_join(hub, n) for n in ("flooder", "quiet", "reader"))
    for n in range(20):
        hub.say(flooder, p.SendText(ref=0, text=f"flood {n}"))
    hub.say(quiet, p.SendText(ref=0, text="hello"))
    while _record_one_batch(hub):
        pass
    texts = _texts(reader)
    assert texts.index("hello") == 0, texts
    assert [t for t in texts if t != "hello"] == [f"flood {n}" for n in range(20)]
    ids = [m.id for m in reader.received() if isinstance(m, p.Delivered)]
    assert ids == sorted(ids), "ids grow in the order messages are published"


def test_a_message_in_a_quiet_lane_is_announced_to_the_listener(tmp_path):
    store = SqliteMessageStore.in_data_dir(tmp_path)
    quiet: list[str] = []
    hub = _new_hub(store, on_quiet_message=lambda: quiet.append("quiet"))
    try:
        flooder, other = _join(hub, "flooder"), _join(hub, "other")
        for n in range(3):
            hub.say(flooder, p.SendText(ref=0, text=f"flood {n}"))
        assert quiet == ["quiet"], "only the first of a burst is quiet"
        hub.say(other, p.SendText(ref=0, text="hello"))
        assert quiet == ["quiet", "quiet"]
    finally:
        store.close()


def test_a_leave_notice_comes_after_the_last_words_of_who_left(hub):
    leaver, quiet, reader = (_join(hub, n) for n in ("leaver", "quiet", "reader"))
    for n in range(5):
        hub.say(leaver, p.SendText(ref=0, text=f"last {n}"))
    hub.leave(leaver, "quit: bye")
    hub.flush_presence()
    hub.say(quiet, p.SendText(ref=0, text="hello"))
    while _record_one_batch(hub):
        pass
    seen = [
        m.text if isinstance(m, p.Delivered) else type(m).__name__
        for m in reader.received()
    ]
    assert seen.index("UserLeft") > seen.index("last 4"), seen
    assert seen.index("hello") < seen.index("last 4"), seen


def test_a_user_list_never_runs_ahead_of_the_notices_it_reflects(hub):
    leaver, asker = _join(hub, "leaver"), _join(hub, "asker")
    for n in range(3):
        hub.say(leaver, p.SendText(ref=0, text=f"last {n}"))
    hub.leave(leaver, "quit: bye")
    hub.list_users(asker)  # sends the leave notice first: behind leaver's messages
    while _record_one_batch(hub):
        pass
    kinds = [type(m).__name__ for m in asker.received()]
    assert kinds.index("UserLeft") < kinds.index("UserList"), kinds


def test_an_answer_waits_only_for_its_own_senders_messages(hub):
    flooder, asker = _join(hub, "flooder"), _join(hub, "asker")
    for n in range(5):
        hub.say(flooder, p.SendText(ref=0, text=f"flood {n}"))
    hub.reply(asker, p.encode_frame(p.Pong(payload=b"x")))
    assert [type(m).__name__ for m in asker.received()] == ["Pong"], (
        "nothing of the asker's waits: answered at once"
    )
    hub.say(asker, p.SendText(ref=0, text="mine"))
    hub.reply(asker, p.encode_frame(p.Pong(payload=b"y")))
    assert [type(m).__name__ for m in asker.received()] == ["Pong"], (
        "behind its own unpublished message"
    )
    while _record_one_batch(hub):
        pass
    kinds = [
        m.text if isinstance(m, p.Delivered) else type(m).__name__
        for m in asker.received()
    ]
    answer = len(kinds) - 1 - kinds[::-1].index("Pong")
    assert kinds.index("mine") < answer < kinds.index("flood 4"), kinds


def _account(hub: Hub, name: str) -> FakeMember:
    """A member logged in to the account `name` (spec 12.3)."""
    member = FakeMember()
    hello = p.Hello(
        version=2, client_name="t", nick=name, capabilities=("session", "history")
    )
    account = Account(id=1, name=name, role=Role.USER, created_at=0.0)
    hub.join(member, hello, p.Identify(), Login(account, token=b"t" * 32))
    hub.flush_presence()
    member.sent.clear()
    return member


def _kept_for(hub: Hub, name: str) -> list[str]:
    store = hub.message_store
    assert store is not None
    return [m.text for m in store.take_offline(account_party(nick_key(name)))]


@pytest.mark.parametrize("how", ["left", "condemned"])
def test_a_direct_message_to_an_account_gone_before_it_went_out_is_kept(hub, how):
    # Found online when the recorder took it, gone (or going) when it was
    # published: a message handed to a closing connection would be lost.
    ann, bob = _join(hub, "ann"), _account(hub, "bob")
    hub.post(ann, p.Post(ref=1, txn=b"1" * 16, target="bob", text="psst"))
    steps = hub.take_steps(0.0)
    if how == "left":
        bob.left = bob.closing = True
        hub.leave(bob, "connection closed")
    else:
        bob.closing = True  # kicked: its last words are going out
    store = hub.message_store
    assert store is not None
    store.append([s.stored for s in steps if isinstance(s, Record)])
    hub.publish(steps, True)
    assert "psst" not in _texts(bob)
    assert _kept_for(hub, "bob") == ["psst"]
    assert _kept_for(hub, "bob") == [], "given once"


def test_a_direct_message_to_an_account_still_there_is_not_kept(hub):
    ann, bob = _join(hub, "ann"), _account(hub, "bob")
    hub.post(ann, p.Post(ref=1, txn=b"2" * 16, target="bob", text="hello"))
    while _record_one_batch(hub):
        pass
    assert _texts(bob) == ["hello"]
    assert _kept_for(hub, "bob") == []


def test_a_direct_message_to_a_closing_account_is_kept_from_the_start(hub):
    ann, bob = _join(hub, "ann"), _account(hub, "bob")
    bob.closing = True
    hub.post(ann, p.Post(ref=1, txn=b"3" * 16, target="bob", text="later"))
    [record] = hub.take_steps(0.0)
    assert isinstance(record, Record)
    assert record.stored.offline


def test_a_message_kept_for_an_account_that_logs_in_before_it_goes_out_arrives_once(
    hub,
):
    # Stored as offline (nobody held bob when the recorder took it), bob
    # logs in before it is published: given live, and not kept as well.
    ann = _join(hub, "ann")
    hub.post(ann, p.Post(ref=1, txn=b"4" * 16, target="bob", text="hi bob"))
    steps = hub.take_steps(0.0)
    assert all(s.stored.offline for s in steps if isinstance(s, Record))
    store = hub.message_store
    assert store is not None
    store.append([s.stored for s in steps if isinstance(s, Record)])
    bob = _account(hub, "bob")
    hub.publish(steps, True)
    assert _texts(bob) == ["hi bob"]
    assert _kept_for(hub, "bob") == []


def test_a_kept_message_its_account_took_at_login_is_not_given_again(hub):
    # The login took it from the store first (deliver_offline): publishing
    # it afterwards must not give it a second time.
    ann = _join(hub, "ann")
    hub.post(ann, p.Post(ref=1, txn=b"5" * 16, target="bob", text="once"))
    steps = hub.take_steps(0.0)
    store = hub.message_store
    assert store is not None
    store.append([s.stored for s in steps if isinstance(s, Record)])
    bob = _account(hub, "bob")
    assert _kept_for(hub, "bob") == ["once"]
    hub.publish(steps, True)
    assert _texts(bob) == []
