"""The connect dialog: server, port and nickname, checked, then remembered."""

from __future__ import annotations

import logging

import pytest

from clients.core.settings import ClientSettings, load_settings, save_settings
from clients.gui.app import ChatWindow
from protocol import Identify
from tests.gui.conftest import FakeServer, plaintext, pump

pytestmark = pytest.mark.gui


def _status(window: ChatWindow) -> str:
    return str(window.pane.status.cget("text"))


def _fill(window: ChatWindow, **values: str) -> None:
    dialog = window.dialog
    assert dialog is not None
    for name, value in values.items():
        entry = getattr(dialog, name).entry
        entry.delete(0, "end")
        entry.insert(0, value)


def _entries(window: ChatWindow) -> dict[str, str]:
    dialog = window.dialog
    assert dialog is not None
    return {
        name: getattr(dialog, name).entry.get() for name in ("host", "port", "nick")
    }


def _focused_entry(window: ChatWindow) -> str:
    dialog = window.dialog
    assert dialog is not None
    focus = window.focus_get()
    for name in ("host", "port", "nick"):
        if focus is getattr(dialog, name).entry._entry:
            return name
    return repr(focus)


def test_every_mistake_is_shown_under_its_field_and_nothing_connects(
    make_window, tmp_path
):
    fake = FakeServer(users=())
    window = make_window(
        transport_factory=fake.factory, settings_path=tmp_path / "s.toml"
    )
    _fill(window, host="bad host", port="80000", nick="b b")
    window.dialog.connect_button.invoke()
    window.update()
    errors = window.dialog.errors()
    assert "spaces" in errors["host"]
    assert "1 to 65535" in errors["port"]
    assert "cannot contain spaces" in errors["nick"]
    assert all(text.startswith("⚠") for text in errors.values())  # not colour alone
    assert window.dialog.nick.error.winfo_ismapped()
    assert _focused_entry(window) == "host"
    assert fake.transports == []
    assert not (tmp_path / "s.toml").exists()

    _fill(window, host="chat.example.org", port="7000")
    window.dialog.connect_button.invoke()
    window.update()
    assert list(window.dialog.errors()) == ["nick"]
    assert not window.dialog.host.error.winfo_ismapped()
    assert _focused_entry(window) == "nick"
    assert fake.transports == []


def test_connect_remembers_the_choice_for_next_time(make_window, tmp_path):
    path = tmp_path / "settings.toml"
    fake = FakeServer(users=("bob",))
    window = make_window(transport_factory=fake.factory, settings_path=path)
    assert _entries(window) == {"host": "127.0.0.1", "port": "9090", "nick": ""}
    assert _focused_entry(window) == "nick"
    _fill(window, host=" [::1] ", port=" 7001 ", nick="Zoe\u0308")
    window.dialog.nick.entry._entry.event_generate("<Return>")
    pump(window, lambda: "connected" in _status(window))
    assert window.dialog is None
    assert "[::1]:7001 · Zoë · connected" in _status(window)
    assert load_settings(path) == ClientSettings(host="::1", port=7001, nick="Zoë")
    window.close()

    again = make_window(transport_factory=fake.factory, settings_path=path)
    assert _entries(again) == {"host": "::1", "port": "7001", "nick": "Zoë"}
    assert _focused_entry(again) == "nick"
    assert again.dialog.nick.entry._entry.selection_present()  # type over it


def test_the_command_line_wins_over_the_saved_server(make_window, tmp_path):
    path = tmp_path / "settings.toml"
    save_settings(ClientSettings(host="saved.example", port=7002, nick="ann"), path)
    fake = FakeServer(users=())
    window = make_window(
        host="cli.example", transport_factory=fake.factory, settings_path=path
    )
    assert _entries(window) == {"host": "cli.example", "port": "7002", "nick": "ann"}
    direct = make_window(nick="bob", transport_factory=fake.factory, settings_path=path)
    assert direct.dialog is None
    pump(direct, lambda: "connected" in _status(direct))
    assert "saved.example:7002 · bob · connected" in _status(direct)
    assert load_settings(path).nick == "ann"  # only the dialog saves


