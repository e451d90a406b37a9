"""The real customtkinter window on a virtual display, against a real server."""

from __future__ import annotations

import logging
from typing import cast

import customtkinter as ctk
import pytest

from clients.core import events as ev
from clients.core.formatting import CONTINUATION, LineKind
from clients.core.testing import HeadlessDriver
from clients.gui.app import LINE_COLOURS, ChatWindow
from server import ChatServer, ServerConfig
from tests.gui.conftest import pump

pytestmark = pytest.mark.gui


def _window(make_window, server: ChatServer, nick: str | None = "ann") -> ChatWindow:
    host, port = server.address
    return make_window(host=host, port=port, nick=nick)


def _status(window: ChatWindow) -> str:
    return str(window.pane.status.cget("text"))


def _connected(window: ChatWindow, nick: str = "ann") -> bool:
    return f"{nick} · connected" in _status(window)


def _type(window: ChatWindow, text: str) -> None:
    window.pane.input.delete("1.0", "end")
    window.pane.input.insert("1.0", text)


def _key(window: ChatWindow, sequence: str) -> None:
    window.pane.input._textbox.event_generate(sequence)
    window.update()


def _heard(peer: HeadlessDriver, text: str) -> ev.UiEvent:
    return peer.wait_for(lambda e: isinstance(e, ev.ChatLine) and e.text == text)


def _tags_of(window: ChatWindow, text: str) -> set[str]:
    start = window.pane.display._textbox.search(text, "1.0", "end")
    assert start, f"{text!r} not shown"
    return set(window.pane.display._textbox.tag_names(start))


def test_ctrl_enter_enter_and_send_button_all_send(make_window, server, peer):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    bob = peer()
    _type(window, "sent with ctrl+enter")
    _key(window, "<Control-Return>")
    _heard(bob, "sent with ctrl+enter")
    _type(window, "sent with enter")
    _key(window, "<Return>")
    _heard(bob, "sent with enter")
    _type(window, "sent with the button")
    window.pane.send_button.invoke()
    _heard(bob, "sent with the button")
    pump(window, lambda: "<ann> sent with the button" in window.chat_text())
    assert window._input_text() == ""
    assert "own" in _tags_of(window, "<ann> sent with the button")


def test_shift_enter_starts_a_new_line(make_window, server):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    _type(window, "first")
    window.pane.input.mark_set("insert", "end")
    _key(window, "<Shift-Return>")
    assert window._input_text() == "first\n"


def test_direct_message_is_shown_as_one(make_window, server, peer):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    bob = peer()
    bob.submit("@ann for your eyes only")
    pump(
        window,
        lambda: "bob → you (private): for your eyes only" in window.chat_text("bob"),
    )
    assert "for your eyes only" not in window.chat_text()  # its own conversation
    pump(window, lambda: "bob" in window.pane.conversation_list.names())
    window.pane.conversation_list.click("bob")
    pump(window, lambda: window.active == "bob")
    assert "direct" in _tags_of(window, "for your eyes only")
    window.pane.conversation_list.click("#lobby")
    pump(window, lambda: window.active == "#lobby")
    bob.submit("ann: a mention")
    pump(window, lambda: "<bob> ann: a mention" in window.chat_text())
    assert "mention" in _tags_of(window, "ann: a mention")


def test_users_clear_and_help(make_window, server, peer):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    peer()
    _type(window, "/users")
    window.pane.send_button.invoke()
    pump(window, lambda: "2 online: ann, bob" in window.chat_text())
    _type(window, "/help")
    window.pane.send_button.invoke()
    pump(window, lambda: "/quit [reason]" in window.chat_text())
    _type(window, "/clear")
    window.pane.send_button.invoke()
    window.update()
    assert window.chat_text() == ""
    _type(window, "@")
    window.pane.send_button.invoke()
    assert "who to?" in window.chat_text()
    assert window._input_text() == "@"


def test_user_list_follows_joins_and_leaves_and_clicking_addresses(
    make_window, server, peer
):
    window = _window(make_window, server)
    pump(window, lambda: list(window.pane.user_buttons) == ["ann"])
    bob = peer()
    pump(window, lambda: sorted(window.pane.user_buttons) == ["ann", "bob"])
    assert window.pane.users_title.cget("text") == "Online (2)"
    # Clicking a user: /query ready to type after, then their conversation.
    window.pane.user_buttons["bob"].invoke()
    assert window._input_text() == "/query bob "
    window.pane.input.insert("end", "hello bob")
    window.pane.send_button.invoke()
    pump(window, lambda: window.active == "bob")
    pump(window, lambda: "hello bob" in window.chat_text())
    _heard(bob, "hello bob")
    window.switch_conversation("#lobby")
    pump(window, lambda: window.active == "#lobby")
    window.pane.user_buttons["bob"].invoke()
    pump(window, lambda: window.active == "bob")
    assert window._input_text() == ""
    window.switch_conversation("#lobby")
    bob.close()
    pump(window, lambda: list(window.pane.user_buttons) == ["ann"])
    assert "bob left (quit: test over)" in window.chat_text()


