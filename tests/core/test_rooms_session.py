"""ChatSession with rooms, conversations, typing, away and settings (issue 15),
driven through a real ChatClient against the scripted server (`PlayedRooms`
and `PlayedHistory` on `FakeTransport`s), with a manual clock."""

from __future__ import annotations

import queue
from typing import Any

import protocol as p
from clients.core import events as ev
from clients.core.client import ChatClient
from clients.core.session import ChatSession
from clients.core.settings import ClientSettings, load_settings
from clients.core.testing import (
    FakeTransport,
    ManualClock,
    PlayedHistory,
    PlayedRooms,
)
from clients.core.transport import TransportEvent


class Scripted:
    """A ChatClient on FakeTransports sharing one history and one set of rooms."""

    def __init__(
        self,
        history: PlayedHistory | None = None,
        rooms: PlayedRooms | None = None,
        *,
        nick: str = "ann",
        settings_path=None,
        users: tuple[str, ...] = ("bob", "cat"),
    ) -> None:
        self.inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        self.history = history
        self.rooms = rooms
        self.clock = ManualClock()
        self.session = ChatSession(nick=nick, server="fake:1", clock=self.clock)
        self.client = ChatClient(
            self.session,
            "fake",
            1,
            self.inbox.put,
            transport_factory=FakeTransport.factory(
                history=history, rooms=rooms, users=users
            ),
            settings_path=settings_path,
        )
        self.events: list[ev.UiEvent] = []
        self.run(self.client.start())

    def run(self, events: list[ev.UiEvent]) -> list[ev.UiEvent]:
        """Record `events` and everything the fake answers to them."""
        new = list(events)
        while not self.inbox.empty():
            new += self.client.handle(self.inbox.get())
        self.events += new
        return new

    def submit(self, line: str) -> list[ev.UiEvent]:
        result = self.client.submit(line)
        assert result.accepted, result.events
        return self.run(result.events)

    @property
    def transport(self) -> FakeTransport:
        return FakeTransport.instances[-1]

    def sent(self, kind: type) -> list[Any]:
        return [m for m in self.transport.received if isinstance(m, kind)]

    def listed(self) -> ev.ConversationsChanged:
        return next(
            e for e in reversed(self.events) if isinstance(e, ev.ConversationsChanged)
        )

    def entry(self, name: str) -> ev.Conversation:
        return next(c for c in self.listed().conversations if c.name == name)

    def names(self) -> list[str]:
        return [c.name for c in self.listed().conversations]


def chat(events: list[ev.UiEvent]) -> list[ev.ChatLine]:
    return [e for e in events if isinstance(e, ev.ChatLine)]


def notices(events: list[ev.UiEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.Notice)]


def test_the_ui_hears_the_list_from_the_start():
    ann = Scripted()
    first = next(e for e in ann.events if isinstance(e, ev.ConversationsChanged))
    assert first.active == "#lobby"
    assert [c.name for c in first.conversations] == ["#lobby"]
    assert ann.entry("#lobby").members == ("ann", "bob", "cat")
    assert ann.client.conversations == ann.listed()
    assert ann.client.active == "#lobby"


def test_rooms_of_the_account_come_at_login_without_leaving_the_lobby():
    rooms = PlayedRooms()
    rooms.add("#rust", "ann", "bob", topic="crabs", owner="ann")
    ann = Scripted(PlayedHistory(), rooms)
    assert ann.names() == ["#lobby", "#rust"]
    assert ann.entry("#rust") == ev.Conversation(
        name="#rust",
        kind=ev.ConversationKind.ROOM,
        topic="crabs",
        members=("ann", "bob"),
        role="owner",
    )
    assert ann.listed().active == "#lobby"
    assert ann.sent(p.Hello)[0].capabilities == (
        "accounts",
        "away",
        "history",
        "limits",
        "rooms",
        "session",
        "typing",
    )


