"""Rooms, conversations, typing and away end to end (issue 15): real sessions,
real transports, the real server (with its database in a temporary
directory) on 127.0.0.1, and a version 1 client on a raw socket."""

from __future__ import annotations

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.secrets import FileSecretStore
from clients.core.session import AccountSettings
from clients.core.testing import HeadlessDriver
from server import ChatServer
from tests.core.live_server import PASSWORD, server_fixtures, stored_server_config
from tests.wire import WireClient

pytestmark = pytest.mark.integration

_server, _connect = server_fixtures(caught_up=True)


def _line(driver: HeadlessDriver, text: str, since: int = 0) -> ev.ChatLine:
    line = driver.wait_for(
        lambda e: isinstance(e, ev.ChatLine) and e.text == text, since=since
    )
    assert isinstance(line, ev.ChatLine)
    return line


def _notice(driver: HeadlessDriver, text: str, since: int = 0) -> ev.Notice:
    notice = driver.wait_for(
        lambda e: isinstance(e, ev.Notice) and text in e.text, since=since
    )
    assert isinstance(notice, ev.Notice)
    return notice


def _join(driver: HeadlessDriver, room: str) -> None:
    since = len(driver.events)
    assert driver.submit(f"/join {room}")
    driver.wait_for(
        lambda e: (
            isinstance(e, ev.ConversationsChanged)
            and p.room_key(e.active) == p.room_key(room)
        ),
        since=since,
    )


def _members(driver: HeadlessDriver, room: str) -> tuple[str, ...]:
    entry = driver.conversation(room)
    return entry.members if entry is not None else ()


def _typing(driver: HeadlessDriver, name: str) -> tuple[str, ...]:
    entry = driver.conversation(name)
    return entry.typing if entry is not None else ()


def _names(driver: HeadlessDriver) -> list[str]:
    listed = driver.listed()
    return [c.name for c in listed.conversations] if listed is not None else []


def test_two_clients_talk_in_a_room_that_a_v1_client_never_sees(connect, server):
    old = WireClient(server.address)
    try:
        assert isinstance(old.hello("old", version=1), p.Welcome)
        ann, bob = connect("ann"), connect("bob")
        _join(ann, "#rust")
        assert ann.conversation("#rust") == ev.Conversation(
            name="#rust",
            kind=ev.ConversationKind.ROOM,
            members=("ann",),
            role="owner",
        )
        _join(bob, "#Rust")  # the creator's spelling is kept
        assert _names(bob) == ["#lobby", "#rust"]
        ann.wait_until(lambda: _members(ann, "#rust") == ("ann", "bob"))
        _notice(ann, "bob joined #rust")
        assert bob.conversation("#rust").role == ""

        assert bob.submit("hello rustaceans")  # the active conversation: #rust
        line = _line(ann, "hello rustaceans")
        assert (line.conversation, line.target, line.is_direct) == (
            "#rust",
            "#rust",
            False,
        )
        # Ann is in #rust, so it is read; the lobby gets a line she has not.
        old.send(p.SendText(ref=1, text="hi lobby"))
        lobby_line = _line(ann, "hi lobby")
        assert lobby_line.conversation == "#lobby"
        ann.wait_until(lambda: ann.conversation("#lobby").unread == 1)
        assert ann.conversation("#rust").unread == 0

        ann.do(ann.client.switch("#lobby"))
        assert ann.conversation("#lobby").unread == 0
        assert ann.submit("back in the lobby")
        _line(bob, "back in the lobby")
        bob.wait_until(lambda: bob.conversation("#lobby").unread >= 1)
        assert ann.submit("/me waves")
        action = _line(bob, "waves")
        assert (action.action, action.sender, action.conversation) == (
            True,
            "ann",
            "#lobby",
        )

        # The version 1 client sees the lobby and nothing of the room.
        seen = []
        while True:
            try:
                message = old.next(timeout=0.5)
            except TimeoutError:
                break
            if isinstance(message, p.Delivered):
                seen.append(message.text)
        assert seen == ["hi lobby", "back in the lobby", "/me waves"]

        since = len(ann.events)
        assert bob.submit("/part #rust off to bed")
        _notice(bob, "you left #rust")
        bob.wait_until(lambda: _names(bob) == ["#lobby"])
        assert bob.session.active == "#lobby"
        _notice(ann, "bob left #rust: off to bed", since)
        ann.wait_until(lambda: _members(ann, "#rust") == ("ann",))
    finally:
        old.sock.close()


