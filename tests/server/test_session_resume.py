"""Version 2 handshakes against a real server: Limits, sessions, resuming (spec 12)."""

from __future__ import annotations

import logging

import pytest

import protocol as p
from server.hub import RESUMED_REASON
from tests.server.helpers import (
    TcpProxy,
    events_for,
    frames_in,
    hello_v2,
    session_token,
    wait_for,
)
from tests.wire import WireClient

pytestmark = pytest.mark.integration

PRESENCE = (p.UserJoined, p.UserLeft)


def _presence(events):
    return [e for e in events if isinstance(e, PRESENCE)]


def test_limits_tell_the_configured_figures(make_server, connect):
    server = make_server(
        rate_burst=7, rate_per_second=3.0, flood_kick_after=9, max_frame_size=20_000
    )
    client = connect(target=server)
    welcome, limits = hello_v2(client, "ann", [p.CAP_LIMITS])
    assert welcome.version == 2
    assert welcome.capabilities == (p.CAP_LIMITS,)
    assert limits == p.Limits(
        rate_burst=7, rate_interval_ms=333, flood_kick_after=9, max_frame_size=20_000
    )
    client.send(p.Ping(payload=b"next"))
    assert client.next() == p.Pong(payload=b"next")  # nothing else came between


def test_both_capabilities_in_the_spec_order(connect):
    client = connect()
    welcome, limits, token = hello_v2(client, "ann")
    assert welcome.capabilities == (p.CAP_LIMITS, p.CAP_SESSION)
    assert limits == p.Limits(
        rate_burst=20, rate_interval_ms=100, flood_kick_after=50, max_frame_size=65536
    )
    assert len(token.token) == 32
    assert (token.account, token.resumed, token.last_ref) == (None, False, 0)


@pytest.mark.parametrize(
    ("version", "caps"),
    [(1, (p.CAP_LIMITS, p.CAP_SESSION)), (2, ()), (2, ("no-such-capability",))],
)
def test_nothing_of_version_2_unless_asked_and_agreed(connect, version, caps):
    client = connect()
    client.send(
        p.Hello(version=version, client_name="t", nick="ann", capabilities=caps)
    )
    welcome = client.next()
    assert (welcome.version, welcome.capabilities) == (version, ())
    client.send(p.Ping(payload=b"x"))
    assert client.next() == p.Pong(payload=b"x")


def test_a_session_client_is_answered_only_after_its_identify(connect):
    client = connect()
    client.send(
        p.Hello(version=2, client_name="t", nick="ann", capabilities=(p.CAP_SESSION,))
    )
    with pytest.raises(TimeoutError):
        client.next(0.3)
    client.send(p.Identify())
    assert client.expect(p.Welcome).nick == "ann"
    assert client.expect(p.SessionToken).resumed is False


def test_the_handshake_timeout_covers_identify(make_server, connect):
    server = make_server(handshake_timeout=0.3)
    client = connect(target=server)
    client.send(
        p.Hello(version=2, client_name="t", nick="ann", capabilities=(p.CAP_SESSION,))
    )
    events = client.wait_closed()
    assert [type(e) for e in events] == [p.Error, p.Bye]
    assert events[0].code is p.ErrorCode.HANDSHAKE_TIMEOUT


def test_a_password_is_refused_without_accounts(connect):
    client = connect()
    events = hello_v2(client, "ann", password="hunter22")
    assert events == [
        p.Error(code=p.ErrorCode.INVALID_FIELD, text="this server has no accounts")
    ]
    assert client.wait_closed() == [p.Bye(reason="this server has no accounts")]


