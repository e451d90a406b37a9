"""Certificates, passwords and encryption in the terminal client.

A real `ChatSession` with its pin file and token file in tmp_path, on a
fake transport that plays a TLS server (`PlayedServer`): the modal screens,
what they send, and what they never show.
"""

from __future__ import annotations

import logging

import pytest
from textual.color import Color
from textual.widgets import Button, Checkbox, Input

from clients.core.accounts import Purpose
from clients.core.events import TrustQuestion
from clients.core.formatting import CONTINUATION
from clients.core.secrets import FileSecretStore, server_key
from clients.core.testing import ACCOUNT_TOKEN
from clients.core.tls import TlsInfo
from clients.core.trust import KnownServers, changed_warning
from clients.tui.app import NOT_ENCRYPTED_MARK, ChatApp
from clients.tui.screens import PasswordScreen, TrustScreen
from protocol import ChangePassword, Hello, Identify, Register
from tests.tui.helpers import (
    FakeServer,
    log_lines,
    log_text,
    plaintext,
    screen_lines,
    secure,
    status,
    type_line,
    until,
)

pytestmark = pytest.mark.tui

SIZE = (80, 24)
HOST, PORT = "127.0.0.1", 9
FINGERPRINT = ":".join(f"{byte:02X}" for byte in range(32))
OTHER = ":".join(f"{255 - byte:02X}" for byte in range(32))
SELF_SIGNED = TlsInfo(fingerprint=FINGERPRINT, verified=False, version="TLSv1.3")
SECRET = "tr0ub4dor3-hunter2"
OTHER_SECRET = "correct horse battery"


def _tls_app(tmp_path, fake: FakeServer, **options) -> ChatApp:
    return ChatApp(
        host=HOST,
        port=PORT,
        nick="ann",
        security=secure(tmp_path, **options),
        transport_factory=fake.factory,
    )


def _pinned(tmp_path) -> str | None:
    return KnownServers(tmp_path / "known_servers").pinned(HOST, PORT)


def _screen(app: ChatApp) -> str:
    return "\n".join(screen_lines(app))


def _inside(app: ChatApp, widget) -> list[str]:
    """The rows of `widget` on screen, inside its border and padding."""
    region = widget.content_region
    rows = screen_lines(app)[region.y : region.bottom]
    return [row[region.x : region.right].rstrip() for row in rows]


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _connected(app: ChatApp) -> bool:
    return status(app).endswith("· ann · connected")


async def _asked_trust(pilot, app: ChatApp) -> TrustScreen:
    await until(pilot, lambda: isinstance(app.screen, TrustScreen))
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, TrustScreen)
    return screen


async def _asked_password(pilot, app: ChatApp) -> PasswordScreen:
    await until(pilot, lambda: isinstance(app.screen, PasswordScreen))
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, PasswordScreen)
    return screen


# --- certificates -------------------------------------------------------------------


async def test_a_first_seen_certificate_is_asked_about_and_trusting_it_pins_it(
    tmp_path,
):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _asked_trust(pilot, app)
        shown = _screen(app)
        # The question whole at 80x24, its fingerprint in two rows of 16 bytes.
        inside = _inside(app, screen.query_one("#trust-box"))
        assert f"  {FINGERPRINT[:47]}" in inside
        assert f"  {FINGERPRINT[48:]}" in inside
        for line in screen.question.text.splitlines():
            if FINGERPRINT not in line:
                assert _squeezed(line) in _squeezed("".join(inside)), line
        assert "Trust and connect" in shown
        assert "Don't connect" in shown
        assert screen.focused is screen.query_one("#trust-refuse", Button)
        assert fake.sent() == []  # nothing until answered
        assert "connecting" in status(app)
        assert "not known yet" not in log_text(app)  # the screen asks, not the log

        await pilot.press("tab")  # a deliberate move to the other button
        assert screen.focused is screen.query_one("#trust-accept", Button)
        await pilot.press("enter")
        await until(pilot, lambda: _connected(app))
        assert app.screen is app.screen_stack[0]
        assert app.trust_screen is None
        assert app.focused is app.message_input
        assert _pinned(tmp_path) == FINGERPRINT
        assert isinstance(fake.sent()[0], Hello)
        assert NOT_ENCRYPTED_MARK not in status(app)
        assert not app.status_bar.has_class("plaintext")

    # Next time the pin vouches for it: no question.
    again = FakeServer(tls=SELF_SIGNED)
    second = _tls_app(tmp_path, again)
    async with second.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _connected(second))
        assert second.trust_screen is None
        assert isinstance(again.sent()[0], Hello)


