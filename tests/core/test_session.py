"""ChatSession without any I/O: a server-side Connection plays the server."""

from __future__ import annotations

import random

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.formatting import describe
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

    def open(
        self,
        assigned: str | None = None,
        *,
        version: int = 1,
        last_ref: int = 0,
        resumed: bool = False,
        burst: int = 20,
    ) -> Output:
        """Start (or, after `reconnect`, resume) and answer the handshake.

        Version 1 is a server without sessions; version 2 enables both
        capabilities and sends Limits and SessionToken.
        """
        if self.session.status is ev.ConnectionStatus.DISCONNECTED:
            assert self.session.start().connect
        hello, identify = self.to_server(self.session.connected())
        assert isinstance(hello, p.Hello)
        assert hello.capabilities == (
            "accounts",
            "away",
            "history",
            "limits",
            "rooms",
            "session",
            "typing",
        )
        assert isinstance(identify, p.Identify)
        self.identify = identify
        nick = assigned or hello.nick
        if version == 1:
            out = self.from_server(p.Welcome(version=1, nick=nick, server_name="t"))
        else:
            out = self.from_server(
                p.Welcome(
                    version=2,
                    nick=nick,
                    server_name="t",
                    capabilities=("limits", "session"),
                ),
                p.Limits(
                    rate_burst=burst,
                    rate_interval_ms=100,
                    flood_kick_after=50,
                    max_frame_size=65536,
                ),
                p.SessionToken(token=b"T" * 32, resumed=resumed, last_ref=last_ref),
            )
        self.sent = self.to_server(out)
        assert self.sent[0] == p.ListUsers()
        return out

    def reconnect(self) -> None:
        self.clock.advance(60)
        assert self.session.tick().connect
        self.server = p.Connection(p.Role.SERVER)


def _chat(out: Output) -> list[ev.ChatLine]:
    return [e for e in out.events if isinstance(e, ev.ChatLine)]


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
    line, done = out.events
    assert isinstance(line, ev.ChatLine)
    assert line.is_own
    assert not line.is_direct
    assert done == ev.PendingDone(local_id=1, delivered=True)


def test_direct_messages_both_ways():
    rig = Rig()
    rig.open()
    (sent,) = rig.to_server(rig.session.submit("@bob psst"))
    assert (sent.target, sent.text) == ("bob", "psst")
    out = rig.from_server(
        p.Delivered(id=2, timestamp_ms=0, sender="bob", target="ann", text="hi")
    )
    (line,) = _chat(out)
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
    assert rig.session.complete("@an") == "@an"  # only ourselves: nothing to offer


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


def test_lines_typed_offline_are_pending_and_sent_after_reconnecting():
    rig = Rig()
    rig.open()
    rig.session.closed("gone")
    out = rig.session.submit("are you back?")
    assert out.accepted
    assert out.data == b""
    assert out.events == [
        ev.Pending(local_id=1, text="are you back?", target=None, queued=True)
    ]
    rig.reconnect()
    out = rig.open()
    assert rig.sent[1].text == "are you back?"
    assert (
        ev.Pending(local_id=1, text="are you back?", target=None, queued=False)
        in out.events
    )


def test_without_sessions_a_line_in_flight_is_reported_not_resent():
    rig = Rig()
    rig.open()
    rig.session.submit("in flight")
    out = rig.session.closed("reset")
    assert ev.Pending(local_id=1, text="in flight", target=None, queued=True) in (
        out.events
    )
    rig.reconnect()
    out = rig.open(version=1)
    assert rig.sent == [p.ListUsers()]
    assert ev.PendingDone(local_id=1, delivered=False) in out.events
    assert any("may not have been delivered" in t for t in _notices(out))


def test_a_resumed_session_resends_exactly_what_was_not_delivered():
    rig = Rig()
    rig.open(version=2)
    for text in ("one", "two", "three"):
        rig.session.submit(text)
    refs = [m.ref for m in rig.to_server(Output())] or None
    assert refs is None  # everything went out with each submit already
    rig.session.closed("reset")
    rig.session.submit("four")
    rig.reconnect()
    # The server had delivered "one" (ref 1) before the drop; its echo was lost.
    out = rig.open(version=2, last_ref=1, resumed=True)
    assert rig.identify == p.Identify(token=b"T" * 32)
    assert [m.text for m in rig.sent[1:]] == ["two", "three", "four"]
    assert [m.ref for m in rig.sent[1:]] == [4, 5, 6]
    assert ev.PendingDone(local_id=1, delivered=True) in out.events
    assert any(
        "“one” was delivered before the connection dropped" in t for t in _notices(out)
    )