@pytest.mark.parametrize(
    "request_",
    [
        p.Register(ref=5, password="hunter22"),
        p.ChangePassword(ref=5, old_password="a", new_password="b"),
        p.Logout(ref=5),
        p.Moderate(ref=5, action=p.ModerationAction.KICK, target="bob"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_account_requests_are_refused_and_the_connection_stays(connect, request_):
    client = connect()
    hello_v2(client, "ann")
    client.send(request_)
    error = client.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.UNKNOWN_MESSAGE_TYPE, 5)
    client.send(p.Ping(payload=b"still"))
    assert client.expect(p.Pong).payload == b"still"


def test_a_dropped_client_takes_its_nick_back_at_once(server, connect):
    watcher = connect("watcher")
    proxy = TcpProxy(server.address)
    try:
        ann = WireClient(proxy.address)
        token = session_token(hello_v2(ann, "ann"))
        assert watcher.expect(p.UserJoined) == p.UserJoined(nick="ann")
        ann.send(p.SendText(ref=1, text="one"))
        assert ann.expect(p.Delivered).ref == 1
        assert watcher.expect(p.Delivered).text == "one"

        proxy.cut()  # the path dies silently: both ends still think it is up
        ann.send(p.SendText(ref=2, text="lost on the way"))

        again = connect()
        welcome, _limits, resumed = hello_v2(again, "someone_else", token=token.token)
        assert welcome.nick == "ann"
        assert (resumed.token, resumed.resumed, resumed.last_ref) == (
            token.token,
            True,
            1,  # ref 2 never arrived: the client sends it again
        )
        again.send(p.SendText(ref=2, text="lost on the way"))
        assert again.expect(p.Delivered).ref == 2
        assert server.hub.nicks() == ["ann", "watcher"]

        # The old connection was told and closed by the server.
        assert proxy.server_closed.wait(5)
        assert frames_in(proxy.swallowed)[-1] == p.Bye(reason=RESUMED_REASON)

        seen = events_for(watcher, 0.5)
        assert _presence(seen) == []
        assert [e.text for e in seen if isinstance(e, p.Delivered)] == [
            "lost on the way"
        ]
        ann.close()
    finally:
        proxy.close()


def test_last_ref_counts_what_was_delivered_though_unconfirmed(server, connect):
    watcher = connect("watcher")
    proxy = TcpProxy(server.address)
    try:
        ann = WireClient(proxy.address)
        token = session_token(hello_v2(ann, "ann"))
        proxy.cut(up=False)  # the server hears ann; ann hears nothing
        ann.send(p.SendText(ref=3, text="broadcast"))
        ann.send(p.SendDirect(ref=4, target="watcher", text="direct"))
        delivered = [watcher.expect(p.Delivered, skip=PRESENCE) for _ in range(2)]
        assert [d.text for d in delivered] == ["broadcast", "direct"]
        again = connect()
        resumed = session_token(hello_v2(again, "ann", token=token.token))
        assert (resumed.resumed, resumed.last_ref) == (True, 4)
        ann.close()
    finally:
        proxy.close()


def test_resuming_a_healthy_connection_moves_the_session(connect):
    watcher = connect("watcher")
    old = connect()
    token = session_token(hello_v2(old, "ann"))
    watcher.expect(p.UserJoined)
    new = connect()
    hello_v2(new, "ann", token=token.token)
    assert old.wait_closed() == [p.Bye(reason=RESUMED_REASON)]
    new.send(p.SendText(ref=1, text="from the new one"))
    assert new.expect(p.Delivered).ref == 1
    seen = events_for(watcher, 0.4)
    assert _presence(seen) == []
    assert [e.sender for e in seen if isinstance(e, p.Delivered)] == ["ann"]


def test_a_session_ended_recently_keeps_its_last_ref(connect):
    watcher = connect("watcher")
    ann = connect()
    token = session_token(hello_v2(ann, "ann"))
    ann.send(p.SendText(ref=9, text="before"))
    assert ann.expect(p.Delivered).ref == 9
    ann.send(p.Bye(reason="later"))
    ann.wait_closed()
    assert watcher.expect(p.UserLeft, skip=(p.UserJoined, p.Delivered)).nick == "ann"
    back = connect()
    welcome, _limits, again = hello_v2(back, "anna", token=token.token)
    # Not resumed: a normal join with Hello's nick, but nothing forgotten.
    assert welcome.nick == "anna"
    assert (again.token, again.resumed, again.last_ref) == (token.token, False, 9)
    assert watcher.expect(p.UserJoined) == p.UserJoined(nick="anna")


def test_an_unknown_token_starts_a_new_session(connect):
    client = connect()
    made_up = bytes(range(32))
    welcome, _limits, token = hello_v2(client, "ann", token=made_up)
    assert welcome.nick == "ann"
    assert token.token != made_up
    assert len(token.token) == 32
    assert (token.resumed, token.last_ref) == (False, 0)


def test_tokens_never_reach_the_log(server, connect, caplog):
    caplog.set_level(logging.DEBUG, logger="server")
    watcher = connect("watcher")
    first = connect()
    token = session_token(hello_v2(first, "ann")).token
    second = connect()
    hello_v2(second, "ann", token=token)
    first.wait_closed()
    second.send(p.Bye())
    second.wait_closed()
    third = connect()
    hello_v2(third, "ann", token=token)
    third.close()
    assert wait_for(lambda: "disconnected ann" in caplog.text)
    assert "resumed the session of ann" in caplog.text
    text = caplog.text
    for form in (token.hex(), repr(token), str(token), token.hex().upper()):
        assert form not in text
    watcher.close()
