"""ChatSession with stored history (issue 14): a server-side Connection, or a
scripted server (`PlayedHistory`), plays the server."""

from __future__ import annotations

import queue
import random

import pytest

import protocol as p
from clients.core import commands as c
from clients.core import events as ev
from clients.core.client import ChatClient
from clients.core.session import ChatSession, Output
from clients.core.testing import (
    FakeTransport,
    ManualClock,
    PlayedHistory,
    PlayedServer,
)
from clients.core.transport import TransportEvent

WITH_HISTORY = ("history", "limits", "session")


class Rig:
    """A session and a hand-played server speaking version 2 with history."""

    def __init__(self, nick: str = "ann", *, session: ChatSession | None = None):
        self.clock = ManualClock()
        self.session = session or ChatSession(
            nick=nick, server="test:1", clock=self.clock, rng=random.Random(4)
        )
        self.server = p.Connection(p.Role.SERVER)
        self.sent: list[p.Event] = []

    def to_server(self, out: Output) -> list[p.Event]:
        events = list(self.server.receive_data(out.data))
        self.sent += events
        return events

    def from_server(self, *messages: p.Message) -> Output:
        out = self.session.received(b"".join(self.server.send(m) for m in messages))
        self.to_server(out)
        return out

    def open(
        self,
        *,
        capabilities: tuple[str, ...] = WITH_HISTORY,
        last_ref: int = 0,
        extra: tuple[p.Message, ...] = (),
        burst: int = 100,
    ) -> Output:
        """Start (or, after `reconnect`, resume) and answer the handshake."""
        start = Output()
        if self.session.status is ev.ConnectionStatus.DISCONNECTED:
            start = self.session.start()
            assert start.connect
        hello, identify = self.to_server(self.session.connected())
        assert isinstance(hello, p.Hello)
        assert "history" in hello.capabilities
        assert isinstance(identify, p.Identify)
        self.sent = []
        out = self.from_server(
            p.Welcome(
                version=2, nick=hello.nick, server_name="t", capabilities=capabilities
            ),
            p.Limits(
                rate_burst=burst,
                rate_interval_ms=100,
                flood_kick_after=50,
                max_frame_size=65536,
            ),
            p.SessionToken(token=b"T" * 32, last_ref=last_ref),
            *extra,
        )
        out.events = start.events + out.events
        return out

    def fetches(self) -> list[p.FetchHistory]:
        return [m for m in self.sent if isinstance(m, p.FetchHistory)]

    def reconnect(self) -> None:
        self.clock.advance(60)
        assert self.session.tick().connect
        self.server = p.Connection(p.Role.SERVER)


def stored(
    message_id: int,
    ref: int = 0,
    *,
    sender: str = "bob",
    target: str | None = None,
    text: str = "",
) -> p.Recalled:
    return p.Recalled(
        ref=ref,
        id=message_id,
        timestamp_ms=1_772_366_400_000 + message_id * 1000,
        sender=sender,
        target=target,
        text=text or f"line {message_id}",
    )


def live(
    message_id: int,
    ref: int = 0,
    *,
    sender: str = "bob",
    target: str | None = None,
    text: str = "",
) -> p.Delivered:
    recalled = stored(message_id, sender=sender, target=target, text=text)
    return p.Delivered(
        id=recalled.id,
        timestamp_ms=recalled.timestamp_ms,
        sender=recalled.sender,
        target=recalled.target,
        text=recalled.text,
        ref=ref,
    )


def chat(events: list[ev.UiEvent]) -> list[ev.ChatLine]:
    return [e for e in events if isinstance(e, ev.ChatLine)]


def notices(events: list[ev.UiEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.Notice)]


# --- the handshake and sending ---------------------------------------------------


def test_with_history_the_newest_page_is_fetched_after_welcome():
    rig = Rig()
    rig.open()
    assert rig.sent == [
        p.ListUsers(),
        p.FetchHistory(ref=rig.fetches()[0].ref, before=0, after=0, limit=100),
    ]


def test_without_history_nothing_is_fetched_and_lines_go_as_before():
    rig = Rig()
    rig.open(capabilities=("limits", "session"))
    assert rig.sent == [p.ListUsers()]
    (sent,) = rig.to_server(rig.session.submit("hi"))
    assert sent == p.SendText(ref=sent.ref, text="hi")
    out = rig.from_server(live(1, ref=sent.ref, sender="ann", text="hi"))
    # No day separators either: the log is as it was before history.
    assert [type(e) for e in out.events] == [ev.ChatLine, ev.PendingDone]