def test_joining_a_room_goes_there_and_fetches_its_own_history():
    history = PlayedHistory(page_limit=2)
    for n in range(3):
        history.add("bob", f"in go {n}", target="#go")
    for n in range(3):
        history.add("bob", f"lobby {n}")
    rooms = PlayedRooms()
    rooms.add("#go", "bob")
    ann = Scripted(history, rooms)
    # The newest page; not in #go yet, its lines are not ann's to see.
    assert [line.text for line in chat(ann.events)] == ["lobby 1", "lobby 2"]
    new = ann.submit("/join go")  # the # may be left out
    assert ann.sent(p.JoinRoom)[-1].room == "#go"
    assert ann.listed().active == "#go"
    fetch = ann.sent(p.FetchHistory)[-1]
    assert (fetch.conversation, fetch.before, fetch.limit) == ("#go", 0, 100)
    (page,) = [e for e in new if isinstance(e, ev.EarlierLines)]
    assert (page.conversation, page.more) == ("#go", True)
    assert [i.text for i in page.items if isinstance(i, ev.ChatLine)] == [
        "in go 1",
        "in go 2",
    ]
    assert all(
        i.conversation == "#go" for i in page.items if isinstance(i, ev.DaySeparator)
    )
    # A plain line now goes to the room.
    ann.submit("hello go")
    (post,) = ann.sent(p.Post)
    assert (post.target, post.text) == ("#go", "hello go")
    (mine,) = chat(ann.events[-5:])
    assert (mine.conversation, mine.is_direct, mine.is_own) == ("#go", False, True)
    # Its earlier pages are its own, before its oldest line shown.
    (older,) = ann.run(ann.client.load_earlier())
    fetch = ann.sent(p.FetchHistory)[-1]
    assert (fetch.conversation, fetch.before) == ("#go", 2)
    assert isinstance(older, ev.EarlierLines)
    assert [i.text for i in older.items if isinstance(i, ev.ChatLine)] == ["in go 0"]
    assert not older.more
    assert ann.run(ann.client.load_earlier()) == []
    # The lobby, opened again for the first time since, gets its own page.
    fetched = len(ann.sent(p.FetchHistory))
    ann.run(ann.client.switch("#lobby"))
    fetch = ann.sent(p.FetchHistory)[fetched]
    assert (fetch.conversation, fetch.before) == ("#lobby", 5)
    lobby = ann.events[-1]
    assert isinstance(lobby, ev.EarlierLines)
    assert lobby.conversation == "#lobby"
    assert [i.text for i in lobby.items if isinstance(i, ev.ChatLine)] == ["lobby 0"]


def test_lines_elsewhere_count_as_unread_until_the_user_goes_there():
    rooms = PlayedRooms()
    rooms.add("#go", "ann", "bob")
    ann = Scripted(PlayedHistory(), rooms)
    ann.transport.say("bob", "in go", target="#go")
    ann.transport.say("bob", "ann: look", target="#go")
    ann.transport.say("bob", "psst", target="ann")
    ann.transport.say("bob", "lobby chat")
    ann.run([])
    assert (ann.entry("#go").unread, ann.entry("#go").highlight) == (2, True)
    assert (ann.entry("bob").unread, ann.entry("bob").highlight) == (1, True)
    assert ann.entry("#lobby").unread == 0
    lines = chat(ann.events)
    assert [line.conversation for line in lines] == ["#go", "#go", "bob", "#lobby"]
    ann.run(ann.client.switch_to(2))
    assert ann.listed().active == "#go"
    assert ann.entry("#go").unread == 0
    ann.run(ann.client.switch("bob"))
    assert (ann.entry("bob").unread, ann.entry("bob").highlight) == (0, False)
    # In a direct conversation a plain line goes to that nick.
    ann.submit("hi bob")
    assert ann.sent(p.Post)[-1].target == "bob"


def test_direct_conversations_close_and_come_back_with_the_next_line():
    ann = Scripted(PlayedHistory(), PlayedRooms())
    ann.submit("/query bob")
    assert ann.names() == ["#lobby", "bob"]
    assert ann.listed().active == "bob"
    fetch = ann.sent(p.FetchHistory)[-1]
    assert fetch.conversation == "bob"
    ann.submit("/close")
    assert ann.names() == ["#lobby"]
    assert ann.listed().active == "#lobby"
    ann.transport.say("bob", "still there?", target="ann")
    ann.run([])
    assert ann.names() == ["#lobby", "bob"]
    assert ann.entry("bob").unread == 1
    refused = ann.client.submit("/close")
    assert not refused.accepted
    assert notices(refused.events) == ["#lobby cannot be closed"]
    assert ann.client.find_conversations("BO") == ["bob"]
    assert ann.client.find_conversations("b") == ["bob", "#lobby"]