def test_direct_messages_open_their_own_conversation_both_ways(connect):
    ann, bob = connect("ann"), connect("bob")
    assert ann.submit("/query bob are you there?")
    assert ann.session.active == "bob"
    mine = _line(ann, "are you there?")
    assert (mine.conversation, mine.is_direct, mine.is_own) == ("bob", True, True)
    theirs = _line(bob, "are you there?")
    assert (theirs.conversation, theirs.is_direct) == ("ann", True)
    bob.wait_until(lambda: "ann" in _names(bob))
    entry = bob.conversation("ann")
    assert entry is not None
    assert (entry.kind, entry.unread, entry.highlight) == (
        ev.ConversationKind.DIRECT,
        1,
        True,
    )
    assert entry.members == ("ann",)
    # A plain line in a direct conversation goes to that nick only.
    bob.do(bob.client.switch("ann"))
    assert bob.submit("yes")
    assert _line(ann, "yes").conversation == "bob"
    cat = connect("cat")
    cat.pump(0.3)
    assert cat.lines() == []
    assert _names(cat) == ["#lobby"]


def test_typing_and_away_reach_the_others(connect):
    ann, bob = connect("ann"), connect("bob")
    _join(ann, "#rust")
    _join(bob, "#rust")
    ann.do(ann.client.typing("I am wri"))
    bob.wait_until(lambda: _typing(bob, "#rust") == ("ann",))
    ann.do(ann.client.typing(""))  # emptied without sending: stopped
    # The stop waits out the server's one-a-second limit on ann's ticks.
    bob.wait_until(lambda: ann.pump(0.01) or _typing(bob, "#rust") == ())
    ann.do(ann.client.typing("second thoughts"))
    bob.wait_until(lambda: ann.pump(0.01) or _typing(bob, "#rust") == ("ann",))
    assert ann.submit("second thoughts")  # the line ends the typing
    _line(bob, "second thoughts")
    assert _typing(bob, "#rust") == ()

    assert ann.submit("/away lunch")
    _notice(ann, "you are away: lunch")
    bob.wait_until(
        lambda: (seen := bob.listed()) is not None and seen.away == (("ann", "lunch"),)
    )
    # A newcomer learns it at once.
    cat = connect("cat")
    cat.wait_until(
        lambda: (seen := cat.listed()) is not None and seen.away == (("ann", "lunch"),)
    )
    assert bob.submit("/query ann are you back?")
    _notice(bob, "ann is away: lunch")
    assert ann.submit("/back")
    bob.wait_until(lambda: (seen := bob.listed()) is not None and seen.away == ())


