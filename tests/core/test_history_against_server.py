"""Stored history end to end: real sessions, real transports, a real server
(with its database in a temporary directory) on 127.0.0.1."""

from __future__ import annotations

import pytest

from clients.core import events as ev
from clients.core.journal import Journal
from clients.core.secrets import FileSecretStore
from clients.core.session import AccountSettings
from clients.core.testing import HeadlessDriver
from server import ChatServer
from tests.core.live_server import PASSWORD, server_fixtures, stored_server_config

pytestmark = pytest.mark.integration

# These tests wait for the catching up themselves, where it matters to them.
_server, _connect = server_fixtures(caught_up=False)


def _texts(driver: HeadlessDriver) -> list[str]:
    return [line.text for line in driver.lines()]


def _settled(driver: HeadlessDriver) -> None:
    """Wait until every line is confirmed and nothing is being caught up."""
    driver.wait_until(
        lambda: driver.session.unconfirmed == 0 and not driver.session.catching_up,
        15,
    )


def _assert_each_once(driver: HeadlessDriver) -> None:
    ids = [line.id for line in driver.lines()]
    assert ids == sorted(set(ids)), "a line shown twice or out of order"


def test_a_newcomer_sees_the_newest_page_and_pages_back(connect):
    bob = connect("bob")
    said = [f"line {n:03d}" for n in range(130)]
    for text in said:
        assert bob.submit(text)
    _settled(bob)
    assert [line.text for line in bob.lines() if line.is_own] == said
    cat = connect("cat")
    cat.wait_until(lambda: len(cat.lines()) == 100 and not cat.session.catching_up)
    assert _texts(cat) == said[30:]
    assert all(line.recalled and line.sender == "bob" for line in cat.lines())
    since = len(cat.events)
    cat.events += cat.client.load_earlier()
    page = cat.wait_for(lambda e: isinstance(e, ev.EarlierLines), since=since)
    assert isinstance(page, ev.EarlierLines)
    lines = [item for item in page.items if isinstance(item, ev.ChatLine)]
    assert [line.text for line in lines] == said[:30]
    assert isinstance(page.items[0], ev.DaySeparator)
    assert not page.more
    # The start is reached: nothing more is asked for.
    assert cat.client.load_earlier() == []
    _assert_each_once(bob)
    _assert_each_once(cat)


def test_a_restarted_client_catches_up_from_where_it_left(connect, server, tmp_path):
    host, port = server.address
    journal = Journal(host, port, "ann", directory=tmp_path / "journals")
    bob = connect("bob")
    ann = connect("ann", journal=journal)
    bob.submit("seen before leaving")
    ann.wait_for(lambda e: isinstance(e, ev.ChatLine) and e.text.startswith("seen"))
    ann.close()
    assert journal.load().last_seen is not None
    bob.submit("missed one")
    bob.submit("missed two")
    _settled(bob)
    again = connect("ann", journal=journal)
    again.wait_until(lambda: len(again.lines()) == 2 and not again.session.catching_up)
    assert _texts(again) == ["missed one", "missed two"]
    assert all(line.recalled for line in again.lines())
    marker = next(
        i for i, e in enumerate(again.events) if isinstance(e, ev.UnreadMarker)
    )
    first = next(e for e in again.events[marker:] if isinstance(e, ev.ChatLine))
    assert first.text == "missed one"
    bob.submit("live again")
    again.wait_for(lambda e: isinstance(e, ev.ChatLine) and e.text == "live again")
    assert _texts(again) == ["missed one", "missed two", "live again"]
    _assert_each_once(again)