def test_a_me_line_goes_as_text_and_comes_back_as_an_action():
    ann = Scripted(PlayedHistory(), PlayedRooms())
    ann.submit("/me waves")
    assert ann.sent(p.Post)[-1].text == "/me waves"
    (line,) = chat(ann.events)
    assert (line.action, line.text, line.is_own) == (True, "waves", True)
    ann.transport.say("bob", "/me waves at ann")
    (theirs,) = chat(ann.run([]))
    assert (theirs.action, theirs.text, theirs.mentions_me) == (
        True,
        "waves at ann",
        True,
    )
    ann.transport.say("bob", "/meh not an action")
    (plain,) = chat(ann.run([]))
    assert (plain.action, plain.text) == (False, "/meh not an action")


def test_typing_is_sent_paced_and_shown_until_it_expires():
    rooms = PlayedRooms()
    rooms.add("#go", "ann", "bob")
    ann = Scripted(PlayedHistory(), rooms)
    ann.run(ann.client.switch("#go"))
    ann.run(ann.client.typing("h"))
    ann.run(ann.client.typing("he"))
    assert ann.sent(p.Typing) == [p.Typing(conversation="#go", active=True)]
    ann.clock.advance(3)
    ann.run(ann.client.typing("hel"))
    assert len(ann.sent(p.Typing)) == 2
    ann.run(ann.client.typing(""))
    # The server passes one Typing a second: the stop waits for a tick.
    assert len(ann.sent(p.Typing)) == 2
    ann.clock.advance(1.25)
    ann.run(ann.client.tick())
    assert ann.sent(p.Typing)[-1] == p.Typing(conversation="#go", active=False)
    # Typing to the lobby is typing to everyone.
    ann.run(ann.client.switch("#lobby"))
    ann.clock.advance(1.25)
    ann.run(ann.client.typing("x"))
    assert ann.sent(p.Typing)[-1] == p.Typing(conversation="#lobby", active=True)

    ann.transport.deliver(p.TypingNotice(conversation="#go", nick="bob"))
    ann.transport.deliver(p.TypingNotice(conversation="bob", nick="bob"))
    ann.run([])
    assert ann.entry("#go").typing == ("bob",)
    ann.clock.advance(5.9)
    ann.run(ann.client.tick())
    assert ann.entry("#go").typing == ("bob",)
    ann.clock.advance(0.1)
    ann.run(ann.client.tick())
    assert ann.entry("#go").typing == ()


def test_typing_and_away_need_their_capabilities():
    ann = Scripted(PlayedHistory())  # history, but no rooms, typing or away
    ann.run(ann.client.typing("hello"))
    assert ann.sent(p.Typing) == []
    refused = ann.client.submit("/away lunch")
    assert not refused.accepted
    assert notices(refused.events) == ["this server does not keep away status"]
    refused = ann.client.submit("/join #go")
    assert notices(refused.events) == ["this server has no rooms besides #lobby"]


def test_away_and_back_show_in_the_list():
    rooms = PlayedRooms()
    rooms.away["cat"] = ("cat", "on holiday")
    ann = Scripted(PlayedHistory(), rooms)
    assert ann.listed().away == (("cat", "on holiday"),)
    ann.submit("/away lunch")
    assert ann.sent(p.SetAway)[-1] == p.SetAway(text="lunch")
    assert "you are away: lunch" in notices(ann.events)
    assert ann.listed().away == (("ann", "lunch"), ("cat", "on holiday"))
    ann.submit("/back")
    assert ann.listed().away == (("cat", "on holiday"),)
    new = ann.submit("@cat are you there?")
    assert "cat is away: on holiday" not in notices(new)  # only in cat's conversation
    ann.submit("/query cat")
    new = ann.submit("ping")
    assert "cat is away: on holiday" in notices(new)
    ann.transport.deliver(p.UserLeft(nick="cat"))
    ann.run([])
    assert ann.listed().away == ()


