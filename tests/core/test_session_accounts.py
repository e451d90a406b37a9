"""Accounts as the session handles them: passwords asked for, tokens kept."""

from __future__ import annotations

import random

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.secrets import FileSecretStore, server_key
from clients.core.session import AccountSettings, ChatSession, Output
from clients.core.testing import ManualClock

ALL = ("accounts", "limits", "session")
TOKEN = b"L" * 32


class Rig:
    def __init__(self, tmp_path, *, host="127.0.0.1", login=False) -> None:
        self.store = FileSecretStore(tmp_path / "tokens.json")
        self.server_name = server_key(host, 9090)
        self.session = ChatSession(
            nick="ann",
            server=f"{host}:9090",
            clock=ManualClock(),
            rng=random.Random(2),
            accounts=AccountSettings(
                secrets=self.store, host=host, port=9090, login=login
            ),
        )
        self.server = p.Connection(p.Role.SERVER)

    def connect(self) -> tuple[p.Event, p.Event]:
        self.server = p.Connection(p.Role.SERVER)
        hello, identify = self.server.receive_data(self.session.connected().data)
        return hello, identify

    def welcome(
        self, *, account: str | None = None, token: bytes = b"S" * 32
    ) -> Output:
        return self.say(
            p.Welcome(version=2, nick="ann", server_name="t", capabilities=ALL),
            p.SessionToken(token=token, account=account),
        )

    def say(self, *messages: p.Message) -> Output:
        return self.session.received(b"".join(self.server.send(m) for m in messages))

    def sent(self, out: Output) -> list[p.Event]:
        return list(self.server.receive_data(out.data))


def _question(out: Output) -> ev.PasswordRequest:
    (question,) = [e for e in out.events if isinstance(e, ev.PasswordRequest)]
    return question


def test_login_asks_for_the_password_before_connecting(tmp_path):
    rig = Rig(tmp_path, login=True)
    out = rig.session.start()
    assert not out.connect
    question = _question(out)
    assert not question.confirm
    out = rig.session.answer_password(question.id, "correct horse")
    assert out.connect
    _, identify = rig.connect()
    assert identify == p.Identify(password="correct horse")
    rig.welcome(account="ann", token=TOKEN)
    assert rig.session.account == "ann"
    assert rig.store.load(rig.server_name, "ann") == TOKEN


def test_a_saved_token_logs_in_without_the_password(tmp_path):
    rig = Rig(tmp_path, login=True)
    rig.store.save(rig.server_name, "ann", TOKEN)
    assert rig.session.start().connect
    _, identify = rig.connect()
    assert identify == p.Identify(token=TOKEN)


def test_an_expired_token_asks_for_the_password_again(tmp_path):
    rig = Rig(tmp_path, login=True)
    rig.store.save(rig.server_name, "ann", TOKEN)
    rig.session.start()
    rig.connect()
    out = rig.welcome(account=None)
    assert _question(out)
    assert rig.store.load(rig.server_name, "ann") is None


def test_a_wrong_password_is_asked_again_and_not_retried_by_itself(tmp_path):
    rig = Rig(tmp_path, login=True)
    question = _question(rig.session.start())
    rig.session.answer_password(question.id, "wrong one")
    rig.connect()
    out = rig.say(
        p.Error(code=p.ErrorCode.AUTH_FAILED, text="wrong nick or password"),
        p.Bye(reason="wrong nick or password"),
    )
    again = _question(out)
    assert "Wrong nick or password" in again.prompt
    rig.session.closed("the server closed the connection")
    assert not rig.session.tick().connect
    assert rig.session.answer_password(again.id, "right one").connect


def test_no_password_over_plaintext_to_another_machine(tmp_path):
    rig = Rig(tmp_path, host="chat.example", login=True)
    question = _question(rig.session.start())
    rig.session.answer_password(question.id, "secret pass")
    _, identify = rig.connect()
    assert identify.password is None
    assert rig.session.status is not ev.ConnectionStatus.CONNECTED


