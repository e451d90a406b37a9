"""Certificates, passwords and encryption in the window.

A real `ChatSession` with its pin file and token file in tmp_path, on a
fake transport that plays a TLS server (`PlayedServer`): the dialogs, what
they send and what they never show.
"""

from __future__ import annotations

import logging
from typing import cast

import pytest

from clients.core.formatting import CONTINUATION
from clients.core.launch import Security
from clients.core.secrets import FileSecretStore, server_key
from clients.core.testing import ACCOUNT_TOKEN
from clients.core.tls import TlsInfo
from clients.core.trust import KnownServers
from clients.gui.app import PLAINTEXT_BADGE, ChatWindow
from clients.gui.dialogs import MASK, PasswordDialog, TrustDialog
from protocol import ChangePassword, Hello, Identify, Register
from tests.gui.conftest import FakeServer, plaintext, press, pump

pytestmark = pytest.mark.gui

HOST, PORT = "127.0.0.1", 9
FINGERPRINT = ":".join(f"{byte:02X}" for byte in range(32))
OTHER = ":".join(f"{255 - byte:02X}" for byte in range(32))
SELF_SIGNED = TlsInfo(fingerprint=FINGERPRINT, verified=False, version="TLSv1.3")
SECRET = "tr0ub4dor&3-hunter2"
OTHER_SECRET = "correct horse battery"


def _status(window: ChatWindow) -> str:
    return str(window.pane.status.cget("text"))


def _secure(tmp_path, **options) -> Security:
    """TLS (as the fake plays it), pins and tokens in tmp_path."""
    return Security(
        program="chinwag-gui",
        known_servers=tmp_path / "known_servers",
        tokens=tmp_path / "tokens.json",
        **options,
    )


def _tls_window(make_window, tmp_path, fake: FakeServer) -> ChatWindow:
    return make_window(
        host=HOST,
        port=PORT,
        nick="ann",
        security=_secure(tmp_path),
        transport_factory=fake.factory,
    )


def _asked_trust(window: ChatWindow) -> TrustDialog:
    pump(window, lambda: window.trust_dialog is not None)
    dialog = window.trust_dialog
    assert dialog is not None
    assert dialog.winfo_ismapped()
    return dialog


def _asked_password(window: ChatWindow) -> PasswordDialog:
    pump(window, lambda: window.password_dialog is not None)
    dialog = window.password_dialog
    assert dialog is not None
    assert dialog.winfo_ismapped()
    return dialog


def _history(window: ChatWindow) -> list[str]:
    assert window.client is not None
    return list(window.client.session.history._lines)


def _send(window: ChatWindow, text: str) -> None:
    window.pane.input.delete("1.0", "end")
    window.pane.input.insert("1.0", text)
    window.pane.send_button.invoke()
    window.update()


def _answer(dialog: PasswordDialog, password: str, repeat: str | None = None) -> None:
    dialog.entry.insert(0, password)
    if repeat is not None:
        assert dialog.repeat is not None
        dialog.repeat.insert(0, repeat)
    dialog.ok_button.invoke()


# --- certificates -------------------------------------------------------------------


def test_a_first_seen_certificate_is_asked_about_and_trusting_it_pins_it(
    make_window, tmp_path
):
    fake = FakeServer(tls=SELF_SIGNED)
    window = _tls_window(make_window, tmp_path, fake)
    dialog = _asked_trust(window)
    text = dialog.text()
    assert f"The server {HOST}:{PORT} is not known yet" in text
    assert "Type yes or no" not in text  # buttons answer here
    rows = dialog.fingerprint_text().split("\n")
    assert rows == [FINGERPRINT[:47], FINGERPRINT[48:]]  # 16 bytes a row
    assert dialog.fingerprint_box is not None
    font = dialog.fingerprint_box.cget("font")
    assert font.measure("1111") == font.measure("WWWW")  # monospace
    assert fake.sent() == []  # nothing until answered
    assert "connecting" in _status(window)
    assert "Type yes or no" not in window.chat_text()

    dialog.trust_button.invoke()
    pump(window, lambda: _status(window).endswith("· ann · connected"))
    assert window.trust_dialog is None
    assert not dialog.winfo_ismapped()
    assert KnownServers(tmp_path / "known_servers").pinned(HOST, PORT) == FINGERPRINT
    assert isinstance(fake.sent()[0], Hello)
    assert not window.pane.badge.winfo_ismapped()  # encrypted

    # Next time the pin vouches for it: no question.
    again = FakeServer(tls=SELF_SIGNED)
    second = _tls_window(make_window, tmp_path, again)
    pump(second, lambda: _status(second).endswith("· ann · connected"))
    assert second.trust_dialog is None


