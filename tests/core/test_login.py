"""`Login` on its own: tokens, passwords and the account requests by ref."""

from __future__ import annotations

import itertools

import pytest

import protocol as p
from clients.core import commands as cmd
from clients.core import events as ev
from clients.core.link import Link
from clients.core.login import CLEARTEXT_REFUSED, AccountSettings, Login
from clients.core.secrets import FileSecretStore, server_key

SERVER = "chat.example:9090"
CAPS = frozenset({p.CAP_ACCOUNTS})
ON = Link(server=SERVER, open=True, capabilities=CAPS)


@pytest.fixture(name="store")
def _store(tmp_path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "tokens.json")


def _login(
    store: FileSecretStore | None = None,
    *,
    host: str = "chat.example",
    login: bool = False,
) -> Login:
    refs = itertools.count(1)
    settings = (
        None
        if store is None
        else AccountSettings(secrets=store, host=host, port=9090, login=login)
    )
    return Login(settings, refs=lambda: next(refs))


def _password(login: Login, event: ev.UiEvent, password: str) -> None:
    assert isinstance(event, ev.PasswordRequest)
    answered = login.answer(event.id, password, password)
    assert answered.events == []


def test_a_saved_token_is_used_at_start_without_asking(store):
    store.save(server_key("chat.example", 9090), "ann", b"saved")
    login = _login(store, login=True)
    assert login.start("Ann", SERVER) is None
    identify, refused = login.identify(encrypted=True)
    assert identify == p.Identify(token=b"saved", password=None)
    assert refused is None


def test_without_a_token_the_password_is_asked_and_sent_once(store):
    login = _login(store, login=True)
    ask = login.start("ann", SERVER)
    assert ask is not None
    assert ask.prompt == f"Password for ann on {SERVER}"
    _password(login, ask, "hunter2hunter2")
    identify, _ = login.identify(encrypted=True)
    assert identify.password == "hunter2hunter2"
    step = login.session_token(
        p.SessionToken(token=b"t1", account="ann"), "ann", SERVER
    )
    assert step.events == ()
    assert login.account == "ann"
    assert store.load(server_key("chat.example", 9090), "ann") == b"t1"
    identify, _ = login.identify(encrypted=True)
    assert identify == p.Identify(token=b"t1", password=None)


@pytest.mark.parametrize(
    ("host", "encrypted", "sent"),
    [
        ("chat.example", False, False),
        ("chat.example", True, True),
        ("127.0.0.1", False, True),
        ("localhost", False, True),
    ],
)
def test_a_password_goes_in_the_clear_only_to_this_machine(
    store, host, encrypted, sent
):
    login = _login(store, host=host, login=True)
    _password(login, login.ask_password("ann", SERVER), "hunter2hunter2")
    identify, refused = login.identify(encrypted=encrypted)
    assert (identify.password is not None) is sent
    assert refused == (None if sent else CLEARTEXT_REFUSED)


def test_an_expired_token_is_forgotten_and_the_password_asked(store):
    key = server_key("chat.example", 9090)
    store.save(key, "ann", b"old")
    login = _login(store, login=True)
    login.start("ann", SERVER)
    step = login.session_token(
        p.SessionToken(token=b"guest", account=None), "ann", SERVER
    )
    notice, ask = step.events
    assert isinstance(notice, ev.Notice)
    assert "expired" in notice.text
    assert isinstance(ask, ev.PasswordRequest)
    assert store.load(key, "ann") is None


def test_account_commands_are_refused_offline_or_without_accounts():
    login = _login()
    logout = login.plan(
        cmd.LogOut(everywhere=False),
        ON,
        nick="ann",
    )
    assert logout.refusal == "you are not logged in"
    register = login.plan(
        cmd.RegisterNick(None),
        Link(server=SERVER, open=True),
        nick="ann",
    )
    assert register.refusal == f"{SERVER} has no accounts"
    offline = login.plan(
        cmd.ChangeMyPassword(),
        Link(server=SERVER, capabilities=CAPS),
        nick="ann",
    )
    assert offline.refusal is not None
    assert "not connected" in offline.refusal


def test_a_registration_is_tracked_by_ref_and_its_answer_kept(store):
    login = _login(store)
    step = login.plan(
        cmd.RegisterNick("inv"),
        ON,
        nick="ann",
    )
    (ask,) = step.events
    assert isinstance(ask, ev.PasswordRequest)
    answered = login.answer(ask.id, "hunter2hunter2", "hunter2hunter2")
    assert answered.request is not None
    message = login.track(answered.request)
    assert isinstance(message, p.Register)
    assert message.invite == "inv"
    step = login.account_status(
        p.AccountStatus(ref=message.ref, account="ann", token=b"t"), "ann"
    )
    (done,) = step.events
    assert isinstance(done, ev.Notice)
    assert "is now your account" in done.text
    assert step.fatal is None
    assert store.load(server_key("chat.example", 9090), "ann") == b"t"


def test_logging_out_forgets_the_token_and_stops_reconnecting(store):
    key = server_key("chat.example", 9090)
    store.save(key, "ann", b"t")
    login = _login(store, login=True)
    login.start("ann", SERVER)
    login.session_token(p.SessionToken(token=b"t", account="ann"), "ann", SERVER)
    step = login.plan(
        cmd.LogOut(everywhere=True),
        ON,
        nick="ann",
    )
    assert isinstance(step.send, p.Logout)
    step = login.account_status(
        p.AccountStatus(ref=step.send.ref, account=None, token=b""), "ann"
    )
    assert step.fatal == "you logged out"
    assert store.load(key, "ann") is None
    assert login.account is None


def test_refusals_of_our_requests_read_right_and_others_are_not_ours():
    login = _login()
    step = login.plan(
        cmd.Moderation(p.ModerationAction.BAN, "eve", "spam", 0),
        ON,
        nick="ann",
    )
    assert isinstance(step.send, p.Moderate)
    ref = step.send.ref
    error = p.Error(ref=ref, code=p.ErrorCode.NOT_PERMITTED, text="not an admin")
    assert login.refused(error) == "ban eve: not an admin"
    assert login.refused(error) is None  # answered once


@pytest.mark.parametrize(
    ("code", "asks", "fatal"),
    [
        (p.ErrorCode.AUTH_FAILED, True, False),
        (p.ErrorCode.BANNED, False, True),
        (p.ErrorCode.INVALID_NICK, False, True),
        (p.ErrorCode.SERVER_FULL, False, False),
    ],
)
def test_a_refusal_before_welcome_decides_whether_retrying_helps(code, asks, fatal):
    login = _login()
    step = login.refused_handshake(p.Error(ref=0, code=code, text="no"), "ann", SERVER)
    assert any(isinstance(e, ev.PasswordRequest) for e in step.events) is asks
    assert (step.fatal == "no") is fatal


def test_a_refused_password_is_not_sent_again(store):
    login = _login(store, login=True)
    _password(login, login.ask_password("ann", SERVER), "hunter2hunter2")
    error = p.Error(ref=0, code=p.ErrorCode.AUTH_FAILED, text="wrong")
    (again,) = login.refused_handshake(error, "ann", SERVER).events
    assert isinstance(again, ev.PasswordRequest)
    assert again.prompt.startswith("Wrong nick or password.")
    identify, _ = login.identify(encrypted=True)
    assert identify.password is None