@pytest.mark.parametrize("key", ["enter", "escape"])
async def test_not_trusting_sends_nothing_and_enter_alone_never_trusts(tmp_path, key):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        await _asked_trust(pilot, app)
        await pilot.press(key)  # Enter presses the focused "Don't connect"
        await until(pilot, lambda: "disconnected" in status(app))
        assert app.trust_screen is None
        assert app.screen is app.screen_stack[0]
        assert "you did not trust the server's certificate" in log_text(app)
        assert "you did not trust" in app.banner.text
        assert fake.sent() == []
        assert fake.current.closed
        assert _pinned(tmp_path) is None
        await pilot.pause(0.3)  # ticks pass: still nothing, no reconnection
        assert len(fake.transports) == 1
        assert fake.sent() == []


async def test_the_dont_connect_button_refuses(tmp_path):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        await _asked_trust(pilot, app)
        await pilot.click("#trust-refuse")
        await until(pilot, lambda: "disconnected" in status(app))
        assert fake.sent() == []
        assert _pinned(tmp_path) is None

        # /reconnect asks again; the other button trusts.
        await type_line(pilot, "/reconnect")
        await _asked_trust(pilot, app)
        assert not app.banner.display  # connecting again: the bar went
        await pilot.click("#trust-accept")
        await until(pilot, lambda: _connected(app))
        assert _pinned(tmp_path) == FINGERPRINT


async def test_in_a_small_terminal_the_question_scrolls_and_the_buttons_stay(
    tmp_path,
):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=(60, 16)) as pilot:
        screen = await _asked_trust(pilot, app)
        shown = _screen(app)
        assert "Don't connect" in shown
        assert "Trust and connect" in shown
        assert "Trust this server and remember" not in shown  # below the fold
        body = screen.query_one("#trust-body")
        assert body.allow_focus()  # it scrolls, by keys too
        body.scroll_end(animate=False)
        await pilot.pause()
        assert "Trust this server and remember" in _screen(app)
        assert "Don't connect" in _screen(app)


async def test_quitting_while_asked_sends_nothing(tmp_path):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        await _asked_trust(pilot, app)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running)
    assert fake.sent() == []
    assert fake.current.closed
    assert _pinned(tmp_path) is None


async def test_a_changed_certificate_is_a_whole_warning_and_never_connects(tmp_path):
    KnownServers(tmp_path / "known_servers").pin(HOST, PORT, OTHER)
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "disconnected" in status(app))
        await pilot.pause()
        assert app.trust_screen is None  # nothing to ask: refused
        warning = changed_warning(HOST, PORT, OTHER, FINGERPRINT, program="chinwag-tui")
        # Every word of it on the 80x24 screen at once, in the log.
        log_rows = _log_on_screen(app)
        on_screen = _squeezed("".join(log_rows))
        for line in warning.splitlines():
            assert _squeezed(line) in on_screen, line
        assert "Type /reconnect to try again." in "\n".join(log_rows)
        # Each fingerprint is broken between bytes, never inside one.
        for fingerprint in (OTHER, FINGERPRINT):
            rows = [r.strip() for r in log_rows if r.strip()[:3] in fingerprint]
            assert "".join(rows) == fingerprint
            assert all(row.endswith(":") for row in rows[:-1])
        # Each further line behind the continuation mark.
        rows = log_lines(app)
        first = next(i for i, row in enumerate(rows) if "HAS CHANGED" in row)
        assert rows[first].startswith("disconnected: WARNING")
        assert rows[first + 1].startswith(CONTINUATION + "Someone could be")
        # And a bar that stays whatever the log does.
        assert app.banner.display
        assert f"THE CERTIFICATE OF {HOST}:{PORT} HAS CHANGED" in app.banner.text
        assert fake.sent() == []
        assert fake.current.closed

        # Reconnecting meets the same certificate: refused again, silent.
        await type_line(pilot, "/reconnect")
        await until(pilot, lambda: len(fake.transports) == 2 and fake.current.closed)
        await until(pilot, lambda: "disconnected" in status(app))
        assert app.banner.display
        assert fake.sent() == []
        assert _pinned(tmp_path) == OTHER