def test_a_corrupt_settings_file_gives_the_defaults(make_window, tmp_path, caplog):
    path = tmp_path / "settings.toml"
    path.write_bytes(b"\x00\xffport = [[[")
    window = make_window(transport_factory=FakeServer(()).factory, settings_path=path)
    assert _entries(window) == {"host": "127.0.0.1", "port": "9090", "nick": ""}
    assert "not valid TOML" in caplog.text


def test_an_unwritable_settings_place_still_connects(make_window, tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file", "utf-8")
    caplog.set_level(logging.WARNING)
    window = make_window(
        transport_factory=FakeServer(()).factory,
        settings_path=blocker / "settings.toml",
    )
    _fill(window, nick="ann")
    window.dialog.connect_button.invoke()
    pump(window, lambda: "connected" in _status(window))
    assert "could not save the settings" in caplog.text


def test_cancel_and_escape_close(make_window, tmp_path):
    window = make_window(settings_path=tmp_path / "s.toml")
    window.dialog.cancel_button.invoke()
    assert window.closed
    other = make_window(settings_path=tmp_path / "s.toml")
    other.dialog.port.entry._entry.event_generate("<Escape>")
    assert other.closed


def test_ctrl_a_selects_the_whole_field(make_window, tmp_path):
    window = make_window(settings_path=tmp_path / "s.toml")
    entry = window.dialog.host.entry._entry
    entry.focus_set()
    entry.icursor(3)
    entry.event_generate("<Control-a>")
    window.update()
    assert entry.selection_present()
    assert (entry.index("sel.first"), entry.index("sel.last")) == (0, 9)


def test_against_a_real_server_a_taken_nick_is_suffixed(make_window, server, peer):
    peer("bob")
    host, port = server.address
    window = make_window(host=host, port=port)
    _fill(window, nick="bob")
    window.dialog.connect_button.invoke()
    pump(window, lambda: "bob_1 · connected" in _status(window))
    assert "bob is taken; you are bob_1" in window.chat_text()


def test_log_in_to_my_account_asks_for_the_password_before_connecting(
    make_window, tmp_path
):
    fake = FakeServer(accounts=True)
    window = make_window(
        transport_factory=fake.factory,
        settings_path=tmp_path / "s.toml",
        security=plaintext(tmp_path, trust_new=True),
    )
    box = window.dialog.login
    assert box is not None
    assert box.cget("text") == "Log in to my account"
    assert not box.get()
    _fill(window, nick="ann")
    box.select()
    window.dialog.connect_button.invoke()
    pump(window, lambda: window.password_dialog is not None)
    assert fake.transports == []  # the password first
    # The box changed only the login; the command line's options stay.
    assert window._security == plaintext(tmp_path, trust_new=True, login=True)
    password = window.password_dialog
    password.entry.insert(0, "a long secret")
    password.ok_button.invoke()
    pump(window, lambda: "· ann · connected" in _status(window))
    identify = next(m for m in fake.sent() if isinstance(m, Identify))
    assert identify.password == "a long secret"
    assert "a long secret" not in window.chat_text()


def test_unticked_it_connects_as_a_guest(make_window, tmp_path):
    fake = FakeServer(accounts=True)
    window = make_window(
        transport_factory=fake.factory,
        settings_path=tmp_path / "s.toml",
        security=plaintext(tmp_path),
    )
    _fill(window, nick="ann")
    window.dialog.connect_button.invoke()
    pump(window, lambda: "· ann · connected" in _status(window))
    assert window.password_dialog is None
    identify = next(m for m in fake.sent() if isinstance(m, Identify))
    assert identify.password is None


def test_without_accounts_there_is_no_login_box(make_window, tmp_path):
    window = make_window(settings_path=tmp_path / "s.toml", security=None)
    assert window.dialog.login is None
