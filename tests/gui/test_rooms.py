"""Rooms and conversations in the window against the real server (issue 15).

The window and headless clients (bob, cy) talk through a real server with
its database in a temporary directory; the core makes every conversation
event itself. Keys are pressed as the user would (Alt+N, Ctrl+K, typing).
"""

from __future__ import annotations

import tkinter
from collections.abc import Callable, Iterator
from typing import cast

import customtkinter as ctk
import pytest

from clients.core import events as ev
from clients.core.testing import HeadlessDriver
from clients.gui.app import ChatWindow
from clients.gui.conversations import ACTIVE_MARK, HIGHLIGHT_MARK
from server import ChatServer, ServerConfig
from tests.gui.conftest import press, pump

pytestmark = pytest.mark.gui


@pytest.fixture(name="room_server")
def _room_server(tmp_path) -> Iterator[ChatServer]:
    config = ServerConfig(
        port=0,
        data_dir=tmp_path / "server",
        cheap_hashing=True,
        rate_burst=50,
        rate_per_second=500.0,
    )
    with ChatServer(config) as server:
        yield server


@pytest.fixture(name="connect")
def _connect(room_server) -> Iterator[Callable[[str], HeadlessDriver]]:
    drivers: list[HeadlessDriver] = []

    def connect(nick: str) -> HeadlessDriver:
        host, port = room_server.address
        driver = HeadlessDriver(host, port, nick)
        drivers.append(driver)
        driver.wait_connected()
        driver.wait_until(lambda: not driver.session.catching_up)
        return driver

    yield connect
    for driver in drivers:
        driver.close()


@pytest.fixture(name="ann")
def _ann(make_window, room_server) -> Callable[..., ChatWindow]:
    def make(**kwargs) -> ChatWindow:
        host, port = room_server.address
        window = make_window(host=host, port=port, nick="ann", **kwargs)
        pump(window, lambda: "ann · connected" in str(window.pane.status.cget("text")))
        pump(window, lambda: not window.client.session.catching_up)
        return window

    return make


def _send(window: ChatWindow, text: str) -> None:
    window.pane.input.delete("1.0", "end")
    window.pane.input.insert("1.0", text)
    window.pane.send_button.invoke()
    window.update()


def _join(window: ChatWindow, room: str) -> None:
    _send(window, f"/join {room}")
    pump(window, lambda: window.active == room)


def _driver_join(driver: HeadlessDriver, room: str) -> None:
    since = len(driver.events)
    assert driver.submit(f"/join {room}")
    driver.wait_for(
        lambda e: isinstance(e, ev.ConversationsChanged) and e.active == room,
        since=since,
    )


def _switch(window: ChatWindow, name: str) -> None:
    window.switch_conversation(name)
    pump(window, lambda: window.active == name)


def _rows(window: ChatWindow) -> list[str]:
    return window.pane.conversation_list.rows()


def _members(window: ChatWindow, room: str) -> tuple[str, ...]:
    for conversation in window.conversations:
        if conversation.name == room:
            return conversation.members
    return ()


def _grab(window: ChatWindow, path) -> None:
    from PIL import ImageGrab  # noqa: PLC0415 - only in the gui session

    window.update()
    x, y = window.winfo_rootx(), window.winfo_rooty()
    image = ImageGrab.grab(
        bbox=(x, y, x + window.winfo_width(), y + window.winfo_height())
    )
    image.save(path)
    print(f"screenshot: {path}")
    darkest, lightest = cast("tuple[int, int]", image.convert("L").getextrema())
    assert lightest - darkest > 50  # drawn, not a blank rectangle


def test_unread_counts_for_lines_elsewhere_then_read_on_switching(
    ann, connect, tmp_path
):
    window = ann()
    bob, cy = connect("bob"), connect("cy")
    _join(window, "#rust")
    _join(window, "#go")
    _driver_join(bob, "#rust")
    _driver_join(cy, "#go")
    pump(window, lambda: _members(window, "#rust") == ("ann", "bob"))
    pump(window, lambda: _members(window, "#go") == ("ann", "cy"))
    _switch(window, "#lobby")

    assert cy.submit("go 1.24 is out")  # cy's active conversation: #go
    assert cy.submit("with generic type aliases")
    for text in ("anyone tried the new borrow checker?", "it is stricter", "ann: ?"):
        assert bob.submit(text)  # bob's active conversation: #rust
    assert cy.submit("@ann are you coming to lunch?")
    bob.do(bob.client.switch("#lobby"))
    assert bob.submit("morning, lobby")
    pump(window, lambda: "morning, lobby" in window.chat_text())
    pump(
        window,
        lambda: (
            _rows(window)
            == [
                f"{ACTIVE_MARK} #lobby",
                "   #go (2)",
                f"   #rust ({HIGHLIGHT_MARK} 3)",
                f"   @cy ({HIGHLIGHT_MARK} 1)",
            ]
        ),
    )
    # Each line in the log of its conversation, none in the lobby's.
    assert "borrow checker" not in window.chat_text()
    assert "<bob> it is stricter" in window.chat_text("#rust")
    assert "are you coming to lunch?" in window.chat_text("cy")
    listing = window.pane.conversation_list
    assert listing.is_bold("#rust")
    assert listing.is_bold("#go")
    assert not listing.is_bold("#lobby")
    window.geometry("800x560+0+0")  # Xvfb's screen is 800 pixels wide
    pump(window, lambda: window.winfo_width() == 800)
    _grab(window, tmp_path / "chinwag-gui-conversations.png")

    listing.click("#rust")
    pump(window, lambda: window.active == "#rust")
    pump(window, lambda: _rows(window)[2] == f"{ACTIVE_MARK} #rust")
    assert _rows(window)[1] == "   #go (2)"
    rust = window.chat_text()
    assert "<bob> anyone tried the new borrow checker?" in rust
    assert "morning, lobby" not in rust
    assert window.pane.header_name.cget("text") == "#rust"
    assert sorted(window.pane.user_buttons) == ["ann", "bob"]
    assert window.pane.users_title.cget("text") == "Members (2)"


