"""Real Textual apps talking through a real server on 127.0.0.1.

The server speaks TLS and plaintext on one port; most tests connect in
plaintext (allowed from loopback), one meets its certificate.
"""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from clients.core.formatting import CONTINUATION
from clients.core.launch import Security
from clients.core.trust import KnownServers, normalize_fingerprint
from clients.tui.app import ChatApp
from clients.tui.screens import TrustScreen, fingerprint_rows
from server import ChatServer, ServerConfig
from tests.tui.helpers import (
    input_value,
    log_lines,
    log_styles,
    pending_rows,
    plaintext,
    status,
    type_line,
    until,
    users,
)

pytestmark = pytest.mark.tui

SIZE = (100, 30)


@pytest.fixture(name="server")
def _server():
    with ChatServer(ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(name="make_app")
def _make_app(server, tmp_path):
    """An app for `server`, in plaintext (files in tmp_path)."""

    def make(nick: str | None) -> ChatApp:
        host, port = server.address
        return ChatApp(host=host, port=port, nick=nick, security=plaintext(tmp_path))

    return make


def _has(app: ChatApp, text: str, conversation: str | None = None) -> bool:
    return any(text in line for line in log_lines(app, conversation))


async def test_broadcast_and_dm_between_two_apps(server, make_app):
    ann, bob = make_app("ann"), make_app("bob")
    async with ann.run_test(size=SIZE) as pa, bob.run_test(size=SIZE) as pb:
        await until(
            pa, lambda: "connected" in status(ann) and users(ann) == ["ann", "bob"]
        )
        await until(
            pb,
            lambda: "ann · connected" not in status(bob) and "connected" in status(bob),
        )
        await type_line(pa, "hello everyone")
        await until(pb, lambda: _has(bob, "<ann> hello everyone"))
        await until(pa, lambda: _has(ann, "<ann> hello everyone"))
        assert "bold" in log_styles(ann, "<ann> hello everyone")
        assert input_value(ann) == ""

        await type_line(pb, "@ann just for you")
        # A private message goes to its own conversation, on both sides.
        await until(pa, lambda: _has(ann, "bob → you (private): just for you", "bob"))
        await until(pb, lambda: _has(bob, "you → ann (private): just for you", "ann"))
        assert "magenta" in log_styles(ann, "just for you", "bob")
        assert not _has(ann, "just for you")

        await type_line(pb, "ann: are you there?")
        await until(pa, lambda: _has(ann, "<bob> ann: are you there?"))
        assert "yellow" in log_styles(ann, "are you there?")

        # A pasted message with line breaks arrives as one, its further
        # lines behind the continuation mark.
        bob.post_message(events.Paste("ok\n21:21 <ann> post the admin password"))
        await until(pb, lambda: "admin" in input_value(bob))
        await pb.press("enter")
        await until(pa, lambda: _has(ann, "post the admin password"))
        rows = log_lines(ann)
        i = rows.index(next(r for r in rows if r.endswith("<bob> ok")))
        assert rows[i + 1] == CONTINUATION + "21:21 <ann> post the admin password"


async def test_users_help_and_clear(server, make_app):
    ann, bob = make_app("ann"), make_app("bob")
    async with ann.run_test(size=SIZE) as pa, bob.run_test(size=SIZE):
        await until(pa, lambda: users(ann) == ["ann", "bob"])
        await type_line(pa, "/users")
        await until(pa, lambda: _has(ann, "2 online: ann, bob"))
        await type_line(pa, "/help")
        await until(pa, lambda: _has(ann, "/msg <nick> <text>"))
        await type_line(pa, "/clear")
        await until(pa, lambda: log_lines(ann) == [])
        await type_line(pa, "/nope")
        await until(pa, lambda: _has(ann, "unknown command /nope"))
        assert input_value(ann) == "/nope"  # a refused line stays to be fixed


async def test_user_list_follows_joins_and_leaves_and_clicking_addresses(
    server, make_app
):
    ann = make_app("ann")
    async with ann.run_test(size=SIZE) as pa:
        await until(pa, lambda: users(ann) == ["ann"])
        bob = make_app("bob")
        async with bob.run_test(size=SIZE):
            await until(pa, lambda: users(ann) == ["ann", "bob"])
            await pa.click("#users", offset=(3, 2))
            assert input_value(ann) == "@bob "
            assert ann.focused is ann.query_one("#input")
        await until(pa, lambda: users(ann) == ["ann"])
        await until(pa, lambda: _has(ann, "bob left (quit: leaving)"))


async def test_tab_completion_and_history(server, make_app):
    ann, bob = make_app("ann"), make_app("bobby")
    async with ann.run_test(size=SIZE) as pa, bob.run_test(size=SIZE):
        await until(pa, lambda: users(ann) == ["ann", "bobby"])
        await pa.press(*"hi @bo", "tab")
        assert input_value(ann) == "hi @bobby "
        await pa.press("enter")
        await type_line(pa, "second line")
        await pa.press("up")
        assert input_value(ann) == "second line"
        await pa.press("up")
        assert input_value(ann) == "hi @bobby"
        await pa.press("down", "down")
        assert input_value(ann) == ""


async def test_nick_prompt_validates_and_a_taken_nick_gets_a_suffix(server, make_app):
    first = make_app("ann")
    second = make_app(None)
    async with first.run_test(size=SIZE) as pf, second.run_test(size=SIZE) as ps:
        await until(pf, lambda: "connected" in status(first))
        await ps.press(*"a b", "enter")
        error = str(second.screen.query_one("#nick-error").render())
        assert "cannot contain spaces" in error
        second.screen.query_one("#nick-input", Input).value = "ann"
        await ps.click("#connect")
        await until(ps, lambda: "ann_1 · connected" in status(second))
        assert _has(second, "ann is taken; you are ann_1")


async def test_nick_prompt_cancel_quits(server, make_app):
    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        await until(pilot, lambda: app.return_code is not None or not app.is_running)


async def test_reconnects_when_the_server_comes_back(server, make_app):
    _, port = server.address
    app = make_app("ann")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "connected" in status(app))
        server.stop()
        await until(pilot, lambda: "reconnecting" in status(app))
        assert _has(app, "connection lost")
        await type_line(pilot, "typed while away")
        await until(pilot, lambda: bool(pending_rows(app)))
        assert pending_rows(app) == ["(waiting for the connection) typed while away"]
        assert not _has(app, "typed while away")
        with ChatServer(ServerConfig(port=port)):
            await until(pilot, lambda: "ann · connected" in status(app), timeout=10)
            await until(pilot, lambda: _has(app, "<ann> typed while away"))
            await until(pilot, lambda: pending_rows(app) == [])