def test_register_asks_twice_and_checks(tmp_path):
    rig = Rig(tmp_path)
    rig.session.start()
    rig.connect()
    rig.sent(rig.welcome())
    question = _question(rig.session.submit("/register"))
    assert question.confirm
    out = rig.session.answer_password(question.id, "long enough", "long enuogh")
    assert "the two passwords differ" in [
        e.text for e in out.events if isinstance(e, ev.Notice)
    ]
    question = _question(out)
    out = rig.session.answer_password(question.id, "short", "short")
    question = _question(out)
    out = rig.session.answer_password(question.id, "long enough", "long enough")
    (register,) = rig.sent(out)
    assert register == p.Register(ref=register.ref, password="long enough")
    out = rig.say(p.AccountStatus(ref=register.ref, account="ann", token=TOKEN))
    assert rig.session.account == "ann"
    assert rig.store.load(rig.server_name, "ann") == TOKEN
    assert any(
        isinstance(e, ev.Notice) and "now your account" in e.text for e in out.events
    )


def test_change_password_asks_the_current_one_then_a_new_one(tmp_path):
    rig = Rig(tmp_path)
    rig.session.start()
    rig.connect()
    rig.sent(rig.welcome(account="ann"))
    current = _question(rig.session.submit("/password"))
    assert not current.confirm
    new = _question(rig.session.answer_password(current.id, "old password"))
    assert new.confirm
    (change,) = rig.sent(
        rig.session.answer_password(new.id, "new password", "new password")
    )
    assert (change.old_password, change.new_password) == (
        "old password",
        "new password",
    )


def test_logout_forgets_the_token_and_does_not_come_back(tmp_path):
    rig = Rig(tmp_path)
    rig.session.start()
    rig.connect()
    rig.sent(rig.welcome(account="ann", token=TOKEN))
    assert rig.store.load(rig.server_name, "ann") == TOKEN
    (logout,) = rig.sent(rig.session.submit("/logout"))
    rig.say(p.AccountStatus(ref=logout.ref), p.Bye(reason="logged out"))
    rig.session.closed("the server closed the connection")
    assert rig.store.load(rig.server_name, "ann") is None
    assert rig.session.status is ev.ConnectionStatus.DISCONNECTED


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("/kick bob rude", p.ModerationAction.KICK),
        ("/invite-code", p.ModerationAction.INVITE),
    ],
)
def test_moderation_requests_and_their_answers(tmp_path, line, action):
    rig = Rig(tmp_path)
    rig.session.start()
    rig.connect()
    rig.sent(rig.welcome(account="ann"))
    (request,) = rig.sent(rig.session.submit(line))
    assert request.action is action
    out = rig.say(p.Moderated(ref=request.ref, text="done: code K7XQ-2M4P"))
    assert ev.Notice("done: code K7XQ-2M4P") in out.events


def test_account_commands_need_a_server_with_accounts(tmp_path):
    rig = Rig(tmp_path)
    rig.session.start()
    rig.connect()
    rig.sent(rig.say(p.Welcome(version=1, nick="ann", server_name="t")))
    out = rig.session.submit("/register")
    assert not out.accepted


def test_cancelling_the_login_password_ends_disconnected_and_says_how_on(tmp_path):
    rig = Rig(tmp_path, login=True)
    question = _question(rig.session.start())
    out = rig.session.answer_password(question.id, None)
    assert not out.connect
    assert rig.session.status is ev.ConnectionStatus.DISCONNECTED
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert "/login" in status.detail


@pytest.mark.parametrize("password", ["", "x" * 257])
def test_an_empty_or_over_long_password_is_asked_again(tmp_path, password):
    rig = Rig(tmp_path, login=True)
    question = _question(rig.session.start())
    out = rig.session.answer_password(question.id, password)
    assert not out.connect
    assert _question(out).id != question.id


def test_a_server_without_accounts_refusing_the_password_is_final(tmp_path):
    rig = Rig(tmp_path, login=True)
    question = _question(rig.session.start())
    rig.session.answer_password(question.id, "some password")
    _, identify = rig.connect()
    assert identify.password == "some password"
    rig.say(
        p.Error(code=p.ErrorCode.INVALID_FIELD, text="this server has no accounts"),
        p.Bye(reason="this server has no accounts"),
    )
    rig.session.closed("the server closed the connection")
    assert rig.session.status is ev.ConnectionStatus.DISCONNECTED
    assert not rig.session.tick().connect