def _log_on_screen(app: ChatApp) -> list[str]:
    """The log's rows as the terminal shows them (inside its border)."""
    region = app.chat_log.scrollable_content_region
    rows = screen_lines(app)[region.y : region.bottom]
    return [row[region.x : region.right] for row in rows]


async def test_a_warning_taller_than_the_log_is_shown_from_its_start(tmp_path):
    host = "chat.a-rather-long-host-name-for-a-small-terminal.example.org"
    KnownServers(tmp_path / "known_servers").pin(host, PORT, OTHER)
    fake = FakeServer(tls=SELF_SIGNED)
    app = ChatApp(
        host=host,
        port=PORT,
        nick="ann",
        security=secure(tmp_path),
        transport_factory=fake.factory,
    )
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: "disconnected" in status(app))
        await pilot.pause()
        rows = _log_on_screen(app)
        assert rows[0].startswith("disconnected: WARNING")
        assert not app.chat_log.following
        assert "more below" in str(app.chat_log.border_subtitle)
        await pilot.press("end")  # End: the rest, and following again
        await pilot.pause()
        assert "Type /reconnect to try again." in "\n".join(_log_on_screen(app))
        assert app.chat_log.following
        assert not app.chat_log.border_subtitle


async def test_the_bar_hides_with_escape_and_when_connecting_again(tmp_path):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        await _asked_trust(pilot, app)
        await pilot.press("escape")
        await until(pilot, lambda: app.banner.display)
        assert "Not connected" in app.banner.text
        assert "esc" in screen_lines(app)[-1]  # the footer says how to hide it
        await pilot.press("escape")
        await pilot.pause()
        assert not app.banner.display
        assert app.banner.text == ""
        assert "you did not trust" in log_text(app)  # the log keeps it
        assert "esc" not in screen_lines(app)[-1]  # Escape is free again

        await type_line(pilot, "/reconnect")
        await _asked_trust(pilot, app)
        await pilot.press("escape")
        await until(pilot, lambda: app.banner.display)
        await pilot.click("#banner")  # a click hides it too
        await pilot.pause()
        assert not app.banner.display


async def test_a_new_question_replaces_the_one_on_screen(tmp_path):
    fake = FakeServer(tls=SELF_SIGNED)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _asked_trust(pilot, app)
        assert FINGERPRINT[:47] in screen.text()
        app._show([TrustQuestion(text=f"Again:\n  {OTHER}", fingerprint=OTHER)])
        await pilot.pause()
        assert app.screen is screen  # one screen, one answer
        assert screen.text() == f"Again:\n{OTHER[:47]}\n{OTHER[48:]}"
        assert screen.focused is screen.query_one("#trust-refuse", Button)


# --- passwords -----------------------------------------------------------------------