@pytest.mark.parametrize("how", ["button", "escape"])
def test_not_trusting_the_certificate_sends_nothing_and_says_so(
    make_window, tmp_path, how
):
    fake = FakeServer(tls=SELF_SIGNED)
    window = _tls_window(make_window, tmp_path, fake)
    dialog = _asked_trust(window)
    if how == "button":
        dialog.refuse_button.invoke()
    else:
        press(dialog.fingerprint_box, "<Escape>")
    window.update()
    assert window.trust_dialog is None
    assert "· ann · disconnected" in _status(window)
    assert "you did not trust the server's certificate" in window.chat_text()
    assert window.pane.banner.is_shown()
    assert "you did not trust" in window.pane.banner.text()
    assert fake.sent() == []
    assert fake.current.closed
    assert KnownServers(tmp_path / "known_servers").pinned(HOST, PORT) is None


def test_closing_the_window_while_asked_sends_nothing(make_window, tmp_path):
    fake = FakeServer(tls=SELF_SIGNED)
    window = _tls_window(make_window, tmp_path, fake)
    dialog = _asked_trust(window)
    window.close()
    window.update()
    assert window.trust_dialog is None
    assert not dialog.winfo_ismapped()
    assert fake.sent() == []
    assert fake.current.closed
    assert KnownServers(tmp_path / "known_servers").pinned(HOST, PORT) is None


def test_a_changed_certificate_is_a_loud_refusal_and_never_connects(
    make_window, tmp_path
):
    KnownServers(tmp_path / "known_servers").pin(HOST, PORT, OTHER)
    fake = FakeServer(tls=SELF_SIGNED)
    window = _tls_window(make_window, tmp_path, fake)
    pump(window, lambda: "disconnected" in _status(window))
    assert window.trust_dialog is None  # nothing to ask: refused
    banner = window.pane.banner
    assert banner.is_shown()
    warning = banner.text()
    assert f"THE CERTIFICATE OF {HOST}:{PORT} HAS CHANGED" in warning
    assert OTHER in warning
    assert FINGERPRINT in warning
    assert f"chinwag-gui --forget-host {HOST}:{PORT}" in warning
    # The log keeps it too, each further line behind the continuation mark.
    rows = window.chat_text().split("\n")
    first = next(i for i, row in enumerate(rows) if "HAS CHANGED" in row)
    assert rows[first].startswith("disconnected: WARNING")
    assert rows[first + 1].startswith(CONTINUATION + "Someone could be intercepting")
    assert fake.sent() == []
    assert fake.current.closed

    # Reconnecting meets the same certificate: refused again, still silent.
    banner.reconnect_button.invoke()
    pump(window, lambda: len(fake.transports) == 2 and fake.current.closed)
    pump(window, lambda: "disconnected" in _status(window))
    assert banner.is_shown()
    assert fake.sent() == []
    assert KnownServers(tmp_path / "known_servers").pinned(HOST, PORT) == OTHER


def test_the_banner_can_be_dismissed_and_goes_when_connecting_again(
    make_window, tmp_path
):
    fake = FakeServer(tls=SELF_SIGNED)
    window = _tls_window(make_window, tmp_path, fake)
    _asked_trust(window).refuse_button.invoke()
    banner = window.pane.banner
    assert banner.is_shown()
    banner.dismiss_button.invoke()
    assert not banner.is_shown()
    banner.show("Not connected", "again")
    window.reconnect()
    assert not banner.is_shown()
    dialog = _asked_trust(window)
    dialog.trust_button.invoke()
    pump(window, lambda: _status(window).endswith("· ann · connected"))