def test_leaving_and_being_kicked_take_the_room_away():
    history = PlayedHistory()
    history.add("bob", "rust talk", target="#rust")
    rooms = PlayedRooms()
    rooms.add("#rust", "ann", "bob")
    rooms.add("#go", "ann", "bob")
    ann = Scripted(history, rooms)
    ann.run(ann.client.switch("#rust"))
    ann.submit("/part bye all")
    assert ann.sent(p.PartRoom)[-1] == p.PartRoom(
        ref=ann.sent(p.PartRoom)[-1].ref, room="#rust", reason="bye all"
    )
    assert "you left #rust: bye all" in notices(ann.events)
    assert ann.names() == ["#lobby", "#go"]
    assert ann.listed().active == "#lobby"
    ann.transport.deliver(
        p.RoomEvent(room="#go", kind=p.RoomEventKind.KICKED, nick="ann", actor="bob")
    )
    ann.run([])
    assert ann.names() == ["#lobby"]
    assert notices(ann.events)[-1] == "you were kicked from #go by bob"
    # Back in: its history is fetched again.
    fetched = len(ann.sent(p.FetchHistory))
    ann.submit("/join #rust")
    assert ann.sent(p.FetchHistory)[fetched:][0].conversation == "#rust"


def test_room_commands_in_the_lobby_keep_their_server_wide_meaning():
    rooms = PlayedRooms()
    rooms.add("#go", "ann")
    ann = Scripted(PlayedHistory(), rooms)
    # In the lobby, /kick is the admins' (this server has no accounts).
    refused = ann.client.submit("/kick bob being rude")
    assert notices(refused.events) == ["fake:1 has no accounts or admins"]
    ann.run(ann.client.switch("#go"))
    ann.submit("/kick bob being rude")
    action = ann.sent(p.RoomAction)[-1]
    assert (action.room, action.action, action.target, action.text) == (
        "#go",
        p.RoomActionKind.KICK,
        "bob",
        "being rude",
    )
    refused = ann.client.submit("/ban bob 60 spam")
    assert not refused.accepted
    ann.submit("/topic fast builds")
    assert ann.entry("#go").topic == "fast builds"
    assert "topic of #go set" in notices(ann.events)
    new = ann.submit("/topic")
    assert notices(new) == ["the topic of #go: fast builds"]
    ann.submit("/rooms")
    assert notices(ann.events)[-1].startswith("Rooms:\n#lobby (1 online)\n#go")
    ann.submit("/members")
    assert notices(ann.events)[-1] == "1 in #go: ann"
    ann.run(ann.client.switch("#lobby"))
    ann.submit("/members")  # in the lobby: who is online
    assert isinstance(ann.events[-1], ev.UsersListed)


def test_after_a_reconnect_lines_land_in_their_conversations_and_lost_rooms_go():
    history = PlayedHistory()
    rooms = PlayedRooms()
    rooms.add("#go", "ann", "bob")
    rooms.add("#rust", "ann", "bob")
    ann = Scripted(history, rooms)
    ann.transport.drop()
    ann.run([])
    history.add("bob", "missed in go", target="#go")
    history.add("bob", "missed dm", target="ann")
    history.add("bob", "missed in lobby")
    del rooms.rooms[p.room_key("#rust")].members[p.nick_key("ann")]
    ann.clock.advance(60)
    new = ann.run(ann.client.tick())
    fetch = ann.sent(p.FetchHistory)[0]
    assert fetch.conversation is None  # catching up stays global
    assert [(line.text, line.conversation) for line in chat(new)] == [
        ("missed in go", "#go"),
        ("missed dm", "bob"),
        ("missed in lobby", "#lobby"),
    ]
    assert ann.names() == ["#lobby", "#go", "bob"]
    assert (ann.entry("#go").unread, ann.entry("bob").unread) == (1, 1)
    assert "you are no longer in #rust; type /join #rust to go back" in notices(new)


def _confirm(ann: Scripted, message: p.SendDirect | p.SendText, id_: int) -> None:
    target = message.target if isinstance(message, p.SendDirect) else None
    ann.transport.deliver(
        p.Delivered(
            id=id_,
            timestamp_ms=0,
            sender="ann",
            target=target,
            text=message.text,
            ref=message.ref,
        )
    )
    ann.run([])