def test_moderation_in_a_room(connect):
    ann, bob = connect("ann"), connect("bob")
    _join(ann, "#rust")
    assert ann.submit("/topic crabs all the way down")
    _notice(ann, "ann set the topic: crabs all the way down")
    _join(bob, "#rust")
    assert bob.conversation("#rust").topic == "crabs all the way down"
    since = len(bob.events)
    assert bob.submit("/topic mine now")
    refused = _notice(bob, "could not set the topic of #rust", since)
    assert refused.level is ev.NoticeLevel.ERROR
    assert ann.submit("/op bob")
    bob.wait_until(lambda: bob.conversation("#rust").role == "operator")
    assert ann.submit("/deop bob")
    bob.wait_until(lambda: bob.conversation("#rust").role == "")
    since = len(ann.events)
    assert ann.submit("/kick bob spam")
    _notice(bob, "you were kicked from #rust by ann: spam")
    bob.wait_until(lambda: _names(bob) == ["#lobby"])
    _notice(ann, "bob was kicked from #rust by ann: spam", since)
    assert ann.submit("/ban bob no more")
    ann.wait_for(
        lambda e: isinstance(e, ev.Notice) and "bob banned from #rust" in e.text
    )
    since = len(bob.events)
    assert bob.submit("/join #rust")
    _notice(bob, "could not join #rust", since)
    assert _names(bob) == ["#lobby"]
    since = len(ann.events)
    assert ann.submit("/members")
    listed = _notice(ann, "1 in #rust: ann", since)
    assert listed.conversation == "#rust"
    assert bob.submit("/rooms")
    rooms = _notice(bob, "Rooms:")
    assert "#lobby" in rooms.text
    assert "#rust (1 online): crabs all the way down" in rooms.text


def test_a_rooms_history_comes_when_it_is_first_opened(connect):
    ann = connect("ann")
    _join(ann, "#rust")
    for n in range(5):
        assert ann.submit(f"rust {n}")
    ann.wait_until(lambda: ann.session.unconfirmed == 0)
    # Ann stays: a room nobody is in is deleted, and a new one of the same
    # name starts with no history.
    ann.do(ann.client.switch("#lobby"))
    bob = connect("bob")
    _join(bob, "#rust")
    page = bob.wait_for(
        lambda e: isinstance(e, ev.EarlierLines) and e.conversation == "#rust"
    )
    assert isinstance(page, ev.EarlierLines)
    texts = [i.text for i in page.items if isinstance(i, ev.ChatLine)]
    assert texts == [f"rust {n}" for n in range(5)]
    assert all(
        i.conversation == "#rust"
        for i in page.items
        if isinstance(i, ev.ChatLine | ev.DaySeparator)
    )
    # The lobby's newest page never held a room line.
    assert [line.conversation for line in bob.lines()] == []


def test_an_accounts_rooms_come_back_after_it_reconnects(tmp_path):
    tokens = FileSecretStore(tmp_path / "tokens.json")
    with ChatServer(stored_server_config(tmp_path)) as server:
        host, port = server.address
        accounts = AccountSettings(secrets=tokens, host=host, port=port)
        ann = HeadlessDriver(host, port, "ann", accounts=accounts)
        guest = HeadlessDriver(host, port, "bob")
        try:
            ann.wait_connected()
            guest.wait_connected()
            assert ann.submit("/register")
            request = ann.wait_for(lambda e: isinstance(e, ev.PasswordRequest))
            assert isinstance(request, ev.PasswordRequest)
            ann.do(ann.client.answer_password(request.id, PASSWORD, PASSWORD))
            _notice(ann, "is now your account")
            _join(ann, "#rust")
            _join(ann, "#go")
            _join(guest, "#rust")
            assert _names(ann) == ["#lobby", "#go", "#rust"]
            server.stop()
            ann.wait_reconnecting()
            with ChatServer(stored_server_config(tmp_path, port)):
                since, guest_since = len(ann.events), len(guest.events)
                ann.wait_connected(timeout=10, since=since)
                guest.wait_connected(timeout=10, since=guest_since)
                ann.wait_until(lambda: not ann.session.catching_up)
                guest.wait_until(lambda: not guest.session.catching_up)
                # The account's rooms came back; the guest's session did not
                # outlive the server, and its room is gone from its list.
                ann.pump(0.3)
                assert _names(ann) == ["#lobby", "#go", "#rust"]
                assert ann.conversation("#rust").role == "owner"
                _notice(guest, "you are no longer in #rust", guest_since)
                guest.wait_until(lambda: _names(guest) == ["#lobby"])
                ann.do(ann.client.switch("#rust"))
                assert ann.submit("still here")
                line = _line(ann, "still here", since)
                assert line.conversation == "#rust"
        finally:
            ann.close()
            guest.close()