# --- passwords -------------------------------------------------------------------


@pytest.fixture(name="accounts_window")
def _accounts_window(make_window, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeServer(accounts=True)
    window = make_window(
        host=HOST,
        port=PORT,
        nick="ann",
        security=plaintext(tmp_path),
        transport_factory=fake.factory,
    )
    pump(window, lambda: "· ann · connected" in _status(window))
    return window, fake


def _never_shown(window: ChatWindow, caplog, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in window.chat_text()
        assert not any(secret in line for line in _history(window))
        assert secret not in window._input_text()
        assert secret not in caplog.text


def test_register_asks_twice_masked_and_a_mismatch_asks_again(accounts_window, caplog):
    window, fake = accounts_window
    window.pane.input._textbox.focus_force()  # the user is in the window
    _send(window, "/register")
    dialog = _asked_password(window)
    assert window.focus_get() is dialog.entry._entry  # typing goes to the dialog
    assert dialog.request.confirm
    assert dialog.repeat is not None
    assert dialog.entry.cget("show") == MASK
    assert dialog.repeat.cget("show") == MASK
    assert dialog.prompt.cget("text") == "Choose a password for the account ann"

    _answer(dialog, SECRET, OTHER_SECRET)
    again = _asked_password(window)
    assert again is not dialog
    assert not dialog.winfo_ismapped()
    assert dialog.entry.get() == ""  # read, then emptied
    assert again.prompt.cget("text").startswith("the two passwords differ")
    assert "the two passwords differ" in window.chat_text()
    assert not any(isinstance(m, Register) for m in fake.sent())

    _answer(again, SECRET, SECRET)
    pump(window, lambda: "ann is now your account" in window.chat_text())
    assert window.password_dialog is None
    registers = [m for m in fake.sent() if isinstance(m, Register)]
    assert [m.password for m in registers] == [SECRET]
    _never_shown(window, caplog, SECRET, OTHER_SECRET)
    assert "/register" in _history(window)


@pytest.mark.parametrize("how", ["button", "escape"])
def test_cancelling_a_password_sends_nothing(accounts_window, caplog, how):
    window, fake = accounts_window
    _send(window, "/password")
    dialog = _asked_password(window)
    assert dialog.repeat is None  # the current password: asked once
    dialog.entry.insert(0, SECRET)
    if how == "button":
        dialog.cancel_button.invoke()
    else:
        press(dialog.entry, "<Escape>")
    window.update()
    assert window.password_dialog is None
    assert "cancelled; no password was sent" in window.chat_text()
    before = len(fake.sent())
    window.update()
    assert len(fake.sent()) == before
    assert not any(isinstance(m, ChangePassword | Register) for m in fake.sent())
    _never_shown(window, caplog, SECRET)


def test_an_empty_password_is_not_sent_and_enter_moves_to_repeat(accounts_window):
    window, fake = accounts_window
    _send(window, "/register")
    dialog = _asked_password(window)
    dialog.ok_button.invoke()
    assert window.password_dialog is dialog
    assert dialog.winfo_ismapped()
    assert dialog.error.cget("text") == "⚠ enter the password"
    dialog.entry.insert(0, SECRET)
    press(dialog.entry, "<Return>")
    assert window.password_dialog is dialog  # Enter went on to Repeat
    assert window.focus_get() is dialog.repeat._entry
    assert dialog.repeat is not None
    dialog.repeat.insert(0, SECRET)
    press(dialog.repeat, "<Return>")
    pump(window, lambda: "ann is now your account" in window.chat_text())
    assert [m.password for m in fake.sent() if isinstance(m, Register)] == [SECRET]


def test_login_without_a_saved_token_asks_before_connecting(
    make_window, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    fake = FakeServer(accounts=True)
    security = plaintext(tmp_path, login=True)
    window = make_window(
        host=HOST,
        port=PORT,
        nick="ann",
        security=security,
        transport_factory=fake.factory,
    )
    dialog = _asked_password(window)
    assert dialog.repeat is None
    assert dialog.prompt.cget("text") == f"Password for ann on {HOST}:{PORT}"
    window.update()
    assert fake.transports == []  # not even a connection before the answer

    dialog.entry.insert(0, SECRET)
    press(dialog.entry, "<Return>")
    pump(window, lambda: "· ann · connected" in _status(window))
    identify = next(m for m in fake.sent() if isinstance(m, Identify))
    assert identify.password == SECRET
    tokens = FileSecretStore(tmp_path / "tokens.json")
    assert tokens.load(server_key(HOST, PORT), "ann") == ACCOUNT_TOKEN
    _never_shown(window, caplog, SECRET)
    assert SECRET not in (tmp_path / "tokens.json").read_text("utf-8")

    # With the token saved, the next start logs in without asking.
    again = FakeServer(accounts=True)
    second = make_window(
        host=HOST,
        port=PORT,
        nick="ann",
        security=security,
        transport_factory=again.factory,
    )
    pump(second, lambda: "· ann · connected" in _status(second))
    assert second.password_dialog is None
    identify = next(m for m in again.sent() if isinstance(m, Identify))
    assert (identify.token, identify.password) == (ACCOUNT_TOKEN, None)


def test_cancelling_the_login_password_connects_nowhere(make_window, tmp_path):
    fake = FakeServer(accounts=True)
    window = make_window(
        host=HOST,
        port=PORT,
        nick="ann",
        security=plaintext(tmp_path, login=True),
        transport_factory=fake.factory,
    )
    _asked_password(window).cancel_button.invoke()
    window.update()
    assert "cancelled; no password was sent" in window.chat_text()
    assert fake.transports == []


# --- encryption in the status bar --------------------------------------------------


def test_a_plaintext_connection_wears_a_not_encrypted_badge(fake_window):
    window, _ = fake_window()
    assert _status(window).endswith("· ann · connected, not encrypted")
    assert window.pane.badge.winfo_ismapped()
    assert window.pane.badge.cget("text") == PLAINTEXT_BADGE


def test_an_encrypted_connection_has_no_badge(make_window):
    verified = TlsInfo(fingerprint=FINGERPRINT, verified=True, version="TLSv1.3")
    fake = FakeServer(tls=verified)
    window = make_window(
        host=HOST, port=PORT, nick="ann", security=None, transport_factory=fake.factory
    )
    pump(window, lambda: _status(window).endswith("· ann · connected"))
    assert not window.pane.badge.winfo_ismapped()


# --- screenshots (looked at by hand; only checked for content here) ----------------


def _grab(window: ChatWindow, widget, path) -> None:
    from PIL import ImageGrab  # noqa: PLC0415 - only in the gui session

    window.update()
    x, y = widget.winfo_rootx(), widget.winfo_rooty()
    image = ImageGrab.grab(
        bbox=(x, y, x + widget.winfo_width(), y + widget.winfo_height())
    )
    image.save(path)
    print(f"screenshot: {path}")
    darkest, lightest = cast("tuple[int, int]", image.convert("L").getextrema())
    assert lightest - darkest > 50  # drawn, not a blank rectangle


def test_screenshot_of_the_trust_dialog(make_window, tmp_path):
    window = _tls_window(make_window, tmp_path, FakeServer(tls=SELF_SIGNED))
    _grab(window, _asked_trust(window), tmp_path / "trust-dialog.png")


def test_screenshot_of_the_password_dialog(accounts_window, tmp_path):
    window, _ = accounts_window
    _send(window, "/register")
    dialog = _asked_password(window)
    dialog.entry.insert(0, SECRET)
    _grab(window, dialog, tmp_path / "password-dialog.png")


def test_screenshot_of_a_refused_certificate(make_window, tmp_path):
    KnownServers(tmp_path / "known_servers").pin(HOST, PORT, OTHER)
    window = _tls_window(make_window, tmp_path, FakeServer(tls=SELF_SIGNED))
    pump(window, lambda: "disconnected" in _status(window))
    _grab(window, window, tmp_path / "changed-certificate.png")