@pytest.fixture(name="accounts_app")
def _accounts_app(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeServer(accounts=True)
    app = ChatApp(
        host=HOST,
        port=PORT,
        nick="ann",
        security=plaintext(tmp_path),
        transport_factory=fake.factory,
    )
    return app, fake


def _history(app: ChatApp) -> list[str]:
    assert app.client is not None
    return list(app.client.session.history._lines)


def _never_kept(app: ChatApp, caplog, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in log_text(app)
        assert not any(secret in line for line in _history(app))
        assert secret not in app.message_input.text
        assert secret not in caplog.text
        assert secret not in _screen(app)


async def _type_masked(pilot, app: ChatApp, text: str) -> None:
    """Type `text` key by key; the screen never shows it, not even a part."""
    for number, char in enumerate(text, 1):
        await pilot.press(char)
        shown = _screen(app)
        assert "•" * number in shown
        if number >= 3:  # shorter pieces may be in other words on screen
            assert text[:number] not in shown


async def test_register_asks_twice_masked_and_a_mismatch_asks_again(
    accounts_app, caplog
):
    app, fake = accounts_app
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "· ann · connected" in status(app))
        await type_line(pilot, "/register")
        screen = await _asked_password(pilot, app)
        password = screen.query_one("#password", Input)
        repeat = screen.query_one("#repeat", Input)
        assert password.password
        assert repeat.password
        assert repeat.parent is not None
        assert repeat.parent.display
        assert screen.focused is password
        assert "Choose a password for the account ann" in _screen(app)

        await _type_masked(pilot, app, SECRET)
        await pilot.press("enter")  # on to the empty second field
        assert screen.focused is repeat
        await _type_masked(pilot, app, OTHER_SECRET)
        await pilot.press("enter")
        # The session says they differ and asks again.
        screen = await _asked_password(pilot, app)
        await until(pilot, lambda: "differ" in _screen(app))
        assert screen.query_one("#password", Input).value == ""
        assert "the two passwords differ" in log_text(app)
        assert not any(isinstance(m, Register) for m in fake.sent())

        await _type_masked(pilot, app, SECRET)
        await pilot.press("enter")
        await _type_masked(pilot, app, SECRET)
        await pilot.press("enter")
        await until(pilot, lambda: "ann is now your account" in log_text(app))
        assert app.password_screen is None
        assert app.focused is app.message_input
        registers = [m for m in fake.sent() if isinstance(m, Register)]
        assert [m.password for m in registers] == [SECRET]
        _never_kept(app, caplog, SECRET, OTHER_SECRET)
        assert "/register" in _history(app)


@pytest.mark.parametrize("how", ["button", "escape"])
async def test_cancelling_a_password_sends_nothing(accounts_app, caplog, how):
    app, fake = accounts_app
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "· ann · connected" in status(app))
        await type_line(pilot, "/password")
        screen = await _asked_password(pilot, app)
        repeat = screen.query_one("#repeat", Input)
        assert repeat.parent is not None
        assert not repeat.parent.display  # the current password: asked once
        await _type_masked(pilot, app, SECRET)
        before = len(fake.sent())
        if how == "button":
            await pilot.click("#password-cancel")
        else:
            await pilot.press("escape")
        await until(pilot, lambda: "cancelled; no password was sent" in log_text(app))
        assert app.password_screen is None
        await pilot.pause(0.3)
        assert len(fake.sent()) == before
        assert not any(isinstance(m, ChangePassword | Register) for m in fake.sent())
        _never_kept(app, caplog, SECRET)


async def test_a_new_password_request_replaces_the_one_on_screen(accounts_app):
    app, fake = accounts_app
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "· ann · connected" in status(app))
        await type_line(pilot, "/register")
        screen = await _asked_password(pilot, app)
        await _type_masked(pilot, app, SECRET)
        assert app.client is not None
        # The session asks anew (a newer question voids the open one).
        request = app.client.session._flow.ask(Purpose.CURRENT, "Your current one")
        app._show([request])
        await pilot.pause()
        assert app.screen is screen
        assert screen.query_one("#password", Input).value == ""  # emptied
        repeat = screen.query_one("#repeat", Input)
        assert repeat.parent is not None
        assert not repeat.parent.display
        assert "Your current one" in _screen(app)
        await _type_masked(pilot, app, OTHER_SECRET)
        await pilot.press("enter")  # answers the new one: on to the new password
        await until(pilot, lambda: "Choose your new password" in _screen(app))
        assert not any(isinstance(m, Register) for m in fake.sent())