def test_lines_go_as_posts_each_with_its_own_transaction_id():
    rig = Rig()
    rig.open()
    rig.from_server(p.HistoryEnd(ref=rig.fetches()[0].ref))
    (first,) = rig.to_server(rig.session.submit("hello"))
    (second,) = rig.to_server(rig.session.submit("@cat psst"))
    assert isinstance(first, p.Post)
    assert (first.target, first.text) == (None, "hello")
    assert isinstance(second, p.Post)
    assert (second.target, second.text) == ("cat", "psst")
    assert len(first.txn) == p.TXN_BYTES
    assert first.txn != second.txn
    out = rig.from_server(live(7, ref=first.ref, sender="ann", text="hello"))
    separator, line, done = out.events
    assert isinstance(separator, ev.DaySeparator)
    assert line.is_own
    assert done == ev.PendingDone(local_id=1, delivered=True)


def test_with_history_a_direct_message_to_someone_offline_is_left_to_the_server():
    rig = Rig()
    rig.open()
    rig.from_server(p.UserList(nicks=("ann",)))
    out = rig.session.submit("@dan see you tomorrow")
    assert out.accepted
    (post,) = rig.to_server(out)
    assert isinstance(post, p.Post)
    assert post.target == "dan"


def test_an_unconfirmed_post_is_sent_again_with_the_same_txn_and_shown_once():
    rig = Rig()
    rig.open()
    rig.from_server(p.HistoryEnd(ref=rig.fetches()[0].ref))
    rig.from_server(live(4))
    (post,) = rig.to_server(rig.session.submit("are you there?"))
    rig.session.closed("connection reset")
    rig.reconnect()
    # The server says it delivered that ref: with history the line is sent
    # again anyway (the server keeps it once) to learn its id.
    out = rig.open(last_ref=post.ref)
    assert not any("delivered before" in n for n in notices(out.events))
    catch_up, again = rig.fetches()[0], rig.sent[-1]
    assert catch_up.after == 4
    assert isinstance(again, p.Post)
    assert (again.txn, again.text) == (post.txn, post.text)
    # It was stored as 5 before the drop: the catch-up shows it...
    mine = stored(5, ref=catch_up.ref, sender="ann", text="are you there?")
    out = rig.from_server(mine, p.HistoryEnd(ref=catch_up.ref, count=1))
    (line,) = chat(out.events)
    assert (line.id, line.is_own, line.recalled) == (5, True, True)
    # ... and the repeated confirmation only settles the pending line.
    out = rig.from_server(live(5, ref=again.ref, sender="ann", text="are you there?"))
    assert out.events == [ev.PendingDone(local_id=1, delivered=True)]
    assert rig.session.unconfirmed == 0


# --- catching up -------------------------------------------------------------------


def test_catch_up_pages_while_more_and_holds_live_lines_until_done():
    rig = Rig()
    rig.open()
    rig.from_server(stored(1, ref=rig.fetches()[0].ref))
    rig.from_server(p.HistoryEnd(ref=rig.fetches()[0].ref, count=1))
    rig.session.closed("gone")
    rig.reconnect()
    rig.open()
    first = rig.fetches()[0]
    assert first == p.FetchHistory(ref=first.ref, after=1, limit=500)
    out = rig.from_server(
        live(5),  # live, while catching up: held
        stored(2, ref=first.ref),
        stored(3, ref=first.ref),
        p.HistoryEnd(ref=first.ref, count=2, more=True),
    )
    assert [line.id for line in chat(out.events)] == [2, 3]
    second = rig.fetches()[-1]
    assert second == p.FetchHistory(ref=second.ref, after=3, limit=500)
    out = rig.from_server(
        stored(4, ref=second.ref),
        stored(5, ref=second.ref),
        live(6),
        p.HistoryEnd(ref=second.ref, count=2),
    )
    assert [line.id for line in chat(out.events)] == [4, 5, 6]
    assert [line.recalled for line in chat(out.events)] == [True, True, False]
    out = rig.from_server(live(7))
    assert [line.id for line in chat(out.events)] == [7]
    # No unread marker within one run: the user was here.
    assert rig.session.unconfirmed == 0


