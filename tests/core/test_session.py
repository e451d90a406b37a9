"""ChatSession without any I/O: a server-side Connection plays the server."""

from __future__ import annotations

import random

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.session import Backoff, ChatSession, Output, mentions
from clients.core.testing import ManualClock


class Rig:
    def __init__(self, nick: str = "ann") -> None:
        self.clock = ManualClock()
        self.session = ChatSession(
            nick=nick, server="test:1", clock=self.clock, rng=random.Random(4)
        )
        self.server = p.Connection(p.Role.SERVER)

    def to_server(self, out: Output) -> list[p.Event]:
        return list(self.server.receive_data(out.data))

    def from_server(self, *messages: p.Message) -> Output:
        return self.session.received(b"".join(self.server.send(m) for m in messages))

    def open(self, assigned: str | None = None) -> Output:
        out = self.session.start()
        assert out.connect
        (hello,) = self.to_server(self.session.connected())
        assert isinstance(hello, p.Hello)
        welcome = p.Welcome(version=1, nick=assigned or hello.nick, server_name="t")
        out = self.from_server(welcome)
        assert self.to_server(out) == [p.ListUsers()]
        return out

    def reconnect(self) -> None:
        self.server = p.Connection(p.Role.SERVER)


def _notices(out: Output) -> list[str]:
    return [e.text for e in out.events if isinstance(e, ev.Notice)]


def test_handshake_asks_for_the_nick_and_reports_connected():
    rig = Rig("ann")
    out = rig.open()
    assert rig.session.status is ev.ConnectionStatus.CONNECTED
    changed = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert changed[-1].status is ev.ConnectionStatus.CONNECTED
    assert changed[-1].nick == "ann"


def test_a_suffixed_nick_is_adopted_and_explained():
    rig = Rig("ann")
    out = rig.open(assigned="ann_1")
    assert rig.session.nick == "ann_1"
    assert "ann is taken; you are ann_1" in _notices(out)


def test_text_is_sent_and_confirmed_by_ref():
    rig = Rig()
    rig.open()
    out = rig.session.submit("hello")
    (sent,) = rig.to_server(out)
    assert sent == p.SendText(ref=sent.ref, text="hello")
    out = rig.from_server(
        p.Delivered(id=1, timestamp_ms=0, sender="ann", text="hello", ref=sent.ref)
    )
    (line,) = out.events
    assert isinstance(line, ev.ChatLine)
    assert line.is_own
    assert not line.is_direct


def test_direct_messages_both_ways():
    rig = Rig()
    rig.open()
    (sent,) = rig.to_server(rig.session.submit("@bob psst"))
    assert (sent.target, sent.text) == ("bob", "psst")
    out = rig.from_server(
        p.Delivered(id=2, timestamp_ms=0, sender="bob", target="ann", text="hi")
    )
    (line,) = out.events
    assert line.is_direct
    assert not line.is_own


def test_mentions_are_flagged():
    rig = Rig()
    rig.open()
    out = rig.from_server(
        p.Delivered(id=1, timestamp_ms=0, sender="bob", text="hey ANN, look"),
        p.Delivered(id=2, timestamp_ms=0, sender="bob", text="annoying"),
    )
    assert [e.mentions_me for e in out.events] == [True, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann", True),
        ("@ann hi", True),
        ("hi ann.", True),
        ("joanne", False),
        ("ann_1", False),
        ("x@ann", True),
    ],
)
def test_mentions(text, expected):
    assert mentions(text, "ann") is expected


def test_refused_message_is_reported_with_its_text():
    rig = Rig()
    rig.open()
    (sent,) = rig.to_server(rig.session.submit("@nobody are you there"))
    out = rig.from_server(
        p.Error(
            code=p.ErrorCode.UNKNOWN_USER, text="no such user: nobody", ref=sent.ref
        )
    )
    (text,) = _notices(out)
    assert "to nobody “are you there” was not delivered: no such user: nobody" in text


def test_local_commands_send_nothing():
    rig = Rig()
    rig.open()
    out = rig.session.submit("/clear")
    assert out.events == [ev.ClearRequested()]
    assert out.data == b""
    out = rig.session.submit("/help")
    assert out.data == b""
    assert "/users" in _notices(out)[0]


def test_mistakes_are_refused_and_kept():
    rig = Rig()
    rig.open()
    out = rig.session.submit("/bogus")
    assert not out.accepted
    assert out.data == b""
    out = rig.session.submit("x" * 4001)
    assert not out.accepted
    assert "4001 characters; the limit is 4000" in _notices(out)[0]
    assert rig.session.submit("x" * 4000).accepted


def test_users_command_shows_the_list_but_the_automatic_fetch_does_not():
    rig = Rig()
    out = rig.open()
    out = rig.from_server(p.UserList(nicks=("ann", "bob"), final=True))
    assert ev.RosterChanged(("ann", "bob")) in out.events
    assert not any(isinstance(e, ev.UsersListed) for e in out.events)
    assert rig.to_server(rig.session.submit("/users")) == [p.ListUsers()]
    out = rig.from_server(
        p.UserList(nicks=("ann",), final=False),
        p.UserList(nicks=("bob", "cat"), final=True),
    )
    assert ev.UsersListed(("ann", "bob", "cat")) in out.events
    assert rig.session.roster == ("ann", "bob", "cat")