def test_a_line_typed_while_the_server_is_down_survives_a_client_restart(tmp_path):
    with ChatServer(stored_server_config(tmp_path)) as server:
        host, port = server.address
        journal = Journal(host, port, "ann", directory=tmp_path / "journals")
        ann = HeadlessDriver(host, port, "ann", journal=journal)
        try:
            ann.wait_connected()
            server.stop()
            ann.wait_reconnecting()
            assert ann.submit("kept across restarts")
        finally:
            ann.close()
    assert [line.text for line in journal.load().lines] == ["kept across restarts"]
    with ChatServer(stored_server_config(tmp_path, port)):
        bob = HeadlessDriver(host, port, "bob")
        ann = HeadlessDriver(host, port, "ann", journal=journal)
        try:
            bob.wait_connected()
            pending = ann.wait_for(lambda e: isinstance(e, ev.Pending))
            assert isinstance(pending, ev.Pending)
            assert pending.text == "kept across restarts"
            ann.wait_connected()
            _settled(ann)
            mine = [line for line in ann.lines() if line.text == pending.text]
            assert [line.is_own for line in mine] == [True]
            bob.wait_for(
                lambda e: isinstance(e, ev.ChatLine) and e.text == pending.text
            )
            bob.pump(0.3)
            assert _texts(bob).count(pending.text) == 1
            assert journal.load().lines == ()
        finally:
            ann.close()
            bob.close()


def test_search_and_context_against_the_real_server(connect):
    bob = connect("bob")
    for text in ("good morning", "lunch at noon?", "sure", "where for lunch", "bye"):
        bob.submit(text)
    _settled(bob)
    since = len(bob.events)
    bob.events += bob.client.search("LUNCH")
    results = bob.wait_for(lambda e: isinstance(e, ev.SearchResults), since=since)
    assert isinstance(results, ev.SearchResults)
    assert [line.text for line in results.lines] == [
        "lunch at noon?",
        "where for lunch",
    ]
    focus = results.lines[0].id
    since = len(bob.events)
    bob.events += bob.client.show_context(focus)
    context = bob.wait_for(lambda e: isinstance(e, ev.Context), since=since)
    assert isinstance(context, ev.Context)
    assert context.focus_id == focus
    said = ["good morning", "lunch at noon?", "sure", "where for lunch", "bye"]
    # Said after bob joined: the server recalls none of it, the log has it.
    around = [i.text for i in context.items if isinstance(i, ev.ChatLine)]
    assert around == said
    # Someone who joins after a hundred more lines has none of it in the
    # log: the server's store answers.
    for n in range(100):
        bob.submit(f"filler {n}")
    _settled(bob)
    cat = connect("cat")
    _settled(cat)
    assert "bye" not in _texts(cat)
    since = len(cat.events)
    cat.events += cat.client.show_context(focus)
    context = cat.wait_for(lambda e: isinstance(e, ev.Context), since=since)
    assert isinstance(context, ev.Context)
    around = [i.text for i in context.items if isinstance(i, ev.ChatLine)]
    # Ten after the focus: the rest of the five, then fillers.
    assert around == said + [f"filler {n}" for n in range(7)]


def test_an_offline_direct_message_reaches_the_account_at_its_next_login(
    connect, server, tmp_path
):
    host, port = server.address
    tokens = FileSecretStore(tmp_path / "tokens.json")
    bob = connect("bob", accounts=AccountSettings(secrets=tokens, host=host, port=port))
    bob.submit("/register")
    request = bob.wait_for(lambda e: isinstance(e, ev.PasswordRequest))
    assert isinstance(request, ev.PasswordRequest)
    bob.events += bob.client.answer_password(request.id, PASSWORD, PASSWORD)
    bob.wait_for(lambda e: isinstance(e, ev.Notice) and "is now your account" in e.text)
    bob.close()
    ann = connect("ann")
    ann.wait_until(lambda: "bob" not in ann.session.roster)
    assert ann.submit("@bob call me when you are back")
    _settled(ann)
    (sent,) = ann.lines()
    assert (sent.target, sent.is_own) == ("bob", True)
    back = connect(
        "bob",
        accounts=AccountSettings(secrets=tokens, host=host, port=port, login=True),
    )
    back.wait_for(
        lambda e: isinstance(e, ev.Notice) and e.text == "1 message while you were away"
    )
    _settled(back)
    (line,) = back.lines()
    assert (line.sender, line.text, line.recalled) == (
        "ann",
        "call me when you are back",
        True,
    )
    assert back.session.account == "bob"