def test_offline_direct_messages_are_shown_and_counted():
    rig = Rig()
    out = rig.open(
        extra=(
            stored(8, target="ann", sender="cat", text="call me"),
            stored(9, target="ann", sender="dan", text="lunch?"),
            stored(10, target="ann", sender="cat", text="now"),
            p.HistoryEnd(ref=0, count=3),
        )
    )
    assert "3 messages while you were away" in notices(out.events)
    # They are part of the history too: each is shown once, in order.
    ref = rig.fetches()[0].ref
    out = rig.from_server(
        stored(7, ref=ref),
        stored(8, ref=ref, target="ann", sender="cat", text="call me"),
        stored(9, ref=ref, target="ann", sender="dan", text="lunch?"),
        stored(10, ref=ref, target="ann", sender="cat", text="now"),
        p.HistoryEnd(ref=ref, count=4),
    )
    lines = chat(out.events)
    assert [line.id for line in lines] == [7, 8, 9, 10]
    assert all(line.recalled for line in lines)
    assert [line.is_direct for line in lines] == [False, True, True, True]


def test_one_offline_message_is_singular():
    rig = Rig()
    out = rig.open(extra=(stored(3, target="ann"), p.HistoryEnd(ref=0, count=1)))
    assert "1 message while you were away" in notices(out.events)


def test_a_refused_catch_up_is_told_and_shows_what_was_held():
    rig = Rig()
    rig.open()
    out = rig.from_server(
        live(3),
        p.Error(
            code=p.ErrorCode.INVALID_FIELD,
            text="history is off",
            ref=rig.fetches()[0].ref,
        ),
    )
    assert notices(out.events) == [
        "could not catch up on missed messages: history is off"
    ]
    assert [line.id for line in chat(out.events)] == [3]
    out = rig.from_server(live(4))
    assert [line.id for line in chat(out.events)] == [4]


def test_a_rate_limited_request_is_asked_again_after_a_pause():
    rig = Rig()
    rig.open()
    fetch = rig.fetches()[0]
    out = rig.from_server(
        p.Error(code=p.ErrorCode.RATE_LIMITED, text="slow down", ref=fetch.ref)
    )
    assert out.events == []
    assert rig.fetches() == [fetch]
    rig.clock.advance(2)
    rig.to_server(rig.session.tick())
    assert rig.fetches() == [fetch, fetch]


# --- earlier pages, search, context ------------------------------------------------------


def _shown(rig: Rig, *ids: int, more: bool = True) -> None:
    ref = rig.fetches()[0].ref
    rig.from_server(
        *(stored(i, ref=ref) for i in ids), p.HistoryEnd(ref=ref, more=more)
    )


def test_load_earlier_asks_for_the_page_before_the_oldest_line():
    rig = Rig()
    rig.open()
    _shown(rig, 40, 41)
    out = rig.session.load_earlier()
    assert out.events == []
    rig.to_server(out)
    (page,) = rig.fetches()[1:]
    assert page == p.FetchHistory(ref=page.ref, before=40, after=0, limit=100)
    # A second call while it is on its way sends nothing.
    assert rig.to_server(rig.session.load_earlier()) == []
    out = rig.from_server(
        stored(38, ref=page.ref), stored(39, ref=page.ref), p.HistoryEnd(ref=page.ref)
    )
    (earlier,) = out.events
    assert isinstance(earlier, ev.EarlierLines)
    assert [getattr(i, "id", None) for i in earlier.items] == [None, 38, 39]
    assert not earlier.more
    # The start of the history is shown: nothing more is asked.
    assert rig.to_server(rig.session.load_earlier()) == []


def test_history_command_takes_a_count_and_says_why_when_nothing_is_sent():
    rig = Rig()
    rig.open()
    out = rig.session.submit("/history 20")
    assert notices(out.events) == ["earlier messages are on their way"]
    _shown(rig, 9)
    rig.to_server(rig.session.submit("/history 20"))
    page = rig.fetches()[-1]
    assert (page.before, page.limit) == (9, 20)
    rig.from_server(p.HistoryEnd(ref=page.ref, more=False))
    out = rig.session.submit("/history")
    assert notices(out.events) == ["that is the start of the history"]