def test_roster_follows_joins_leaves_and_renames():
    rig = Rig()
    rig.open()
    rig.from_server(p.UserList(nicks=("ann",), final=True))
    rig.from_server(p.UserJoined(nick="bob"))
    assert rig.session.roster == ("ann", "bob")
    out = rig.from_server(p.NickChanged(old="ann", new="anna"))
    assert ev.Renamed("ann", "anna", is_me=True) in out.events
    assert rig.session.nick == "anna"
    rig.from_server(p.UserLeft(nick="bob", reason="quit"))
    assert rig.session.roster == ("anna",)
    assert rig.session.complete("@an") == "@anna "


def test_drop_schedules_a_reconnect_with_countdown():
    rig = Rig()
    rig.open()
    out = rig.session.closed("the server closed the connection")
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert status.status is ev.ConnectionStatus.RECONNECTING
    assert status.retry_in == 1
    assert not rig.session.tick().connect
    rig.clock.advance(1.0)
    out = rig.session.tick()
    assert out.connect
    assert rig.session.status is ev.ConnectionStatus.CONNECTING


def test_backoff_grows_with_jitter_and_caps():
    backoff = Backoff(base=1.0, cap=30.0)
    rng = random.Random(1)
    delays = [backoff.delay(n, rng) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(30.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] <= 30.0


def test_lines_typed_offline_are_sent_after_reconnecting():
    rig = Rig()
    rig.open()
    rig.session.closed("gone")
    out = rig.session.submit("are you back?")
    assert out.accepted
    assert out.data == b""
    assert "will be sent when the connection is back" in _notices(out)[0]
    rig.clock.advance(2)
    assert rig.session.tick().connect
    rig.reconnect()
    rig.to_server(rig.session.connected())
    out = rig.from_server(p.Welcome(version=1, nick="ann", server_name="t"))
    sent = rig.to_server(out)
    assert sent[0] == p.ListUsers()
    assert sent[1].text == "are you back?"
    assert "sent 1 message(s) typed while disconnected" in _notices(out)


def test_unconfirmed_messages_are_reported_when_the_connection_drops():
    rig = Rig()
    rig.open()
    rig.session.submit("in flight")
    out = rig.session.closed("reset")
    assert any(
        "may not have been delivered" in t and "in flight" in t for t in _notices(out)
    )


def test_offline_queue_is_bounded():
    rig = Rig()
    rig.open()
    rig.session.closed("gone")
    for n in range(100):
        assert rig.session.submit(f"m{n}").accepted
    out = rig.session.submit("one too many")
    assert not out.accepted


def test_invalid_nick_at_handshake_stops_retrying():
    rig = Rig("ann")
    rig.session.start()
    rig.to_server(rig.session.connected())
    rig.from_server(
        p.Error(code=p.ErrorCode.INVALID_NICK, text="bad nick"),
        p.Bye(reason="bad nick"),
    )
    out = rig.session.closed("the server closed the connection")
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert status.status is ev.ConnectionStatus.DISCONNECTED
    assert status.detail == "bad nick"
    rig.clock.advance(100)
    assert not rig.session.tick().connect


def test_keepalive_pings_then_gives_up():
    rig = Rig()
    rig.open()
    rig.clock.advance(21)
    assert rig.to_server(rig.session.tick()) == [p.Ping(payload=b"keepalive")]
    assert rig.session.tick().data == b""
    rig.clock.advance(25)
    out = rig.session.tick()
    assert out.disconnect
    assert rig.session.status is ev.ConnectionStatus.RECONNECTING


def test_server_ping_is_answered():
    rig = Rig()
    rig.open()
    assert rig.to_server(rig.from_server(p.Ping(payload=b"x"))) == [
        p.Pong(payload=b"x")
    ]


def test_nick_change_offline_applies_on_reconnect():
    rig = Rig()
    rig.open()
    rig.session.closed("gone")
    rig.session.submit("/nick anna")
    rig.clock.advance(2)
    rig.session.tick()
    rig.reconnect()
    (hello,) = rig.to_server(rig.session.connected())
    assert hello.nick == "anna"


def test_refused_nick_change_is_reported():
    rig = Rig()
    rig.open()
    (sent,) = rig.to_server(rig.session.submit("/nick bob"))
    out = rig.from_server(
        p.Error(
            code=p.ErrorCode.NICK_IN_USE, text="the nickname bob is taken", ref=sent.ref
        )
    )
    assert _notices(out) == [
        "could not change your nick to bob: the nickname bob is taken"
    ]


def test_quit_says_bye_and_asks_the_ui_to_exit():
    rig = Rig()
    rig.open()
    out = rig.session.quit("bye now")
    assert rig.to_server(out) == [p.Bye(reason="bye now")]
    assert out.disconnect
    assert ev.ExitRequested("bye now") in out.events
    assert rig.session.closed("closed").events == []


def test_protocol_error_from_server_reconnects():
    rig = Rig()
    rig.open()
    out = rig.session.received(b"\xff\xff\xff\xff")
    assert out.disconnect
    assert rig.session.status is ev.ConnectionStatus.RECONNECTING