async def test_an_empty_password_is_not_sent(accounts_app):
    app, fake = accounts_app
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "· ann · connected" in status(app))
        await type_line(pilot, "/password")
        screen = await _asked_password(pilot, app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # still asking
        assert "⚠ enter the password" in _screen(app)
        assert not any(isinstance(m, ChangePassword) for m in fake.sent())


async def test_login_without_a_saved_token_asks_before_connecting(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeServer(accounts=True)
    security = plaintext(tmp_path, login=True)
    app = ChatApp(
        host=HOST,
        port=PORT,
        nick="ann",
        security=security,
        transport_factory=fake.factory,
    )
    async with app.run_test(size=SIZE) as pilot:
        await _asked_password(pilot, app)
        assert f"Password for ann on {HOST}:{PORT}" in _screen(app)
        await pilot.pause(0.3)
        assert fake.transports == []  # not even a connection before the answer

        await _type_masked(pilot, app, SECRET)
        await pilot.press("enter")
        await until(pilot, lambda: "· ann · connected" in status(app))
        identify = next(m for m in fake.sent() if isinstance(m, Identify))
        assert identify.password == SECRET
        tokens = FileSecretStore(tmp_path / "tokens.json")
        assert tokens.load(server_key(HOST, PORT), "ann") == ACCOUNT_TOKEN
        _never_kept(app, caplog, SECRET)
    assert SECRET not in (tmp_path / "tokens.json").read_text("utf-8")

    # With the token saved, the next start logs in without asking.
    again = FakeServer(accounts=True)
    second = ChatApp(
        host=HOST,
        port=PORT,
        nick="ann",
        security=security,
        transport_factory=again.factory,
    )
    async with second.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "· ann · connected" in status(second))
        assert second.password_screen is None
        identify = next(m for m in again.sent() if isinstance(m, Identify))
        assert (identify.token, identify.password) == (ACCOUNT_TOKEN, None)


async def test_cancelling_the_login_password_connects_nowhere(tmp_path):
    fake = FakeServer(accounts=True)
    app = ChatApp(
        host=HOST,
        port=PORT,
        nick="ann",
        security=plaintext(tmp_path, login=True),
        transport_factory=fake.factory,
    )
    async with app.run_test(size=SIZE) as pilot:
        await _asked_password(pilot, app)
        await pilot.press("escape")
        await until(pilot, lambda: "cancelled; no password was sent" in log_text(app))
        assert "disconnected" in status(app)
        assert "no password given" in app.banner.text
        await pilot.pause(0.3)
        assert fake.transports == []


async def test_the_nick_prompt_offers_to_log_in(tmp_path):
    fake = FakeServer(accounts=True)
    app = ChatApp(
        host=HOST,
        port=PORT,
        security=plaintext(tmp_path),
        transport_factory=fake.factory,
    )
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#nick-login", Checkbox)
        assert not box.value
        assert "Log in to my account" in _screen(app)
        await pilot.press(*"ann")
        await pilot.click("#nick-login")
        assert box.value
        await pilot.click("#connect")
        await _asked_password(pilot, app)
        assert fake.transports == []
        await _type_masked(pilot, app, SECRET)
        await pilot.press("enter")
        await until(pilot, lambda: "· ann · connected" in status(app))
        identify = next(m for m in fake.sent() if isinstance(m, Identify))
        assert identify.password == SECRET


async def test_login_on_the_command_line_ticks_the_box(tmp_path):
    app = ChatApp(
        host=HOST,
        port=PORT,
        security=plaintext(tmp_path, login=True),
        transport_factory=FakeServer().factory,
    )
    async with app.run_test(size=SIZE):
        assert app.screen.query_one("#nick-login", Checkbox).value


async def test_without_an_account_store_there_is_no_login_box():
    app = ChatApp(host=HOST, port=PORT, security=None)
    async with app.run_test(size=SIZE):
        assert not app.screen.query("#nick-login")


# --- encryption in the status bar -----------------------------------------------------


async def test_a_plaintext_connection_is_marked_in_the_status_bar(accounts_app):
    app, _ = accounts_app
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "· ann · connected" in status(app))
        assert status(app) == (
            f"{NOT_ENCRYPTED_MARK}#lobby · {HOST}:{PORT} · ann · connected, not encrypted"
        )
        assert app.status_bar.has_class("plaintext")
        assert not app.status_bar.has_class("connected")
        warning = Color.parse(app.get_css_variables()["text-warning"])
        assert app.status_bar.styles.color == warning


async def test_an_encrypted_connection_is_not_marked(tmp_path):
    verified = TlsInfo(fingerprint=FINGERPRINT, verified=True, version="TLSv1.3")
    fake = FakeServer(tls=verified)
    app = _tls_app(tmp_path, fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _connected(app))
        assert status(app) == f"#lobby · {HOST}:{PORT} · ann · connected"
        assert not app.status_bar.has_class("plaintext")
        assert app.status_bar.has_class("connected")