class TokenBucket:
    """The server's flood limit as spec 5.7 states it, for reference."""

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst, self.rate, self.updated = burst, rate, now
        self.tokens = float(burst)

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def test_pacing_keeps_within_the_advertised_limit():
    rig = Rig()
    rig.open(version=2, burst=5)
    # The server's own bucket, charged with every frame at the time it left.
    bucket = TokenBucket(5, 10.0, rig.clock.now)
    for _ in range(3):  # Hello, Identify, ListUsers
        assert bucket.take(rig.clock.now)
    texts = []
    for n in range(30):
        for message in rig.to_server(rig.session.submit(f"m{n}")):
            assert bucket.take(rig.clock.now), message
            texts.append(message.text)
    for _ in range(100):
        rig.clock.advance(0.05)
        for message in rig.to_server(rig.session.tick()):
            assert bucket.take(rig.clock.now), message
            texts.append(message.text)
    assert texts == [f"m{n}" for n in range(30)]


def test_a_rate_limited_line_is_retried_never_dropped():
    rig = Rig()
    rig.open(version=2)
    (sent,) = rig.to_server(rig.session.submit("hello"))
    out = rig.from_server(
        p.Error(code=p.ErrorCode.RATE_LIMITED, text="slow down", ref=sent.ref)
    )
    assert not any(isinstance(e, ev.PendingDone) for e in out.events)
    assert rig.to_server(rig.session.tick()) == []
    rig.clock.advance(1.5)
    (again,) = rig.to_server(rig.session.tick())
    assert again.text == "hello"
    assert again.ref != sent.ref


def test_offline_queue_is_bounded_and_says_so():
    rig = Rig()
    rig.session = ChatSession(nick="ann", server="t", clock=rig.clock, queue_limit=50)
    rig.open()
    rig.session.closed("gone")
    for n in range(50):
        assert rig.session.submit(f"m{n}").accepted
    out = rig.session.submit("one too many")
    assert not out.accepted
    assert "50 messages already wait to be sent" in _notices(out)[0]


def test_a_multi_line_message_is_one_message():
    rig = Rig()
    rig.open()
    (sent,) = rig.to_server(rig.session.submit("first\nsecond\n third"))
    assert sent.text == "first\nsecond\n third"
    (sent,) = rig.to_server(rig.session.submit("@bob first\nsecond"))
    assert (sent.target, sent.text) == ("bob", "first\nsecond")
    assert not rig.session.submit("/nick x\ny").accepted


def test_a_direct_message_to_someone_offline_is_refused_and_kept():
    rig = Rig()
    rig.open()
    rig.from_server(p.UserList(nicks=("ann", "bob"), final=True))
    out = rig.session.submit("@zed hello")
    assert not out.accepted
    assert out.data == b""
    assert _notices(out) == ["zed is not online; nothing was sent"]
    assert rig.session.submit("@BOB hello").accepted


def test_completion_never_offers_our_own_nick():
    rig = Rig("ann")
    rig.open()
    rig.from_server(p.UserList(nicks=("ann", "anita"), final=True))
    assert rig.session.complete("@an") == "@anita "
    assert rig.session.complete("@anita ") == "@anita "


def test_reconnect_command_connects_again_even_after_a_final_error():
    rig = Rig()
    rig.session.start()
    out = rig.session.closed("unknown host (Name or service not known)", fatal=True)
    assert rig.session.status is ev.ConnectionStatus.DISCONNECTED
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert "Type /reconnect" in status.detail
    rig.clock.advance(600)
    assert not rig.session.tick().connect
    out = rig.session.submit("/reconnect")
    assert out.connect
    assert rig.session.status is ev.ConnectionStatus.CONNECTING


def test_a_service_that_is_not_chinwag_is_a_final_error():
    rig = Rig()
    rig.session.start()
    rig.to_server(rig.session.connected())
    out = rig.session.received(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert out.disconnect
    assert rig.session.status is ev.ConnectionStatus.DISCONNECTED
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert "does not speak the Chinwag protocol" in status.detail


def test_a_silent_service_is_a_final_error_after_the_handshake_timeout():
    rig = Rig()
    rig.session.start()
    rig.to_server(rig.session.connected())
    rig.clock.advance(16)
    out = rig.session.tick()
    assert out.disconnect
    assert rig.session.status is ev.ConnectionStatus.DISCONNECTED


def test_failing_attempts_are_told_once_and_never_called_a_lost_connection():
    rig = Rig()
    rig.session.start()
    lines = []
    for _ in range(3):
        out = rig.session.closed("connection refused (is the server running?)")
        lines += [d for e in out.events if (d := describe(e)) is not None]
        rig.clock.advance(60)
        out = rig.session.tick()
        lines += [d for e in out.events if (d := describe(e)) is not None]
    assert [line.text for line in lines] == [
        "cannot connect to test:1 (connection refused (is the server running?)); retrying in 1 s"
    ]


def test_a_nick_change_does_not_claim_a_new_connection():
    rig = Rig()
    rig.open()
    out = rig.from_server(p.NickChanged(old="ann", new="anna"))
    texts = [d.text for e in out.events if (d := describe(e)) is not None]
    assert texts == ["you are now known as anna"]


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
    assert status.detail == "bad nick\nType /reconnect to try again."
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
    rig.reconnect()
    hello, _ = rig.to_server(rig.session.connected())
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
