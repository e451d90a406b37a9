"""The journal: unconfirmed lines and the last seen message, in a real 0600 file,
across sessions (a new ChatSession stands for a restarted client)."""

from __future__ import annotations

import json
import logging
import queue
import random

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.client import ChatClient
from clients.core.journal import (
    EMPTY,
    Journal,
    JournalKeeper,
    JournalLine,
    JournalState,
    default_journal_dir,
)
from clients.core.launch import Security, build_client
from clients.core.session import SEEN_SAVE_INTERVAL, ChatSession
from clients.core.testing import FakeTransport, ManualClock, PlayedHistory
from clients.core.transport import TransportEvent

from .test_history import Rig, chat, live, notices, stored

TXN = bytes(range(16))


@pytest.fixture(name="journal")
def _journal(tmp_path):
    return Journal("chat.example.org", 7000, "Ann", directory=tmp_path / "journals")


def session_with(journal: Journal, clock: ManualClock | None = None) -> ChatSession:
    return ChatSession(
        nick="ann",
        server="chat.example.org:7000",
        clock=clock or ManualClock(),
        rng=random.Random(1),
        journal=journal,
    )


def test_round_trip_and_private_mode(journal):
    state = JournalState(
        lines=(JournalLine(txn=TXN, text="hé\nthere", target="bob", sent=True),),
        last_seen=42,
    )
    journal.save(state)
    assert journal.load() == state
    assert journal.path.stat().st_mode & 0o777 == 0o600
    assert journal.path.parent.stat().st_mode & 0o077 == 0
    journal.save(EMPTY)
    assert not journal.path.exists()
    assert journal.load() == EMPTY


def test_one_journal_per_server_and_nick(tmp_path):
    def path(host: str, port: int, nick: str):
        return Journal(host, port, nick, directory=tmp_path).path

    assert path("Chat.Example.org.", 7000, "ANN") == path(
        "chat.example.org", 7000, "ann"
    )
    assert path("chat.example.org", 7000, "ann") != path(
        "chat.example.org", 7001, "ann"
    )
    assert path("chat.example.org", 7000, "ann") != path(
        "chat.example.org", 7000, "bob"
    )


def test_the_default_directory_is_the_users_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_journal_dir() == tmp_path / "xdg" / "chinwag" / "journal"
    assert Journal("h", 1, "ann").path.parent == default_journal_dir()


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b"[]",
        b'{"version": 99}',
        b"{" * 100_000,
        json.dumps(
            {
                "version": 1,
                "server": "[chat.example.org]:7000",
                "nick": "ann",
                "last_seen": "many",
                "lines": [],
            }
        ).encode(),
        json.dumps(
            {
                "version": 1,
                "server": "[chat.example.org]:7000",
                "nick": "ann",
                "last_seen": None,
                "lines": [{"txn": "00", "text": "x", "target": None, "sent": False}],
            }
        ).encode(),
        json.dumps(
            {
                "version": 1,
                "server": "[other.example.org]:7000",
                "nick": "ann",
                "last_seen": 3,
                "lines": [],
            }
        ).encode(),
    ],
)
def test_a_damaged_journal_starts_empty_with_a_warning(journal, content, caplog):
    journal.path.parent.mkdir(parents=True)
    journal.path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="clients.core.journal"):
        session = session_with(journal)
        out = session.start()
    assert session.unconfirmed == 0
    assert not any(isinstance(e, ev.Pending) for e in out.events)
    assert "not a Chinwag journal" in caplog.text
    # Set aside, not destroyed, and never quoted in the log.
    assert (
        journal.path.with_name(journal.path.name + ".corrupt").read_bytes() == content
    )
    assert not journal.path.exists()


def test_a_line_typed_offline_survives_a_restart_and_is_posted_once(journal):
    first = session_with(journal)
    first.start()
    assert first.submit("typed on the train").accepted
    kept = journal.load()
    assert [(line.text, line.sent) for line in kept.lines] == [
        ("typed on the train", False)
    ]
    assert journal.path.stat().st_mode & 0o777 == 0o600
    # The process dies here (no quit). A new one finds the line...
    rig = Rig(session=session_with(journal))
    out = rig.open()
    pending = [e for e in out.events if isinstance(e, ev.Pending)]
    assert pending[0] == ev.Pending(
        local_id=1, text="typed on the train", target=None, queued=True
    )
    rig.from_server(p.HistoryEnd(ref=rig.fetches()[0].ref))
    (post,) = [m for m in rig.sent if isinstance(m, p.Post)]
    assert (post.txn, post.text) == (kept.lines[0].txn, "typed on the train")
    assert journal.load().lines[0].sent
    # ... and forgets it once the server confirms it.
    rig.from_server(live(3, ref=post.ref, sender="ann", text="typed on the train"))
    assert journal.load().lines == ()
    assert rig.session.unconfirmed == 0


def test_a_line_sent_before_the_restart_is_posted_again_with_its_txn(journal):
    journal.save(
        JournalState(lines=(JournalLine(txn=TXN, text="hi", target="bob", sent=True),))
    )
    rig = Rig(session=session_with(journal))
    rig.open()
    (post,) = [m for m in rig.sent if isinstance(m, p.Post)]
    assert post == p.Post(ref=post.ref, txn=TXN, target="bob", text="hi")


def test_without_history_a_line_that_may_have_been_sent_is_reported_not_resent(
    journal,
):
    journal.save(
        JournalState(
            lines=(
                JournalLine(txn=TXN, text="maybe sent", target=None, sent=True),
                JournalLine(txn=TXN[::-1], text="never sent", target=None, sent=False),
            )
        )
    )
    rig = Rig(session=session_with(journal))
    out = rig.open(capabilities=("limits", "session"))
    assert any(
        "maybe sent" in n and "may not have been" in n for n in notices(out.events)
    )
    assert [m.text for m in rig.sent if isinstance(m, p.SendText)] == ["never sent"]
    assert [line.text for line in journal.load().lines] == ["never sent"]