def test_without_rooms_or_history_a_direct_conversation_still_works():
    ann = Scripted()  # version 2 without history: no rooms either
    ann.submit("/query bob hi there")
    (direct,) = ann.sent(p.SendDirect)
    assert (direct.target, direct.text) == ("bob", "hi there")
    _confirm(ann, direct, 1)
    ann.submit("and again")
    _confirm(ann, ann.sent(p.SendDirect)[-1], 2)
    assert ann.sent(p.FetchHistory) == []
    ann.run(ann.client.switch("#lobby"))
    ann.submit("to everyone")
    _confirm(ann, ann.sent(p.SendText)[-1], 3)
    ann.transport.deliver(
        p.Delivered(id=4, timestamp_ms=0, sender="bob", target="ann", text="yes?")
    )
    ann.run([])
    lines = chat(ann.events)
    assert [(line.conversation, line.text) for line in lines] == [
        ("bob", "hi there"),
        ("bob", "and again"),
        ("#lobby", "to everyone"),
        ("bob", "yes?"),
    ]
    assert ann.entry("bob").unread == 1


def test_set_lists_changes_and_saves_settings(tmp_path):
    path = tmp_path / "settings.toml"
    ann = Scripted(settings_path=path)
    assert ann.client.settings == ClientSettings()
    new = ann.submit("/set")
    (listing,) = notices(new)
    assert 'theme = "system"' in listing
    assert 'timestamps = "%H:%M"' in listing
    assert "notifications = on" in listing
    new = ann.submit("/set theme dark")
    assert (
        ev.SettingsChanged(theme="dark", timestamps="%H:%M", notifications=True) in new
    )
    assert load_settings(path).theme == "dark"
    ann.submit("/set timestamps %H:%M:%S")
    ann.submit("/set notifications off")
    assert load_settings(path) == ClientSettings(
        theme="dark", timestamps="%H:%M:%S", notifications=False
    )
    ann.submit("/set timestamps off")
    assert ann.client.settings.timestamps == ""
    assert notices(ann.submit("/set theme")) == ['theme = "dark"']
    for line, problem in (
        ("/set colour red", "there is no setting 'colour'"),
        ("/set theme purple", "the theme is one of system, light, dark"),
        ("/set notifications maybe", "notifications is on or off"),
        ("/set port 70000", "the port is a number from 1 to 65535"),
        ("/set timestamps " + "%H" * 30, "at most 40 characters"),
    ):
        refused = ann.client.submit(line)
        assert not refused.accepted, line
        (notice,) = [e for e in refused.events if isinstance(e, ev.Notice)]
        assert notice.level is ev.NoticeLevel.ERROR
        assert problem in notice.text
    assert load_settings(path).theme == "dark"
    # The settings dialog's way.
    events = ann.client.change_setting("notifications", True)
    assert events == [
        ev.SettingsChanged(theme="dark", timestamps="", notifications=True)
    ]
    assert ann.client.change_setting("theme", 3)[0].level is ev.NoticeLevel.ERROR


def test_a_setting_that_cannot_be_saved_still_applies(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    ann = Scripted(settings_path=blocker / "settings.toml")
    events = ann.client.change_setting("theme", "light")
    assert events[0] == ev.SettingsChanged(
        theme="light", timestamps="%H:%M", notifications=True
    )
    assert isinstance(events[1], ev.Notice)
    assert "could not save the settings" in events[1].text
    assert ann.client.settings.theme == "light"


def test_help_lists_the_new_commands():
    ann = Scripted()
    (text,) = notices(ann.submit("/help"))
    for usage in (
        "/join #room",
        "/part [#room] [reason]",
        "/rooms",
        "/topic [text]",
        "/members",
        "/invite <nick>",
        "/op <nick>",
        "/deop <nick>",
        "/invite-only",
        "/open",
        "/me <action>",
        "/away [reason]",
        "/back",
        "/close",
        "/query <nick> [text]",
        "/set [setting] [value]",
    ):
        assert usage in text


def test_tab_completes_room_names():
    rooms = PlayedRooms()
    rooms.add("#rustaceans", "ann")
    ann = Scripted(PlayedHistory(), rooms)
    assert ann.session.complete("/part #ru") == "/part #rustaceans "