def test_load_earlier_offline_or_without_history_is_a_notice_and_sends_nothing():
    rig = Rig()
    out = rig.session.load_earlier()
    assert out.data == b""
    assert notices(out.events) == ["cannot load earlier messages: not connected"]
    rig.open(capabilities=("limits", "session"))
    out = rig.session.load_earlier()
    assert out.data == b""
    assert notices(out.events) == [
        "cannot load earlier messages: test:1 keeps no history"
    ]
    assert not rig.session.submit("/history").accepted


def test_search_sends_the_words_and_shows_the_results():
    rig = Rig()
    rig.open()
    out = rig.session.submit("/search   lunch   today ")
    assert out.accepted
    (search,) = rig.to_server(out)
    assert search == p.Search(ref=search.ref, query="lunch today", before=0, limit=50)
    out = rig.from_server(
        stored(3, ref=search.ref, text="lunch today?"),
        p.HistoryEnd(ref=search.ref, count=1, more=False),
    )
    (results,) = out.events
    assert isinstance(results, ev.SearchResults)
    assert results.query == "lunch today"
    assert [line.text for line in results.lines] == ["lunch today?"]


@pytest.mark.parametrize(
    ("words", "notice"),
    [
        ("  ", "what to search for? usage: /search <words>"),
        ("x" * 401, "a search has at most 400 characters"),
    ],
)
def test_search_refuses_what_the_server_would(words, notice):
    rig = Rig()
    rig.open()
    out = rig.session.search(words)
    assert (out.accepted, out.data, notices(out.events)) == (False, b"", [notice])


def test_show_context_asks_both_sides_and_answers_once():
    rig = Rig()
    rig.open()
    (before, after) = rig.to_server(rig.session.show_context(20))
    assert before == p.FetchHistory(ref=before.ref, before=21, after=0, limit=10)
    assert after == p.FetchHistory(ref=after.ref, before=0, after=20, limit=10)
    assert (
        rig.from_server(stored(21, ref=after.ref), p.HistoryEnd(ref=after.ref)).events
        == []
    )
    out = rig.from_server(
        stored(19, ref=before.ref),
        stored(20, ref=before.ref),
        p.HistoryEnd(ref=before.ref),
    )
    (context,) = out.events
    assert isinstance(context, ev.Context)
    assert context.focus_id == 20
    assert [getattr(i, "id", None) for i in context.items] == [None, 19, 20, 21]


def test_a_refused_search_is_told_and_nothing_stays_stuck():
    rig = Rig()
    rig.open()
    (search,) = rig.to_server(rig.session.search("x"))
    out = rig.from_server(
        p.Error(code=p.ErrorCode.INVALID_FIELD, text="bad query", ref=search.ref)
    )
    assert notices(out.events) == ["could not search for “x”: bad query"]
    _shown(rig, 5)
    rig.to_server(rig.session.load_earlier())
    page = rig.fetches()[-1]
    out = rig.from_server(
        p.Error(code=p.ErrorCode.INVALID_FIELD, text="no", ref=page.ref)
    )
    assert notices(out.events) == ["could not load earlier messages: no"]
    rig.to_server(rig.session.load_earlier())
    assert rig.fetches()[-1].ref != page.ref


def test_a_search_cut_off_by_a_drop_is_told():
    rig = Rig()
    rig.open()
    rig.to_server(rig.session.search("x"))
    out = rig.session.closed("reset")
    assert any("search for “x”" in n for n in notices(out.events))


def test_history_requests_are_paced_like_every_frame():
    rig = Rig()
    rig.open(burst=6)  # the pacer keeps a margin of 2: 4 frames at once
    rig.from_server(p.HistoryEnd(ref=rig.fetches()[0].ref))
    rig.sent = []
    for _ in range(3):
        rig.to_server(rig.session.show_context(9))
    assert len(rig.sent) < 6
    for _ in range(20):
        rig.clock.advance(0.2)
        rig.to_server(rig.session.tick())
    assert len(rig.sent) == 6


def test_clear_makes_the_next_line_name_its_day_again():
    rig = Rig()
    rig.open()
    _shown(rig, 1)
    assert [type(e) for e in rig.from_server(live(2)).events] == [ev.ChatLine]
    rig.session.submit("/clear")
    assert isinstance(rig.from_server(live(3)).events[0], ev.DaySeparator)


# --- commands ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/history", c.LoadEarlier(100)),
        ("/history 20", c.LoadEarlier(20)),
        ("/history 500", c.LoadEarlier(500)),
        ("/search lunch", c.SearchFor("lunch")),
        ("/search  big   lunch ", c.SearchFor("big lunch")),
    ],
)
def test_history_commands_parse(line, command):
    assert c.parse_command(line) == command


