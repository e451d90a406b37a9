"""The hub publishes stored messages fairly (`server.ordering`): a burst one
sender got in does not hold back another's message, and nothing anyone sees
changes order within a sender or against the roster.

A real `Hub` with a real SQLite store; the test plays the recorder thread
(`take_steps`, commit, `publish`), so each batch is exactly what it takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol as p
from server.history import Record
from server.hub import Hub
from server.store.messages import SqliteMessageStore
from tests.server.test_hub import FakeMember, ServerLimits


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = SqliteMessageStore.in_data_dir(tmp_path)
    hub = Hub(
        server_name="test",
        motd="",
        wall_clock=lambda: 1.7e9,
        clock=lambda: 0.0,
        limits_frame=p.encode_frame(ServerLimits),
    )
    hub.attach_history(store)
    yield hub
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


def test_a_quiet_message_is_published_beside_a_burst_not_behind_it(hub):
    flooder, quiet, reader = (_join(hub, n) for n in ("flooder", "quiet", "reader"))
    for n in range(20):
        hub.say(flooder, p.SendText(ref=0, text=f"flood {n}"))
    hub.say(quiet, p.SendText(ref=0, text="hello"))
    while _record_one_batch(hub):
        pass
    texts = _texts(reader)
    assert texts.index("hello") == 1, texts
    assert [t for t in texts if t != "hello"] == [f"flood {n}" for n in range(20)]
    ids = [m.id for m in reader.received() if isinstance(m, p.Delivered)]
    assert ids == sorted(ids), "ids grow in the order messages are published"


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
