"""`chinwag-server admin`: real argon2, a real database file in a temp dir."""

from __future__ import annotations

import stat

import pytest

from server import admin
from server.accounts import Account, Accounts
from server.store import SqliteStore


def _run(data_dir, *argv, answers=("hunter2hunter2", "hunter2hunter2")):
    replies = iter(answers)
    return admin.main(
        ["--data-dir", str(data_dir), *argv], ask=lambda _prompt: next(replies)
    )


def _find(data_dir, name) -> Account | None:
    store = SqliteStore.in_data_dir(data_dir)
    try:
        with Accounts(store) as accounts:
            return accounts.find(name)
    finally:
        store.close()


def test_create_an_admin_then_log_in_with_its_password(tmp_path, capsys):
    assert _run(tmp_path, "create-user", "ann", "--admin") == 0
    assert "created admin account ann" in capsys.readouterr().out
    account = _find(tmp_path, "ANN")
    assert account is not None
    assert account.is_admin
    store = SqliteStore.in_data_dir(tmp_path)
    try:
        with Accounts(store) as accounts:
            assert isinstance(
                accounts.verify("ann", "hunter2hunter2").result(), Account
            )
    finally:
        store.close()
    mode = stat.S_IMODE((tmp_path / "chinwag.sqlite3").stat().st_mode)
    assert mode & 0o077 == 0


def test_mismatched_passwords_change_nothing(tmp_path, capsys):
    assert (
        _run(tmp_path, "create-user", "bob", answers=("one password", "another")) == 1
    )
    assert "differ" in capsys.readouterr().err
    assert _find(tmp_path, "bob") is None


def test_the_password_may_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CHINWAG_PASSWORD", "from the environment")
    assert _run(tmp_path, "create-user", "cat", answers=()) == 0
    assert _find(tmp_path, "cat") is not None


def test_promote_invite_ban_and_unban(tmp_path, capsys):
    _run(tmp_path, "create-user", "dan")
    assert _run(tmp_path, "promote", "dan") == 0
    assert _find(tmp_path, "dan").is_admin
    assert _run(tmp_path, "invite", "--days", "1") == 0
    code = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(code.replace("-", "")) == 16
    assert _run(tmp_path, "ban", "dan", "--minutes", "5", "--reason", "spam") == 0
    assert _run(tmp_path, "unban", "dan") == 0
    assert "1 ban(s) lifted" in capsys.readouterr().out


def test_unknown_accounts_are_refused_clearly(tmp_path, capsys):
    assert _run(tmp_path, "promote", "nobody") == 1
    assert "nobody" in capsys.readouterr().err


def test_a_command_is_required(tmp_path):
    with pytest.raises(SystemExit):
        _run(tmp_path)