def test_tab_completion_and_history(make_window, server, peer):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    peer("bobby")
    pump(window, lambda: "bobby" in window.pane.user_buttons)
    _type(window, "hi @bo")
    _key(window, "<Tab>")
    assert window._input_text() == "hi @bobby "
    _key(window, "<Return>")
    _type(window, "")
    _key(window, "<Up>")
    assert window._input_text() == "hi @bobby"


def test_reconnects_when_the_server_comes_back(make_window, server):
    host, port = server.address
    window = make_window(host=host, port=port, nick="ann")
    pump(window, lambda: _connected(window))
    server.stop()
    pump(window, lambda: "reconnecting" in _status(window))
    assert "connection lost" in window.chat_text()
    with ChatServer(ServerConfig(port=port)):
        pump(window, lambda: _connected(window), timeout=10)


def test_a_line_typed_offline_waits_in_the_pending_area_then_is_delivered(
    make_window, server
):
    host, port = server.address
    window = make_window(host=host, port=port, nick="ann")
    pump(window, lambda: _connected(window))
    server.stop()
    pump(window, lambda: "reconnecting" in _status(window))
    _type(window, "said while away\nsecond line")
    window.pane.send_button.invoke()
    window.update()
    area = window.pane.pending
    assert area.rows() == [
        "(waiting for the connection) said while away",
        CONTINUATION + "second line",
    ]
    assert area.winfo_ismapped()
    assert "said while away" not in window.chat_text()
    with ChatServer(ServerConfig(port=port)):
        pump(window, lambda: _connected(window), timeout=10)
        pump(window, lambda: area.rows() == [])
        assert not area.winfo_ismapped()
        assert "<ann> said while away\n" + CONTINUATION + "second line" in (
            window.chat_text()
        )
        bob = HeadlessDriver(host, port, "bob")
        try:
            bob.wait_connected()
            bob.submit("ann: got it? https://example.org/x")
            pump(window, lambda: "got it?" in window.chat_text())
        finally:
            bob.close()
        assert [url for _, _, url in window.pane.display.links()] == [
            "https://example.org/x"
        ]


def test_closing_the_window_is_a_clean_leave(make_window, server, caplog, peer):
    caplog.set_level(logging.INFO, logger="server")
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    bob = peer()
    window.close()
    left = bob.wait_for(lambda e: isinstance(e, ev.Left))
    assert left == ev.Left("ann", "quit: leaving")
    assert "disconnected ann" in caplog.text
    assert "quit: leaving" in caplog.text


def test_unreachable_server_is_shown_not_raised(make_window, server):
    host, port = server.address
    server.stop()
    window = make_window(host=host, port=port, nick="ann")
    pump(window, lambda: "refused" in window.chat_text())
    assert "reconnecting" in _status(window)


def test_screenshot_of_a_conversation(make_window, server, tmp_path, peer):
    # Pillow is only installed for the gui session; other sessions collect this file.
    from PIL import ImageGrab  # noqa: PLC0415

    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    bob = peer()
    bob.submit("morning ann")
    bob.submit("@ann lunch at noon?")
    pump(window, lambda: "lunch at noon?" in window.chat_text("bob"))
    _type(window, "sounds good")
    window.pane.send_button.invoke()
    pump(window, lambda: "<ann> sounds good" in window.chat_text())
    window.update()
    x, y = window.winfo_rootx(), window.winfo_rooty()
    image = ImageGrab.grab(
        bbox=(x, y, x + window.winfo_width(), y + window.winfo_height())
    )
    path = tmp_path / "chinwag-gui.png"
    image.save(path)
    print(f"screenshot: {path}")
    assert image.size[0] >= 400
    darkest, lightest = cast("tuple[int, int]", image.convert("L").getextrema())
    assert lightest - darkest > 50  # text was drawn, not a blank rectangle


def test_quit_command_leaves_and_closes(make_window, server, peer):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    bob = peer()
    _type(window, "/quit off to lunch")
    window.pane.send_button.invoke()
    assert window.closed
    left = bob.wait_for(lambda e: isinstance(e, ev.Left))
    assert left == ev.Left("ann", "quit: off to lunch")


def test_hostile_text_is_shown_harmlessly(make_window, server, peer):
    window = _window(make_window, server)
    pump(window, lambda: _connected(window))
    bob = peer()
    bob.submit("\x1b[31mred\u202eevil")
    pump(window, lambda: "red" in window.chat_text())
    assert "\x1b" not in window.chat_text()
    assert "␛[31mred\ufffdevil" in window.chat_text()


def test_line_colours_follow_the_appearance(make_window, server):
    window = _window(make_window, server)
    display = window.pane.display
    light, dark = LINE_COLOURS[LineKind.OWN]
    try:
        ctk.set_appearance_mode("light")
        window.update()
        assert display.tag_cget("own", "foreground") == light
        ctk.set_appearance_mode("dark")
        window.update()
        assert display.tag_cget("own", "foreground") == dark
    finally:
        ctk.set_appearance_mode("system")
