"""The conversation list, the room desk and typing pacing, without any I/O (issue 15)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from clients.core import commands as c
from clients.core import events as ev
from clients.core.conversations import TYPING_EXPIRY, Conversations
from clients.core.formatting import nick_colour
from clients.core.rooms import RoomDesk, TypingPacer

ROOM = ev.ConversationKind.ROOM
DIRECT = ev.ConversationKind.DIRECT
_ids = itertools.count(1)


def line(
    conversation: str = "#lobby", sender: str = "bob", **overrides: Any
) -> ev.ChatLine:
    fields: dict[str, Any] = {
        "id": next(_ids), "timestamp_ms": 0, "sender": sender, "target": None,
        "text": "hi", "is_own": False, "is_direct": False, "mentions_me": False,
        "conversation": conversation,
    }  # fmt: skip
    fields.update(overrides)
    return ev.ChatLine(**fields)


def dm(sender: str, **overrides: Any) -> ev.ChatLine:
    return line(sender, sender, target="ann", is_direct=True, **overrides)


def entry(conversations: Conversations, name: str) -> ev.Conversation:
    snapshot = conversations.snapshot()
    return next(c for c in snapshot.conversations if c.name == name)


def names(conversations: Conversations) -> list[str]:
    return [c.name for c in conversations.snapshot().conversations]


def joined(conversations: Conversations, *rooms: str, role: int = 0) -> None:
    for room in rooms:
        conversations.joined_room(room, topic="", invite_only=False, role=role)


# --- the list ---------------------------------------------------------------------------


def test_a_new_list_is_the_lobby_alone_and_active():
    conversations = Conversations()
    snapshot = conversations.snapshot()
    assert snapshot == ev.ConversationsChanged(
        conversations=(ev.Conversation(name="#lobby", kind=ev.ConversationKind.LOBBY),),
        active="#lobby",
    )
    assert conversations.target() is None


def test_order_is_lobby_then_rooms_by_name_then_direct_by_last_activity():
    conversations = Conversations()
    joined(conversations, "#zed", "#Alpha", "#mid")
    conversations.add_line(dm("cat"))
    conversations.add_line(dm("bob"))
    conversations.open_direct("dan")
    assert names(conversations) == [
        "#lobby",
        "#Alpha",
        "#mid",
        "#zed",
        "dan",
        "bob",
        "cat",
    ]
    conversations.add_line(dm("cat"))
    assert names(conversations)[-3:] == ["cat", "dan", "bob"]


def test_unread_and_highlight_count_only_where_the_user_is_not():
    conversations = Conversations()
    joined(conversations, "#rust")
    conversations.add_line(line("#lobby"))  # active: read already
    conversations.add_line(line("#rust"))
    conversations.add_line(line("#rust", sender="ann", is_own=True))  # ours
    assert entry(conversations, "#rust").unread == 1
    assert not entry(conversations, "#rust").highlight
    conversations.add_line(line("#rust", mentions_me=True))
    conversations.add_line(dm("bob"))
    assert (
        entry(conversations, "#rust").unread,
        entry(conversations, "#rust").highlight,
    ) == (2, True)
    assert (
        entry(conversations, "bob").unread,
        entry(conversations, "bob").highlight,
    ) == (1, True)
    assert entry(conversations, "#lobby").unread == 0
    assert conversations.switch("#RUST") == "#rust"
    assert (
        entry(conversations, "#rust").unread,
        entry(conversations, "#rust").highlight,
    ) == (0, False)
    assert conversations.target() == "#rust"


def test_old_pages_do_not_count_as_unread():
    conversations = Conversations()
    joined(conversations, "#rust")
    conversations.add_line(line("#rust"), news=False)
    assert entry(conversations, "#rust").unread == 0


def test_closing_hides_until_a_line_arrives_and_then_counts_it():
    conversations = Conversations()
    conversations.add_line(dm("bob"))
    conversations.switch("bob")
    assert conversations.close("bob") is None
    assert names(conversations) == ["#lobby"]
    assert conversations.active == "#lobby"
    conversations.add_line(dm("bob"))
    assert names(conversations) == ["#lobby", "bob"]
    assert entry(conversations, "bob").unread == 1
    assert conversations.close("#lobby") == "#lobby cannot be closed"
    assert conversations.close("nobody") == "there is no conversation nobody"


def test_switching_to_a_closed_conversation_opens_it_again():
    conversations = Conversations()
    joined(conversations, "#rust")
    conversations.close("#rust")
    assert names(conversations) == ["#lobby"]
    assert conversations.switch("#rust") == "#rust"
    assert names(conversations) == ["#lobby", "#rust"]
    assert conversations.switch("#nowhere") is None
    assert conversations.switch_to(2) == "#rust"
    assert conversations.switch_to(3) is None
    assert conversations.switch_to(0) is None


def test_members_come_from_the_roster_rooms_and_leavers():
    conversations = Conversations()
    conversations.set_roster(["bob", "ann", "Cat"])
    joined(conversations, "#rust")
    conversations.room_members("#rust", ["bob", "ann"])
    conversations.member_joined("#rust", "Cat")
    conversations.open_direct("bob")
    conversations.open_direct("dan")
    assert entry(conversations, "#lobby").members == ("ann", "bob", "Cat")
    assert entry(conversations, "#rust").members == ("ann", "bob", "Cat")
    assert entry(conversations, "bob").members == ("bob",)
    assert entry(conversations, "dan").members == ()  # offline
    conversations.user_left("BOB")
    conversations.set_roster(["ann", "Cat"])
    assert entry(conversations, "#rust").members == ("ann", "Cat")
    assert entry(conversations, "bob").members == ()
    conversations.member_gone("#rust", "cat")
    assert entry(conversations, "#rust").members == ("ann",)


def test_a_rename_follows_the_nick_everywhere_and_merges_direct_conversations():
    conversations = Conversations()
    joined(conversations, "#rust")
    conversations.room_members("#rust", ["bob"])
    conversations.add_line(dm("bob"))
    conversations.add_line(dm("robert"))
    conversations.switch("bob")
    conversations.away_changed("bob", "lunch")
    conversations.renamed("bob", "robert")
    assert entry(conversations, "#rust").members == ("robert",)
    assert names(conversations) == ["#lobby", "#rust", "robert"]
    assert conversations.active == "robert"
    assert conversations.snapshot().away == (("robert", "lunch"),)


def test_typing_shows_until_stopped_a_line_or_six_seconds():
    conversations = Conversations()
    joined(conversations, "#rust")
    conversations.typing_notice("#rust", "bob", True, now=100.0)
    conversations.typing_notice("#rust", "amy", True, now=101.0)
    assert entry(conversations, "#rust").typing == ("amy", "bob")
    conversations.expire(100.0 + TYPING_EXPIRY - 0.1)
    assert entry(conversations, "#rust").typing == ("amy", "bob")
    conversations.expire(100.0 + TYPING_EXPIRY)
    assert entry(conversations, "#rust").typing == ("amy",)
    conversations.add_line(line("#rust", sender="amy"))
    assert entry(conversations, "#rust").typing == ()
    conversations.typing_notice("#rust", "bob", True, now=200.0)
    conversations.typing_notice("#rust", "bob", False, now=200.5)
    assert entry(conversations, "#rust").typing == ()
    # A renewed notice pushes the expiry on.
    conversations.typing_notice("#rust", "bob", True, now=300.0)
    conversations.typing_notice("#rust", "bob", True, now=305.0)
    conversations.expire(309.0)
    assert entry(conversations, "#rust").typing == ("bob",)
    # Nowhere to show it: a room we are not in, a direct conversation not open.
    conversations.typing_notice("#go", "bob", True, now=310.0)
    conversations.typing_notice("eve", "eve", True, now=310.0)
    assert names(conversations) == ["#lobby", "#rust"]


def test_a_room_left_goes_and_the_lobby_becomes_active():
    conversations = Conversations()
    joined(conversations, "#rust")
    conversations.switch("#rust")
    assert conversations.remove_room("#RUST")
    assert names(conversations) == ["#lobby"]
    assert conversations.active == "#lobby"
    assert not conversations.remove_room("#rust")
    assert not conversations.remove_room("#lobby")


def test_after_a_reconnect_rooms_not_given_back_are_dropped():
    conversations = Conversations()
    joined(conversations, "#go", "#rust")
    conversations.away_changed("bob", "lunch")
    conversations.connection_lost()
    assert conversations.snapshot().away == ()
    joined(conversations, "#rust")
    assert conversations.restore_done() == ["#go"]
    assert names(conversations) == ["#lobby", "#rust"]
    assert conversations.restore_done() == []


def test_news_reports_each_change_once():
    conversations = Conversations()
    first = conversations.news()
    assert first is not None
    assert conversations.news() is None
    conversations.set_roster([])  # a change that changes nothing shown
    assert conversations.news() is None
    joined(conversations, "#rust")
    assert conversations.news() is not None


def test_where_a_message_belongs():
    conversations = Conversations()
    joined(conversations, "#Rust")
    conversations.open_direct("Bob")
    where = conversations.conversation_of
    assert where("bob", None, "ann") == "#lobby"
    assert where("bob", "#rust", "ann") == "#Rust"
    assert where("bob", "ann", "ann") == "Bob"
    assert where("ann", "BOB", "ann") == "Bob"
    assert where("cat", "ann", "ann") == "cat"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["#lobby", "#rust", "#rusty-old", "#trust", "bob", "robert"]),
        ("rust", ["#rust", "#rusty-old", "#trust"]),
        ("RST", ["#rust", "#rusty-old", "#trust"]),
        ("bo", ["bob"]),
        ("b", ["bob", "robert", "#lobby"]),
        ("rbt", ["robert"]),
        ("zzz", []),
    ],
)
def test_fuzzy_find_puts_tight_early_short_matches_first(query, expected):
    conversations = Conversations()
    joined(conversations, "#rust", "#trust", "#rusty-old")
    conversations.add_line(dm("robert"))
    conversations.add_line(dm("bob"))
    conversations.close("robert")  # closed ones are found too
    assert conversations.find(query) == expected


# --- any sequence of events ---------------------------------------------------------------

_nicks = st.sampled_from(["bob", "Bob", "cat", "dan"])
_rooms = st.sampled_from(["#rust", "#Go", "#go", "#lobby"])
_places = st.one_of(_nicks, _rooms)
_steps = st.one_of(
    st.tuples(st.just("line"), _places, _nicks, st.booleans(), st.booleans()),
    st.tuples(st.just("join"), _rooms),
    st.tuples(st.just("remove"), _rooms),
    st.tuples(st.just("switch"), _places),
    st.tuples(st.just("switch_to"), st.integers(-1, 6)),
    st.tuples(st.just("close"), _places),
    st.tuples(st.just("open"), _nicks),
    st.tuples(st.just("typing"), _places, _nicks, st.booleans()),
    st.tuples(st.just("tick"), st.floats(0, 10)),
    st.tuples(st.just("left"), _nicks),
    st.tuples(st.just("renamed"), _nicks, _nicks),
    st.tuples(st.just("lost")),
    st.tuples(st.just("restored")),
    st.tuples(st.just("away"), _nicks, st.sampled_from(["", "lunch"])),
)


def _play(conversations: Conversations, step: tuple[Any, ...], now: float) -> None:  # noqa: C901, PLR0912 - one arm per step
    match step:
        case ("line", place, sender, own, mention):
            if place.startswith("#"):
                if (
                    p.room_key(place) != p.room_key("#lobby")
                    and conversations.find_name(place) is None
                ):
                    return  # the server sends room lines only to members
                conversation = conversations.find_name(place) or place
                target = None if conversation == "#lobby" else conversation
            else:
                conversation, target = (
                    conversations.conversation_of(place, "ann", "ann"),
                    "ann",
                )
            conversations.add_line(
                line(conversation, sender, target=target, is_own=own,
                     mentions_me=mention, is_direct=target is not None and target == "ann")
            )  # fmt: skip
        case ("join", room):
            if p.room_key(room) != p.room_key("#lobby"):
                joined(conversations, room)
        case ("remove", room):
            conversations.remove_room(room)
        case ("switch", place):
            conversations.switch(place)
        case ("switch_to", index):
            conversations.switch_to(index)
        case ("close", place):
            conversations.close(place)
        case ("open", nick):
            conversations.open_direct(nick)
        case ("typing", place, nick, active):
            conversations.typing_notice(place, nick, active, now)
        case ("tick", _):
            conversations.expire(now)
        case ("left", nick):
            conversations.user_left(nick)
        case ("renamed", old, new):
            conversations.renamed(old, new)
        case ("lost",):
            conversations.connection_lost()
        case ("restored",):
            conversations.restore_done()
        case ("away", nick, text):
            conversations.away_changed(nick, text)


@given(steps=st.lists(_steps, max_size=60))
def test_any_sequence_keeps_the_list_sound(steps):
    conversations = Conversations()
    now = 0.0
    for step in steps:
        if step[0] == "tick":
            now += step[1]
        _play(conversations, step, now)
        snapshot = conversations.snapshot()
        listed = snapshot.conversations
        assert listed[0].name == "#lobby"
        assert listed[0].kind is ev.ConversationKind.LOBBY
        assert all(c.kind is not ev.ConversationKind.LOBBY for c in listed[1:])
        assert all(c.unread >= 0 for c in listed)
        assert all(c.unread > 0 or not c.highlight for c in listed)
        active = [c for c in listed if c.name == snapshot.active]
        assert len(active) == 1
        assert active[0].unread == 0
        keys = [(c.kind, p.nick_key(c.name.lstrip("#"))) for c in listed]
        assert len(keys) == len(set(keys)), "a conversation listed twice"
        rooms = [c.name for c in listed if c.kind is ROOM]
        assert rooms == sorted(rooms, key=p.room_key)


# --- the room desk ------------------------------------------------------------------------


def desk() -> tuple[RoomDesk, Conversations]:
    conversations = Conversations()
    refs = itertools.count(1)
    return RoomDesk(conversations, lambda: next(refs)), conversations


CAPS = frozenset({p.CAP_ROOMS, p.CAP_AWAY, p.CAP_TYPING})


def test_joining_goes_to_the_room_and_shows_its_topic_and_members():
    rooms, conversations = desk()
    request = rooms.plan(c.EnterRoom("#rust"), CAPS).send
    assert request == p.JoinRoom(ref=1, room="#rust")
    step = rooms.received(
        p.RoomJoined(ref=1, room="#rust", topic="crabs", role=p.RoomRole.OWNER),
        "ann",
        0,
    )
    assert step.entered == "#rust"
    assert step.events == [
        ev.Notice("you are in #rust; the topic is: crabs", conversation="#rust")
    ]
    assert (
        rooms.received(
            p.RoomMembers(ref=1, room="#rust", nicks=("ann",), final=False), "ann", 0
        ).events
        == []
    )
    rooms.received(p.RoomMembers(ref=1, room="#rust", nicks=("bob",)), "ann", 0)
    assert entry(conversations, "#rust") == ev.Conversation(
        name="#rust", kind=ROOM, topic="crabs", members=("ann", "bob"), role="owner"
    )


def test_rooms_given_at_login_are_listed_without_going_there():
    rooms, conversations = desk()
    step = rooms.received(
        p.RoomJoined(ref=0, room="#go", role=p.RoomRole.MEMBER), "ann", 0
    )
    assert step.entered is None
    assert step.events == [ev.Notice("you are in #go", conversation="#go")]
    assert conversations.active == "#lobby"
    # Given again after a reconnect: nothing to say.
    again = p.RoomJoined(ref=0, room="#go", role=p.RoomRole.MEMBER)
    assert rooms.received(again, "ann", 0).events == []


@pytest.mark.parametrize(
    ("event", "text", "where"),
    [
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.JOINED, nick="bob"), "bob joined #rust", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.LEFT, nick="bob", text="bye"), "bob left #rust: bye", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.KICKED, nick="bob", actor="ann", text="spam"),
         "bob was kicked from #rust by ann: spam", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.BANNED, nick="bob", actor="ann"),
         "bob was banned from #rust by ann", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.TOPIC, nick="bob", text="crabs"),
         "bob set the topic: crabs", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.TOPIC, nick="bob"), "bob cleared the topic", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.ROLE, nick="bob", actor="ann", text="operator"),
         "ann made bob an operator of #rust", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.INVITE_ONLY, nick="bob"), "bob made #rust invite-only", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.OPEN, nick="bob"), "bob opened #rust to everyone", "#rust"),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.INVITED, nick="cat", actor="bob"), "bob invited cat to #rust", "#rust"),
        (p.RoomEvent(room="#go", kind=p.RoomEventKind.INVITED, nick="ann", actor="bob"),
         "bob invited you to #go; type /join #go to go in", None),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.KICKED, nick="ann", actor="bob", text="spam"),
         "you were kicked from #rust by bob: spam", None),
        (p.RoomEvent(room="#rust", kind=p.RoomEventKind.LEFT, nick="ann"), "you left #rust", None),
    ],
)  # fmt: skip
def test_room_events_become_notices_in_their_room(event, text, where):
    rooms, conversations = desk()
    joined(conversations, "#rust")
    conversations.room_members("#rust", ["ann", "bob"])
    step = rooms.received(event, "ann", 0)
    assert step.events == [ev.Notice(text, conversation=where)]


def test_being_removed_from_a_room_drops_it():
    rooms, conversations = desk()
    joined(conversations, "#rust")
    conversations.switch("#rust")
    event = p.RoomEvent(
        room="#rust", kind=p.RoomEventKind.BANNED, nick="ann", actor="bob"
    )
    step = rooms.received(event, "ann", 0)
    assert step.left == "#rust"
    assert names(conversations) == ["#lobby"]
    assert conversations.active == "#lobby"
    # Events about rooms we are not in are ignored.
    assert (
        rooms.received(
            p.RoomEvent(room="#rust", kind=p.RoomEventKind.JOINED, nick="x"), "ann", 0
        ).events
        == []
    )


def test_my_role_and_the_topic_follow_room_events():
    rooms, conversations = desk()
    joined(conversations, "#rust")
    rooms.received(
        p.RoomEvent(
            room="#rust",
            kind=p.RoomEventKind.ROLE,
            nick="ann",
            actor="bob",
            text="operator",
        ),
        "ann",
        0,
    )
    rooms.received(
        p.RoomEvent(room="#rust", kind=p.RoomEventKind.TOPIC, nick="bob", text="new"),
        "ann",
        0,
    )
    assert (
        entry(conversations, "#rust").role,
        entry(conversations, "#rust").topic,
    ) == ("operator", "new")
    rooms.received(
        p.RoomEvent(
            room="#rust",
            kind=p.RoomEventKind.ROLE,
            nick="ann",
            actor="bob",
            text="member",
        ),
        "ann",
        0,
    )
    assert entry(conversations, "#rust").role == ""
    # The lobby's topic (set by an admin) is shown too.
    rooms.received(
        p.RoomEvent(
            room="#lobby", kind=p.RoomEventKind.TOPIC, nick="root", text="welcome"
        ),
        "ann",
        0,
    )
    assert entry(conversations, "#lobby").topic == "welcome"


def test_answers_and_refusals_name_what_was_asked():
    rooms, conversations = desk()
    joined(conversations, "#rust")
    conversations.switch("#rust")
    kick = rooms.plan(c.Moderation(p.ModerationAction.KICK, "bob", "spam"), CAPS).send
    assert kick == p.RoomAction(
        ref=1, room="#rust", action=p.RoomActionKind.KICK, target="bob", text="spam"
    )
    assert rooms.moderated(1, "bob kicked from #rust") == ev.Notice(
        "bob kicked from #rust", conversation="#rust"
    )
    assert rooms.moderated(1, "again") is None
    rooms.plan(c.RoomModeration(p.RoomActionKind.OPERATOR, "bob"), CAPS)
    assert rooms.refused(2, "you are not allowed") == ev.Notice(
        "could not make bob an operator of #rust: you are not allowed",
        ev.NoticeLevel.ERROR,
        "#rust",
    )
    assert rooms.refused(2, "twice") is None
    rooms.plan(c.EnterRoom("#go"), CAPS)
    assert rooms.refused(3, "banned") == ev.Notice(
        "could not join #go: banned", ev.NoticeLevel.ERROR
    )


def test_listing_rooms_and_members():
    rooms, conversations = desk()
    joined(conversations, "#rust")
    conversations.switch("#rust")
    assert rooms.plan(c.ShowRooms(), CAPS).send == p.ListRooms(ref=1)
    assert (
        rooms.received(
            p.RoomInfo(ref=1, room="#lobby", members=3, final=False), "ann", 0
        ).events
        == []
    )
    (listing,) = rooms.received(
        p.RoomInfo(ref=1, room="#rust", members=1, topic="crabs", invite_only=True),
        "ann",
        0,
    ).events
    assert listing == ev.Notice(
        "Rooms:\n#lobby (3 online)\n#rust (1 online, invite-only): crabs\n"
        "Type /join #name to join one, or to make a new one."
    )
    assert rooms.plan(c.ShowMembers(), CAPS).send == p.ListMembers(ref=2, room="#rust")
    (members,) = rooms.received(
        p.RoomMembers(ref=2, room="#rust", nicks=("ann", "bob")), "ann", 0
    ).events
    assert members == ev.Notice("2 in #rust: ann, bob", conversation="#rust")


@pytest.mark.parametrize(
    ("command", "caps", "refusal"),
    [
        (c.EnterRoom("#rust"), frozenset(), "this server has no rooms besides #lobby"),
        (c.GoAway(""), frozenset(), "this server does not keep away status"),
        (c.EnterRoom("#Lobby"), CAPS, "everyone is in #lobby already"),
        (c.LeaveRoom(None, ""), CAPS, "which room? usage: /part #room [reason]"),
        (c.LeaveRoom("#lobby", ""), CAPS, "#lobby cannot be left"),
        (
            c.ShowMembers(),
            CAPS,
            "/members lists who is in a room; /users who is online",
        ),
        (
            c.RoomModeration(p.RoomActionKind.OPEN),
            CAPS,
            "go to the room first: that works in a room",
        ),
    ],
)
def test_room_commands_refused_where_they_make_no_sense(command, caps, refusal):
    rooms, _ = desk()
    assert rooms.plan(command, caps).refusal == refusal


def test_away_and_back():
    rooms, conversations = desk()
    assert rooms.plan(c.GoAway(""), CAPS).send == p.SetAway(text="away")
    assert rooms.plan(c.GoAway("lunch"), CAPS).send == p.SetAway(text="lunch")
    assert rooms.plan(c.ComeBack(), CAPS).send == p.SetAway(text="")
    assert rooms.received(p.AwayChanged(nick="ann", text="lunch"), "ann", 0).events == [
        ev.Notice("you are away: lunch")
    ]
    assert rooms.received(p.AwayChanged(nick="bob", text="zzz"), "ann", 0).events == []
    assert conversations.snapshot().away == (("ann", "lunch"), ("bob", "zzz"))
    rooms.received(p.AwayChanged(nick="ann", text=""), "ann", 0)
    assert conversations.snapshot().away == (("bob", "zzz"),)


# --- typing, paced --------------------------------------------------------------------------


def test_typing_is_told_every_three_seconds_and_stopped_once():
    pacer = TypingPacer()
    start = [p.Typing(conversation="#rust", active=True)]
    stop = [p.Typing(conversation="#rust", active=False)]
    assert pacer.changed("#rust", "h", 10.0) == start
    assert pacer.changed("#rust", "he", 11.0) == []
    assert pacer.changed("#rust", "hel", 12.9) == []
    assert pacer.changed("#rust", "hell", 13.0) == start
    assert pacer.changed("#rust", "", 14.5) == stop
    assert pacer.changed("#rust", "", 16.0) == []  # said once
    assert pacer.changed("#rust", "/join #go", 20.0) == []  # a command is not typing
    assert pacer.changed("#rust", "/me waves", 21.0) == start
    pacer.sent("#rust")  # the line ends it: no stop needed
    assert pacer.changed("#rust", "", 22.0) == []


def test_typing_notices_are_a_second_apart_and_a_stop_waits_its_turn():
    pacer = TypingPacer()
    assert pacer.changed("#rust", "h", 10.0) == [
        p.Typing(conversation="#rust", active=True)
    ]
    assert pacer.changed("#rust", "", 10.2) == []  # the server would drop it now
    assert pacer.due(11.2) == []  # a little over the server's second
    assert pacer.due(11.25) == [p.Typing(conversation="#rust", active=False)]
    assert pacer.due(12.0) == []
    # Typing again before a waiting stop went: the stop is no longer needed.
    pacer.changed("bob", "x", 20.0)
    pacer.changed("bob", "", 20.1)
    assert pacer.changed("bob", "xy", 20.2) == []
    assert pacer.due(25.0) == []
    # A start that never went needs no stop.
    pacer.changed("#go", "a", 30.0)
    pacer.changed("#rust", "a", 30.1)
    assert pacer.changed("#rust", "", 30.2) == []
    assert pacer.due(40.0) == []
    # Going elsewhere stops it; a new connection forgets everything.
    pacer.changed("#go", "b", 50.0)
    assert pacer.stopped("#go", 51.25) == [p.Typing(conversation="#go", active=False)]
    pacer.changed("#go", "c", 60.0)
    pacer.reset()
    assert pacer.stopped("#go", 61.0) == []


# --- nick colours ------------------------------------------------------------------------------


def test_nick_colours_are_stable_across_runs_and_ignore_case():
    # Fixed values: a hash that changed between runs (Python's hash() is
    # salted per process) would give each nick a new colour every start.
    assert [nick_colour(n, 16) for n in ("ann", "bob", "cat", "Zoë")] == [
        nick_colour("ANN", 16), nick_colour("Bob", 16), nick_colour("CAT", 16), nick_colour("zoë", 16),
    ]  # fmt: skip
    assert {nick_colour(f"user{n}", 8) for n in range(200)} == set(range(8))
    assert all(0 <= nick_colour(f"n{n}", 5) < 5 for n in range(50))
    assert nick_colour("anyone", 1) == 0
    with pytest.raises(ValueError, match="at least one colour"):
        nick_colour("ann", 0)


def test_nick_colour_golden_values():
    # Pinned: changing the hash would recolour everyone for every user.
    assert [nick_colour(n, 12) for n in ("ann", "bob", "cat", "dan", "eve")] == [
        1, 10, 3, 9, 2,
    ]  # fmt: skip


def test_falling_back_to_the_lobby_reads_it():
    conversations = Conversations()
    joined(conversations, "#rust", "#go")
    conversations.switch("#rust")
    conversations.add_line(line("#lobby"))
    assert entry(conversations, "#lobby").unread == 1
    conversations.close("#rust")  # the lobby is in view now
    assert conversations.active == "#lobby"
    assert entry(conversations, "#lobby").unread == 0
    conversations.switch("#go")
    conversations.add_line(line("#lobby", mentions_me=True))
    conversations.remove_room("#go")
    assert (
        entry(conversations, "#lobby").unread,
        entry(conversations, "#lobby").highlight,
    ) == (0, False)
