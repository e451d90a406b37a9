"""Accounts over the wire (spec 12.3): a real server, real argon2, a real database."""

from __future__ import annotations

import pytest

import protocol as p
from server.accounts import Account
from tests.server.helpers import hello_v2
from tests.wire import WireClient

pytestmark = pytest.mark.integration

ALL = (p.CAP_ACCOUNTS, p.CAP_LIMITS, p.CAP_SESSION)
PASSWORD = "correct horse battery"


@pytest.fixture(name="accounts_server")
def _accounts_server(make_server, tmp_path):
    return make_server(data_dir=tmp_path / "data", cheap_hashing=True)


def _client(server) -> WireClient:
    return WireClient(server.address)


def _register(server, nick: str, password: str = PASSWORD) -> p.AccountStatus:
    client = _client(server)
    try:
        hello_v2(client, nick, ALL)
        client.send(p.Register(ref=1, password=password))
        status = client.expect(p.AccountStatus)
        assert (status.ref, status.account) == (1, nick)
        return status
    finally:
        client.close()


def _login(
    server, nick: str, password: str = PASSWORD
) -> tuple[WireClient, list[p.Event]]:
    client = _client(server)
    events = hello_v2(client, nick, ALL, password=password)
    return client, events


def test_register_then_log_in_with_the_password_or_the_token(accounts_server):
    registered = _register(accounts_server, "ann")
    assert registered.token
    client, events = _login(accounts_server, "ANN")
    welcome, _limits, token = events
    assert welcome.nick == "ann"  # the account's spelling, whatever was typed
    assert token.account == "ann"
    status = client.expect(p.AccountStatus)
    assert (status.account, status.admin, status.token) == ("ann", False, token.token)
    client.close()
    again = _client(accounts_server)
    events = hello_v2(again, "whatever", ALL, token=token.token)
    assert events[0].nick == "ann"
    assert events[-1].account == "ann"
    again.close()


def test_a_guest_cannot_take_an_owned_nick(accounts_server):
    _register(accounts_server, "ann")
    guest = _client(accounts_server)
    assert hello_v2(guest, "ann", ALL)[0].nick == "ann_1"
    guest.send(p.ChangeNick(ref=2, nick="Ann"))
    error = guest.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.NICK_IN_USE, 2)
    v1 = _client(accounts_server)
    assert v1.hello("ann").nick == "ann_2"
    guest.close()
    v1.close()


def test_the_owner_logging_in_renames_the_guest_holding_the_nick(accounts_server):
    guest = _client(accounts_server)
    assert hello_v2(guest, "bob", ALL)[0].nick == "bob"
    logins = accounts_server._logins
    made = logins.accounts.register("bob", PASSWORD, by_operator=True).result()
    assert isinstance(made, Account)
    owner, events = _login(accounts_server, "bob")
    assert events[0].nick == "bob"
    renamed = guest.expect(p.NickChanged)
    assert (renamed.old, renamed.new) == ("bob", "bob_1")
    owner.close()
    guest.close()


def test_a_wrong_password_is_refused_and_a_brute_force_is_slowed(accounts_server):
    _register(accounts_server, "cat")
    codes = []
    for attempt in range(4):
        client, events = _login(accounts_server, "cat", f"wrong guess {attempt}")
        (error,) = events
        codes.append(error.code)
        assert "password" in error.text or "try again" in error.text
        assert isinstance(client.expect(p.Bye), p.Bye)
        client.close()
    assert codes[0] is p.ErrorCode.AUTH_FAILED
    assert p.ErrorCode.TRY_LATER in codes


def test_change_password_and_logout(accounts_server):
    _register(accounts_server, "dan")
    client, events = _login(accounts_server, "dan")
    old_token = events[-1].token
    client.expect(p.AccountStatus)
    client.send(
        p.ChangePassword(ref=3, old_password=PASSWORD, new_password="a new long one")
    )
    changed = client.expect(p.AccountStatus)
    assert changed.ref == 3
    assert changed.token not in (b"", old_token)
    client.send(p.Logout(ref=4))
    out = client.expect(p.AccountStatus)
    assert (out.ref, out.account, out.token) == (4, None, b"")
    assert client.expect(p.Bye).reason == "logged out"
    client.close()
    # Both tokens are dead now; the new password works.
    for token in (old_token, changed.token):
        probe = _client(accounts_server)
        assert hello_v2(probe, "dan_x", ALL, token=token)[-1].account is None
        probe.close()
    fresh, events = _login(accounts_server, "dan", "a new long one")
    assert events[-1].account == "dan"
    fresh.close()


def test_moderation_needs_an_admin(accounts_server):
    _register(accounts_server, "eve")
    _register(accounts_server, "root")
    accounts_server._logins.accounts.promote("root", by=None)
    eve, _ = _login(accounts_server, "eve")
    eve.expect(p.AccountStatus)
    target = _client(accounts_server)
    target.hello("target")
    eve.send(p.Moderate(ref=5, action=p.ModerationAction.KICK, target="target"))
    error = eve.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.NOT_PERMITTED, 5)
    root, _ = _login(accounts_server, "root")
    assert root.expect(p.AccountStatus).admin
    root.send(
        p.Moderate(
            ref=6, action=p.ModerationAction.KICK, target="target", reason="spam"
        )
    )
    answers = root.drain(0.3)
    assert [e.ref for e in answers if isinstance(e, p.Moderated)] == [6]
    bye = target.expect(p.Bye, skip=(p.UserJoined, p.UserLeft, p.Error))
    assert bye.reason == "kicked: spam"
    left = [e for e in eve.drain(0.3) if isinstance(e, p.UserLeft)]
    assert [(e.nick, e.reason) for e in left] == [("target", "kicked: spam")]
    root.send(p.Moderate(ref=7, action=p.ModerationAction.INVITE))
    assert "invite code" in root.expect(p.Moderated).text
    for client in (eve, target, root):
        client.close()


def test_accounts_survive_a_restart(make_server, tmp_path):
    first = make_server(data_dir=tmp_path / "data", cheap_hashing=True)
    _register(first, "fay")
    first.stop()
    second = make_server(data_dir=tmp_path / "data", cheap_hashing=True)
    client, events = _login(second, "fay")
    assert events[-1].account == "fay"
    client.close()


def test_a_server_that_requires_accounts_refuses_guests(make_server, tmp_path):
    server = make_server(
        data_dir=tmp_path / "data", cheap_hashing=True, require_account=True
    )
    guest = _client(server)
    (error,) = hello_v2(guest, "guest", ALL)
    assert error.code is p.ErrorCode.ACCOUNT_REQUIRED
    old = _client(server)
    refused = old.hello("old")
    assert refused.code is p.ErrorCode.UNSUPPORTED_VERSION
    guest.close()
    old.close()


def test_no_password_reaches_the_log(accounts_server, server_log):
    _register(accounts_server, "gus", "a very secret phrase")
    client, _ = _login(accounts_server, "gus", "a very secret phrase")
    client.close()
    _login(accounts_server, "gus", "another secret guess")[0].close()
    text = "\n".join(r.getMessage() for r in server_log.records)
    assert "secret" not in text