@pytest.mark.parametrize(
    "line", ["/history 0", "/history 501", "/history x", "/history 2 3", "/search"]
)
def test_history_command_mistakes_are_explained(line):
    with pytest.raises(c.CommandError, match="usage"):
        c.parse_command(line)


def test_help_lists_history_and_search():
    text = "\n".join(c.help_lines())
    assert "/history [N]" in text
    assert "/search <words>" in text


# --- ChatClient against the scripted server ---------------------------------------------


class Scripted:
    """A ChatClient on FakeTransports that share one PlayedHistory."""

    def __init__(self, history: PlayedHistory, nick: str = "ann") -> None:
        self.inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        self.history = history
        self.clock = ManualClock()
        self.session = ChatSession(nick=nick, server="fake:1", clock=self.clock)
        self.client = ChatClient(
            self.session,
            "fake",
            1,
            self.inbox.put,
            transport_factory=FakeTransport.factory(history=history),
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

    @property
    def transport(self) -> FakeTransport:
        return FakeTransport.instances[-1]


def test_scripted_first_contact_shows_the_newest_page_and_pages_back():
    history = PlayedHistory()
    for n in range(250):
        history.add("bob", f"old {n}")
    ann = Scripted(history)
    lines = chat(ann.events)
    assert [line.text for line in lines] == [f"old {n}" for n in range(150, 250)]
    assert all(line.recalled for line in lines)
    (page,) = ann.run(ann.client.load_earlier())
    assert isinstance(page, ev.EarlierLines)
    assert page.more
    assert [getattr(i, "text", None) for i in page.items][1:] == [
        f"old {n}" for n in range(50, 150)
    ]
    (page,) = ann.run(ann.client.load_earlier())
    assert isinstance(page, ev.EarlierLines)
    assert not page.more
    assert ann.run(ann.client.load_earlier()) == []


def test_scripted_search_and_context():
    history = PlayedHistory()
    for n in range(30):
        history.add("bob", f"message {n}" + (" lunch" if n % 10 == 3 else ""))
    ann = Scripted(history)
    (results,) = ann.run(ann.client.search("LUNCH"))
    assert isinstance(results, ev.SearchResults)
    assert [line.id for line in results.lines] == [4, 14, 24]
    (context,) = ann.run(ann.client.show_context(14))
    assert isinstance(context, ev.Context)
    ids = [i.id for i in context.items if isinstance(i, ev.ChatLine)]
    assert ids == list(range(5, 25))


def test_scripted_reconnect_catches_up_in_pages_and_never_doubles_a_line():
    history = PlayedHistory(page_limit=7)
    ann = Scripted(history)
    ann.run(ann.client.submit("first").events)
    ann.transport.drop()
    ann.run([])
    for n in range(30):
        history.add("bob", f"missed {n}")
    ann.clock.advance(60)
    ann.run(ann.client.tick())
    fetches = [m for m in ann.transport.received if isinstance(m, p.FetchHistory)]
    assert [f.after for f in fetches] == [1, 8, 15, 22, 29]
    ids = [line.id for line in chat(ann.events)]
    assert ids == list(range(1, 32))
    ann.transport.say("bob", "live again")
    assert [line.text for line in chat(ann.run([]))] == ["live again"]


def test_scripted_offline_messages_after_login():
    history = PlayedHistory()
    history.keep_for_later("cat", "ann", "ring me")
    history.keep_for_later("dan", "ann", "hello?")
    history.keep_for_later("dan", "eve", "not for ann")
    ann = Scripted(history)
    assert "2 messages while you were away" in notices(ann.events)
    assert [line.text for line in chat(ann.events)] == ["ring me", "hello?"]


def test_played_server_speaks_history_only_when_asked():
    sink: list[TransportEvent] = []
    assert PlayedServer(sink.append).history is None
    history = PlayedHistory()
    server = PlayedServer(sink.append, history=history, accounts=True)
    session = ChatSession(nick="ann", server="fake:1", clock=ManualClock())
    server.send(session.connected().data)
    (welcome_data,) = [e for e in sink if hasattr(e, "data")]
    out = session.received(welcome_data.data)
    assert {"history", "accounts"} <= session.capabilities
    server.send(out.data)
    assert any(isinstance(m, p.FetchHistory) for m in server.received)