def test_alt_n_switches_and_each_conversation_keeps_its_draft_and_log(ann, connect):
    window = ann()
    bob = connect("bob")
    _join(window, "#rust")
    _driver_join(bob, "#rust")
    assert bob.submit("in rust")
    pump(window, lambda: "<bob> in rust" in window.chat_text())

    press(window.pane.input, "<Alt-Key-1>")
    pump(window, lambda: window.active == "#lobby")
    assert "in rust" not in window.chat_text()
    window.pane.input.insert("1.0", "a thought for the lobby")
    press(window.pane.input, "<Alt-Key-2>")
    pump(window, lambda: window.active == "#rust")
    assert window._input_text() == ""
    assert "<bob> in rust" in window.chat_text()
    window.pane.input.insert("1.0", "a thought about rust")
    press(window.pane.input, "<Alt-Key-1>")
    pump(window, lambda: window.active == "#lobby")
    assert window._input_text() == "a thought for the lobby"
    press(window.pane.input, "<Alt-Key-2>")
    pump(window, lambda: window.active == "#rust")
    assert window._input_text() == "a thought about rust"
    # Beyond the list: nothing happens, nothing is typed.
    press(window.pane.input, "<Alt-Key-9>")
    window.update()
    assert window.active == "#rust"
    assert window._input_text() == "a thought about rust"
    # Sent from the draft, to the conversation it was written in.
    window.pane.send_button.invoke()
    line = bob.wait_for(
        lambda e: isinstance(e, ev.ChatLine) and e.text == "a thought about rust"
    )
    assert cast("ev.ChatLine", line).conversation == "#rust"


def test_ctrl_k_finds_and_switches(ann, connect):
    window = ann()
    _join(window, "#rust")
    _join(window, "#go")
    cy = connect("cy")
    assert cy.submit("@ann hi")
    pump(window, lambda: "cy" in window.pane.conversation_list.names())
    _switch(window, "#lobby")

    press(window.pane.input, "<Control-k>")
    switcher = window.switcher
    assert switcher is not None
    pump(window, switcher.is_shown)
    assert switcher.names == ["#lobby", "#go", "#rust", "cy"]
    switcher.entry.insert(0, "ru")
    window.update()
    assert switcher.names[0] == "#rust"
    press(switcher.entry, "<Return>")
    pump(window, lambda: window.active == "#rust")
    assert not switcher.is_shown()

    # Escape: closed, nowhere else.
    press(window.pane.input, "<Control-K>")
    pump(window, switcher.is_shown)
    assert switcher.entry.get() == ""
    press(switcher.entry, "<Escape>")
    pump(window, lambda: not switcher.is_shown())
    assert window.active == "#rust"

    # Down to the second match, then Enter.
    press(window.pane.input, "<Control-k>")
    pump(window, switcher.is_shown)
    switcher.entry.insert(0, "o")
    window.update()
    assert sorted(switcher.names) == ["#go", "#lobby"]
    second = switcher.names[1]
    press(switcher.entry, "<Down>")
    press(switcher.entry, "<Return>")
    pump(window, lambda: window.active == second)

    # Nothing matches: Enter does nothing.
    press(window.pane.input, "<Control-k>")
    pump(window, switcher.is_shown)
    switcher.entry.insert(0, "zzz")
    window.update()
    assert switcher.names == []
    before = window.active
    press(switcher.entry, "<Return>")
    window.update()
    assert switcher.is_shown()
    assert window.active == before
    press(switcher.entry, "<Escape>")