def test_a_line_confirmed_after_a_restart_is_not_shown_out_of_order(journal):
    """Run 1 showed the line (its catch-up recalled it) but crashed before
    the repeated Post was confirmed; run 2 catches up after what run 1 saw,
    so the confirmation is of a line older than its log."""
    journal.save(
        JournalState(
            lines=(JournalLine(txn=TXN, text="c1-0013", target=None, sent=True),),
            last_seen=82,
        )
    )
    rig = Rig(session=session_with(journal))
    rig.open()
    fetch = rig.fetches()[0]
    assert fetch.after == 82
    out = rig.from_server(stored(83, ref=fetch.ref), p.HistoryEnd(ref=fetch.ref))
    (post,) = [m for m in rig.sent if isinstance(m, p.Post)]
    out = rig.from_server(live(44, ref=post.ref, sender="ann", text="c1-0013"))
    assert out.events == [
        ev.Notice(
            "your message “c1-0013” was delivered earlier; it is further up in the history"
        ),
        ev.PendingDone(local_id=1, delivered=True),
    ]
    assert journal.load().lines == ()
    assert [line.id for line in chat(rig.from_server(live(84)).events)] == [84]


def test_quitting_keeps_unsent_lines_for_next_time(journal):
    session = session_with(journal)
    session.start()
    session.submit("later")
    out = session.quit()
    assert "kept to send next time: message “later”" in notices(out.events)
    assert [line.text for line in journal.load().lines] == ["later"]
    assert session_with(journal).unconfirmed == 1


def test_the_last_seen_id_brings_an_unread_marker_next_time(journal):
    clock = ManualClock()
    rig = Rig(session=session_with(journal, clock))
    rig.clock = clock
    rig.open()
    ref = rig.fetches()[0].ref
    rig.from_server(stored(11, ref=ref), stored(12, ref=ref), p.HistoryEnd(ref=ref))
    # Only the last seen id changed: it waits a little before being written.
    assert journal.load().last_seen is None
    clock.advance(SEEN_SAVE_INTERVAL + 1)
    rig.session.tick()
    assert journal.load().last_seen == 12
    rig.from_server(live(13))
    rig.session.quit()
    assert journal.load().last_seen == 13
    # The next run catches up from there and marks where the user left.
    again = Rig(session=session_with(journal))
    again.open()
    (fetch,) = again.fetches()
    assert (fetch.after, fetch.limit) == (13, 500)
    out = again.from_server(
        stored(14, ref=fetch.ref),
        stored(15, ref=fetch.ref),
        p.HistoryEnd(ref=fetch.ref),
    )
    kinds = [type(e) for e in out.events]
    assert kinds == [ev.UnreadMarker, ev.DaySeparator, ev.ChatLine, ev.ChatLine]


def test_a_journal_that_cannot_be_written_is_told_once(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    journal = Journal("h", 1, "ann", directory=blocker)
    session = session_with(journal)
    session.start()
    first = session.submit("one")
    second = session.submit("two")
    assert first.accepted
    assert any("cannot keep unsent messages" in n for n in notices(first.events))
    assert notices(second.events) == []
    assert session.unconfirmed == 2
    out = session.quit()
    assert "not sent: message “one”" in notices(out.events)


def test_keeper_writes_lines_at_once_and_the_last_seen_id_lazily(journal):
    keeper = JournalKeeper(journal, now=0.0, seen_interval=5.0)
    assert keeper.keep(JournalState(last_seen=3), 1.0) == keeper.keep(
        JournalState(last_seen=3), 1.0
    )
    assert not journal.path.exists()
    line = JournalLine(txn=TXN, text="x", target=None, sent=False)
    assert keeper.keep(JournalState(lines=(line,), last_seen=3), 2.0).current
    assert journal.load().last_seen == 3
    assert not keeper.keep(JournalState(lines=(line,), last_seen=4), 3.0).current
    assert keeper.keep(
        JournalState(lines=(line,), last_seen=4), 3.0, force=True
    ).current
    keeper.close()
    assert not keeper.keep(EMPTY, 9.0).current
    assert journal.load().last_seen == 4


def test_build_client_keeps_a_journal_in_the_given_directory(tmp_path):
    history = PlayedHistory()
    history.add("bob", "before")
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    security = Security(
        plaintext=True,
        known_servers=tmp_path / "known",
        tokens=tmp_path / "tokens.json",
        journals=tmp_path / "journals",
    )

    def run(client: ChatClient, events: list[ev.UiEvent]) -> list[ev.UiEvent]:
        while not inbox.empty():
            events += client.handle(inbox.get())
        return events

    client = build_client(
        "localhost",
        7000,
        "ann",
        inbox.put,
        security=security,
        transport_factory=FakeTransport.factory(history=history),
    )
    run(client, client.start())
    client.close()
    (path,) = (tmp_path / "journals").iterdir()
    assert json.loads(path.read_text())["last_seen"] == 1
    history.add("bob", "while away")
    client = build_client(
        "localhost",
        7000,
        "ann",
        inbox.put,
        security=security,
        transport_factory=FakeTransport.factory(history=history),
    )
    events = run(client, client.start())
    assert [
        type(e) for e in events if isinstance(e, ev.UnreadMarker | ev.ChatLine)
    ] == [
        ev.UnreadMarker,
        ev.ChatLine,
    ]
    client.close()
