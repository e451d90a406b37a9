"""A hypothesis state machine drives ChatSession through connects, drops,
typed lines and server messages; whatever happens, nothing raises, every byte
sent is a legal client frame, the session's state stays coherent, and every
line the user sent is shown pending until it is confirmed or given up."""

from __future__ import annotations

import random

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import protocol as p
from clients.core import events as ev
from clients.core.session import ChatSession, Output
from clients.core.testing import ManualClock

nicks = st.sampled_from(["ann", "bob", "Cat", "dän", "eve_1"])
lines = st.one_of(
    st.text(max_size=30),
    st.builds(lambda n, t: f"@{n} {t}", nicks, st.text(max_size=10)),
    st.sampled_from(
        [
            "/help",
            "/users",
            "/clear",
            "/nick zed",
            "/nick a b",
            "/msg",
            "@",
            "/bogus",
            "//x",
            "/reconnect",
            "two\nlines",
            "/history",
            "/history 3",
            "/search lunch",
            "/join #rust",
            "/join #Go",
            "/part",
            "/part #go bye",
            "/rooms",
            "/members",
            "/topic crabs",
            "/topic",
            "/op bob",
            "/kick bob",
            "/ban bob 5",
            "/invite-only",
            "/me waves",
            "/away lunch",
            "/back",
            "/close",
            "/query bob",
            "/query Cat hi",
            "/set",
            "/set theme dark",
        ]
    ),
)
rooms = st.sampled_from(["#rust", "#go", "#Go", "#lobby"])
places = st.one_of(rooms, nicks)
server_messages = st.one_of(
    st.builds(p.Delivered, id=st.integers(0, 99), timestamp_ms=st.just(0), sender=nicks,
              target=st.none() | nicks, text=st.text(min_size=1, max_size=20), ref=st.integers(0, 5)),
    st.builds(p.UserJoined, nick=nicks),
    st.builds(p.UserLeft, nick=nicks, reason=st.just("quit")),
    st.builds(p.NickChanged, old=nicks, new=nicks),
    st.builds(p.UserList, nicks=st.lists(nicks, max_size=4).map(tuple), final=st.booleans()),
    st.builds(p.Ping, payload=st.binary(max_size=4)),
    st.builds(p.Error, code=st.sampled_from(p.ErrorCode), text=st.just("nope"), ref=st.integers(0, 5)),
    st.builds(p.Recalled, ref=st.integers(0, 8), id=st.integers(1, 99), timestamp_ms=st.integers(0, 2**40),
              sender=nicks, target=st.none() | nicks, text=st.text(min_size=1, max_size=20)),
    st.builds(p.HistoryEnd, ref=st.integers(0, 8), count=st.integers(0, 3), more=st.booleans()),
    st.builds(p.Delivered, id=st.integers(0, 99), timestamp_ms=st.just(0), sender=nicks,
              target=rooms, text=st.text(min_size=1, max_size=20), ref=st.integers(0, 5)),
    st.builds(p.RoomJoined, ref=st.integers(0, 8), room=rooms.filter(lambda r: r != "#lobby"),
              topic=st.text(max_size=5), role=st.sampled_from(p.RoomRole)),
    st.builds(p.RoomMembers, ref=st.integers(0, 8), room=rooms, nicks=st.lists(nicks, max_size=3).map(tuple),
              final=st.booleans()),
    st.builds(p.RoomInfo, ref=st.integers(0, 8), room=rooms, members=st.integers(0, 3), final=st.booleans()),
    st.builds(p.RoomEvent, room=rooms, kind=st.sampled_from(p.RoomEventKind), nick=nicks, actor=nicks,
              text=st.sampled_from(["", "operator", "member", "why"])),
    st.builds(p.Moderated, ref=st.integers(0, 8), text=st.just("done")),
    st.builds(p.TypingNotice, conversation=places, nick=nicks, active=st.booleans()),
    st.builds(p.AwayChanged, nick=nicks, text=st.sampled_from(["", "lunch"])),
)  # fmt: skip


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.session = ChatSession(
            nick="ann", server="t:1", clock=self.clock, rng=random.Random(0)
        )
        self.server: p.Connection | None = None
        self.wants_connect = False
        self.pending: set[int] = set()
        self.listed: ev.ConversationsChanged | None = None
        self.apply(self.session.start())

    def apply(self, out: Output) -> None:
        if out.data:
            assert self.server is not None, "bytes to send with no connection"
            for message in self.server.receive_data(out.data):
                assert not isinstance(message, p.Rejected)
        if out.disconnect:
            self.server = None
        if out.connect:
            self.server = None
            self.wants_connect = True
        for event in out.events:
            assert isinstance(event, ev.ChatLine | ev.Notice | ev.Joined | ev.Left | ev.Renamed | ev.UsersListed
                              | ev.RosterChanged | ev.ConnectionChanged | ev.ClearRequested | ev.ExitRequested
                              | ev.Pending | ev.PendingDone | ev.DaySeparator | ev.UnreadMarker
                              | ev.EarlierLines | ev.SearchResults | ev.Context
                              | ev.ConversationsChanged)  # fmt: skip
            if isinstance(event, ev.Pending):
                self.pending.add(event.local_id)
            elif isinstance(event, ev.PendingDone):
                self.pending.remove(event.local_id)
            elif isinstance(event, ev.ConversationsChanged):
                self.listed = event

    @precondition(lambda self: self.wants_connect)
    @rule(
        nick=nicks,
        sessions=st.booleans(),
        history=st.booleans(),
        last_ref=st.integers(0, 8),
    )
    def connect_and_welcome(self, nick, sessions, history, last_ref):
        self.wants_connect = False
        self.server = p.Connection(p.Role.SERVER)
        self.apply(self.session.connected())
        if sessions:
            caps = (
                ("away", "history", "limits", "rooms", "session", "typing")
                if history
                else ("limits", "session")
            )
            data = self.server.send(
                p.Welcome(version=2, nick=nick, server_name="t", capabilities=caps)
            ) + self.server.send(p.SessionToken(token=b"t", last_ref=last_ref))
        else:
            data = self.server.send(p.Welcome(version=1, nick=nick, server_name="t"))
        self.apply(self.session.received(data))

    @precondition(
        lambda self: self.server is not None and self.server.state is p.State.OPEN
    )
    @rule(message=server_messages)
    def server_says(self, message):
        assert self.server is not None
        self.apply(self.session.received(self.server.send(message)))

    @precondition(lambda self: self.server is not None)
    @rule()
    def connection_drops(self):
        self.server = None
        self.apply(self.session.closed("reset"))

    @rule(line=lines)
    def user_types(self, line):
        self.apply(self.session.submit(line))

    @rule(
        what=st.sampled_from(["earlier", "search", "context"]), at=st.integers(-1, 99)
    )
    def user_browses_history(self, what, at):
        match what:
            case "earlier":
                self.apply(self.session.load_earlier())
            case "search":
                self.apply(self.session.search(f"word{at}"))
            case _:
                self.apply(self.session.show_context(at))

    @rule(
        what=st.sampled_from(["switch", "switch_to", "close", "find", "typing"]),
        place=places,
        index=st.integers(-1, 5),
        text=st.sampled_from(["", "h", "hello", "/join", "/me x"]),
    )
    def user_moves_around(self, what, place, index, text):
        match what:
            case "switch":
                self.apply(self.session.switch(place))
            case "switch_to":
                self.apply(self.session.switch_to(index))
            case "close":
                self.apply(self.session.close_conversation(place))
            case "find":
                found = self.session.find_conversations(place[:2])
                listed = [c.name for c in self.session.conversations.conversations]
                assert set(found) >= {
                    n for n in listed if place[:2].casefold() in n.casefold()
                }
            case _:
                self.apply(self.session.typing(text))

    @rule(seconds=st.floats(0, 40))
    def time_passes(self, seconds):
        self.clock.advance(seconds)
        self.apply(self.session.tick())

    @invariant()
    def coherent(self):
        status = self.session.status
        if status is ev.ConnectionStatus.CONNECTED:
            assert self.server is not None
        roster = self.session.roster
        assert len({p.nick_key(n) for n in roster}) == len(roster)
        assert self.session.nick
        # The UI was told the list as it is, lobby first, the active one in it
        # and read.
        assert self.listed == self.session.conversations
        listed = self.listed.conversations
        assert listed[0].name == "#lobby"
        assert all(c.unread >= 0 for c in listed)
        (active,) = [c for c in listed if c.name == self.listed.active]
        assert active.unread == 0
        if self.session.catching_up:
            # A confirmation waits with its line until the catch-up is done.
            assert len(self.pending) >= self.session.unconfirmed
        else:
            assert len(self.pending) == self.session.unconfirmed


TestSessionMachine = SessionMachine.TestCase