def test_who_is_typing_shows_above_the_input_and_our_typing_is_sent(ann, connect):
    window = ann()
    bob = connect("bob")
    _join(window, "#rust")
    _driver_join(bob, "#rust")
    pump(window, lambda: _members(window, "#rust") == ("ann", "bob"))

    bob.do(bob.client.typing("I think"))
    pump(window, lambda: window.typing_line() == "bob is typing…")
    _switch(window, "#lobby")
    assert window.typing_line() == ""  # bob types in #rust, not here
    _switch(window, "#rust")
    assert window.typing_line() == "bob is typing…"
    bob.do(bob.client.typing(""))
    # bob's core may hold the stop back a moment (notices a second apart).
    pump(window, lambda: bob.pump(0.01) or window.typing_line() == "")

    # Typing in the window tells bob.
    window.pane.input._textbox.focus_force()
    window.pane.input.insert("1.0", "hold on")
    window.update()
    bob.wait_until(
        lambda: (c := bob.conversation("#rust")) is not None and c.typing == ("ann",)
    )
    window.pane.input.delete("1.0", "end")
    window.update()
    bob.wait_until(
        lambda: (c := bob.conversation("#rust")) is not None and c.typing == (),
        timeout=10,
    )


def test_actions_topic_and_away(ann, connect):
    window = ann()
    bob = connect("bob")
    _join(window, "#rust")
    _driver_join(bob, "#rust")
    pump(window, lambda: _members(window, "#rust") == ("ann", "bob"))
    assert bob.submit("/me waves")
    pump(window, lambda: "* bob waves" in window.chat_text())
    _send(window, "/topic borrow checker support group")  # ann made it: owner
    pump(
        window,
        lambda: window.pane.header_topic.cget("text") == "borrow checker support group",
    )
    assert bob.submit("/away lunch, back at 2")
    pump(window, lambda: window.pane.user_buttons["bob"].cget("text") == "bob (away)")
    assert window.pane.user_tips["bob"].text == "away: lunch, back at 2"
    assert bob.submit("/back")
    pump(window, lambda: window.pane.user_buttons["bob"].cget("text") == "bob")
    assert window.pane.user_tips["bob"].text == ""
    _send(window, "/me nods")
    pump(window, lambda: "* ann nods" in window.chat_text())


def test_set_changes_the_times_and_the_theme_live(ann, connect):
    window = ann()
    bob = connect("bob")
    assert bob.submit("what time is it?")
    pump(window, lambda: "what time is it?" in window.chat_text())
    line = cast(
        "ev.ChatLine",
        bob.wait_for(
            lambda e: isinstance(e, ev.ChatLine) and e.text == "what time is it?"
        ),
    )
    row = next(r for r in window.chat_text().split("\n") if "what time" in r)
    assert row == f"{line.time:%H:%M} <bob> what time is it?"
    try:
        _send(window, "/set timestamps [%H:%M:%S]")
        row = next(r for r in window.chat_text().split("\n") if "what time" in r)
        assert row == f"[{line.time:%H:%M:%S}] <bob> what time is it?"
        _send(window, "/set theme dark")
        assert ctk.get_appearance_mode() == "Dark"
        assert window.client.settings.theme == "dark"
    finally:
        ctk.set_appearance_mode("system")


def test_a_private_message_notifies_with_the_conversation_when_unfocused(ann, connect):
    notes: list[tuple[str, str]] = []
    window = ann(notify=lambda title, body: notes.append((title, body)))
    _join(window, "#rust")
    bob = connect("bob")
    _driver_join(bob, "#rust")
    other = tkinter.Toplevel(window)
    other.geometry("120x80+600+400")
    other.focus_force()
    pump(window, lambda: not window.has_focus())
    try:
        assert bob.submit("ann: look at this")
        assert bob.submit("@ann and this, privately")
        pump(window, lambda: len(notes) == 2)
        assert notes == [
            ("bob in #rust", "ann: look at this"),
            ("bob (private message)", "and this, privately"),
        ]
    finally:
        other.destroy()


def test_a_direct_conversation_follows_a_nick_change(ann, connect):
    window = ann()
    bob = connect("bob")
    assert bob.submit("@ann still there?")
    pump(window, lambda: "still there?" in window.chat_text("bob"))
    window.pane.input.insert("1.0", "half a reply")
    _switch(window, "bob")
    window.pane.input.insert("1.0", "reply to bob")
    _switch(window, "#lobby")
    assert bob.submit("/nick bobby")
    pump(window, lambda: "bobby" in window.pane.conversation_list.names())
    assert "bob" not in window.pane.conversation_list.names()
    assert "still there?" in window.chat_text("bobby")
    _switch(window, "bobby")
    assert "still there?" in window.chat_text()
    assert window._input_text() == "reply to bob"
    window.pane.send_button.invoke()
    bob.wait_for(lambda e: isinstance(e, ev.ChatLine) and e.text == "reply to bob")
    # Renamed while shown: still shown, same log.
    assert bob.submit("/nick bobo")
    pump(window, lambda: window.active == "bobo")
    assert "still there?" in window.chat_text()
    assert "reply to bob" in window.chat_text()