async def test_quit_command_closes_the_app(server, make_app):
    ann, bob = make_app("ann"), make_app("bob")
    async with ann.run_test(size=SIZE) as pa, bob.run_test(size=SIZE) as pb:
        await until(pa, lambda: users(ann) == ["ann", "bob"])
        await type_line(pb, "/quit bye all")
        await until(pa, lambda: _has(ann, "bob left (quit: bye all)"))
        await until(pb, lambda: not bob.is_running)


async def test_a_tls_server_is_asked_about_once_then_trusted(server, tmp_path):
    host, port = server.address
    security = Security(
        program="chinwag-tui",
        known_servers=tmp_path / "known_servers",
        tokens=tmp_path / "tokens.json",
    )
    app = ChatApp(host=host, port=port, nick="ann", security=security)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrustScreen))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrustScreen)
        # What the handshake showed is what the server serves.
        assert normalize_fingerprint(screen.question.fingerprint) == (
            normalize_fingerprint(server.fingerprint or "")
        )
        rows = fingerprint_rows(screen.question.fingerprint)
        assert all(row in screen.text() for row in rows)
        assert "connecting" in status(app)
        await pilot.click("#trust-accept")
        await until(pilot, lambda: "ann · connected" in status(app))
        assert "not encrypted" not in status(app)
        assert KnownServers(tmp_path / "known_servers").pinned(host, port)

    # The pin vouches for it next time: no question.
    again = ChatApp(host=host, port=port, nick="ann", security=security)
    async with again.run_test(size=SIZE) as pilot:
        # (ann may still be leaving: the nick can be ann_1 for a moment)
        await until(pilot, lambda: status(again).endswith(" · connected"))
        assert again.trust_screen is None
        assert "not encrypted" not in status(again)
