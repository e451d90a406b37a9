"""Conversations in the terminal client (issue 15): the numbered list with
unread counts, a log, a draft and members per conversation, switching by
click, Alt+N and Ctrl+K, the typing line, /me, nick colours and the time
format.

The first tests hand the core's events to the app's handler, as the core
would send them, and read the screen; the rest run the real client core
on a fake transport or against a real server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

import pytest
from textual import events
from textual.color import Color

import protocol as p
from clients.core import events as ev
from clients.core.formatting import nick_colour
from clients.core.testing import FakeTransport, HeadlessDriver
from clients.tui.app import ChatApp
from clients.tui.chat_log import NICK_PALETTE, nick_style
from clients.tui.conversations import (
    SwitcherScreen,
    activity,
    entry_row,
    typing_text,
)
from server import ChatServer, ServerConfig
from tests.tui.helpers import (
    feed_terminal,
    input_value,
    log_lines,
    log_text,
    plaintext,
    screen_lines,
    status,
    type_line,
    until,
    users,
)

pytestmark = pytest.mark.tui

SIZE = (80, 24)
NOON = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC
LOBBY = ev.ConversationKind.LOBBY
ROOM = ev.ConversationKind.ROOM
DIRECT = ev.ConversationKind.DIRECT
SECONDS = re.compile(r"^\d\d:\d\d:\d\d ")


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _app() -> ChatApp:
    return ChatApp(
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob", "cat")),
    )


async def _connected(pilot, app: ChatApp) -> FakeTransport:
    await until(pilot, lambda: "connected" in status(app))
    return FakeTransport.instances[-1]


def _still(app: ChatApp) -> None:
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False  # type: ignore[attr-defined]


def _line(
    n: int,
    text: str,
    *,
    sender: str = "bob",
    conversation: str = "#lobby",
    action: bool = False,
    mentions_me: bool = False,
    is_direct: bool = False,
) -> ev.ChatLine:
    return ev.ChatLine(
        id=n,
        timestamp_ms=NOON + n * 61_000,
        sender=sender,
        target=None if conversation == "#lobby" else conversation,
        text=text,
        is_own=sender == "ann",
        is_direct=is_direct,
        mentions_me=mentions_me,
        conversation=conversation,
        action=action,
    )


def _list(
    active: str = "#lobby", changes: dict[str, ev.Conversation] | None = None
) -> ev.ConversationsChanged:
    """#lobby, #rust (3 unread), bob (a direct message: highlighted)."""
    items = {
        "#lobby": ev.Conversation(
            name="#lobby", kind=LOBBY, members=("ann", "bob", "cat")
        ),
        "#rust": ev.Conversation(
            name="#rust",
            kind=ROOM,
            unread=3,
            topic="Rust and nothing but",
            members=("ann", "cat"),
        ),
        "bob": ev.Conversation(
            name="bob", kind=DIRECT, unread=1, highlight=True, members=("bob",)
        ),
    }
    items.update(changes or {})
    return ev.ConversationsChanged(
        conversations=tuple(items.values()), active=active, away=(("cat", "lunch"),)
    )


def _show(app: ChatApp, *events_: ev.UiEvent) -> None:
    """Hand events to the app as the core does (on the app's loop)."""
    app._show(list(events_))


# --- the list, drawn from the core's events ---------------------------------------------


def test_entry_rows_number_count_and_mark():
    rust = ev.Conversation(name="#rust", kind=ROOM, unread=3)
    bob = ev.Conversation(name="bob", kind=DIRECT, unread=120, highlight=True)
    long = ev.Conversation(name="#a-very-long-room-name", kind=ROOM, unread=2)
    assert entry_row(2, rust, active=False, width=13).plain == " 2 #rust    3"
    assert entry_row(3, bob, active=False, width=13).plain == " 3 bob   !99+"
    assert entry_row(1, rust, active=True, width=13).plain.startswith("▸1 #rust")
    row = entry_row(4, long, active=False, width=13)
    assert row.plain == " 4 #a-very… 2"
    assert row.cell_len == 13
    # A highlight is bold and marked, not colour alone.
    styles = {
        str(span.style) for span in entry_row(3, bob, active=False, width=13).spans
    }
    assert any("bold" in style for style in styles)
    items = (ev.Conversation(name="#lobby", kind=LOBBY), rust, bob)
    assert activity(items, "#lobby") == "[act: 2,3!]"
    assert activity(items, "#rust") == "[act: 3!]"
    assert activity(items[:1], "#lobby") == ""


def test_typing_words():
    assert typing_text([]) == ""
    assert typing_text(["ann"]) == "ann is typing…"
    assert typing_text(["ann", "bob"]) == "ann and bob are typing…"
    assert typing_text(["ann", "bob", "cat"]) == "ann, bob and cat are typing…"
    assert typing_text(["a", "b", "c", "d"]) == "several people are typing…"


async def test_the_list_shows_numbers_unread_counts_and_highlights(tmp_path):
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        _show(app, _list())
        await pilot.pause()
        rows = app.conversation_list.rows()
        assert rows == ["▸1 #lobby", " 2 #rust    3", " 3 bob     !1"]
        assert "[act: 2,3!]" in status(app)
        assert "#lobby · [act: 2,3!] · " in status(app)
        screen = "\n".join(screen_lines(app))
        assert "2 #rust    3" in screen
        assert "3 bob     !1" in screen
        path = app.save_screenshot(path=str(tmp_path), filename="conversations.svg")
        print(f"screenshot: {path}")


async def test_events_go_to_the_log_of_their_conversation():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        _show(
            app,
            _list(),
            _line(1, "in the lobby"),
            _line(2, "in rust", conversation="#rust"),
            ev.Notice("cat joined #rust", conversation="#rust"),
            ev.Notice("said wherever you are"),
            _line(3, "hi ann", conversation="bob", is_direct=True),
        )
        await pilot.pause()
        assert "<bob> in the lobby" in log_text(app)
        assert "said wherever you are" in log_text(app)
        assert "in rust" not in log_text(app)
        assert "<bob> in rust" in log_text(app, "#rust")
        assert "cat joined #rust" in log_text(app, "#rust")
        assert "said wherever" not in log_text(app, "#rust")
        assert "hi ann" in log_text(app, "bob")
        # The active one is shown; the others wait, hidden.
        assert app.chat_log.display
        assert not app.log_of("#rust").display


async def test_switching_shows_its_log_members_topic_and_keeps_drafts():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        _show(
            app,
            _list(),
            _line(1, "lobby line"),
            _line(2, "rust line", conversation="#rust"),
        )
        await pilot.press(*"half a thought")
        assert users(app) == ["ann", "bob", "cat (away)"]
        assert not app.topic_line.display

        _show(app, _list(active="#rust"))
        await pilot.pause()
        assert app.chat_log is app.log_of("#rust")
        assert app.chat_log.display
        assert not app.log_of("#lobby").display
        assert "rust line" in "\n".join(screen_lines(app))
        assert "lobby line" not in "\n".join(screen_lines(app))
        assert input_value(app) == ""  # the draft stays with the lobby
        assert app.message_input.placeholder == "Message #rust · /help"
        assert users(app) == ["ann", "cat (away)"]
        assert app.user_list.border_title == "Members (2)"
        assert app.topic_line.display
        assert "Topic: Rust and nothing but" in "\n".join(screen_lines(app))
        assert "#rust · [act: 3!] · " in status(app)
        assert app.conversation_list.rows()[1].startswith("▸2 #rust")
        await pilot.press(*"rusty")

        _show(app, _list(active="#lobby"))
        await pilot.pause()
        assert input_value(app) == "half a thought"
        assert "lobby line" in "\n".join(screen_lines(app))
        _show(app, _list(active="#rust"))
        await pilot.pause()
        assert input_value(app) == "rusty"


async def test_the_typing_line_shows_who_types_in_the_active_conversation():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        rust = ev.Conversation(name="#rust", kind=ROOM, typing=("bob", "cat"))
        lobby = ev.Conversation(name="#lobby", kind=LOBBY, typing=("ann", "dan"))
        _show(app, _list(changes={"#rust": rust, "#lobby": lobby}))
        await pilot.pause()
        assert app.typing_line.display
        assert "dan is typing…" in "\n".join(screen_lines(app))  # not ann: that is us
        _show(app, _list(active="#rust", changes={"#rust": rust}))
        await pilot.pause()
        screen = screen_lines(app)
        row = next(
            n for n, line in enumerate(screen) if "bob and cat are typing…" in line
        )
        assert "▔" in screen[row + 1]  # right above the input line's frame
        _show(app, _list(active="#rust"))
        await pilot.pause()
        assert not app.typing_line.display


async def test_actions_nick_colours_and_the_time_format():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        _show(
            app,
            _line(1, "waves", sender="ann", action=True),
            _line(2, "hello"),
            _line(3, "ann: ping", mentions_me=True),
        )
        await pilot.pause()
        assert log_lines(app)[-3:] == [
            "12:01 * ann waves",
            "12:02 <bob> hello",
            "12:03 » <bob> ann: ping",
        ]
        # The nick in its own colour (the same every run); the text not.
        row = next(s for s in app.chat_log.rows if "<bob> hello" in s.text)
        coloured = [
            seg.text
            for seg in row
            if seg.style and seg.style.color == nick_style("bob").color
        ]
        assert coloured == ["bob"]
        assert nick_style("bob").color.name == NICK_PALETTE[nick_colour("bob", 12)]

        _show(
            app,
            ev.SettingsChanged(
                theme="system", timestamps="%H:%M:%S", notifications=True
            ),
        )
        await pilot.pause()
        assert log_lines(app)[-1] == "12:03:03 » <bob> ann: ping"
        _show(app, _line(4, "later"))
        await pilot.pause()
        assert log_lines(app)[-1] == "12:04:04 <bob> later"
        _show(app, ev.SettingsChanged(theme="light", timestamps="", notifications=True))
        await pilot.pause()
        assert log_lines(app)[-2:] == ["» <bob> ann: ping", "<bob> later"]
        assert app.theme == "textual-light"


async def test_nick_colours_read_on_the_dark_and_the_light_theme():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            background = Color.parse(app.get_css_variables()["surface"])
            for colour in NICK_PALETTE:
                ratio = _contrast(Color.parse(colour), background)
                assert ratio >= 3.0, (theme, colour, ratio)


def _contrast(one: Color, two: Color) -> float:
    def luminance(colour: Color) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = colour.rgb
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_a_narrow_terminal_hides_the_list_and_names_the_conversation():
    app = _app()
    async with app.run_test(size=(50, 16)) as pilot:
        await _connected(pilot, app)
        _show(app, _list(active="#rust"))
        await pilot.pause()
        assert app.conversation_list.region.width == 0
        assert app.user_list.region.width == 0
        screen = "\n".join(screen_lines(app))
        assert "#rust · [act: 3!]" in screen
        assert app.chat_log.region.width >= 48


# --- the real core: direct conversations, Alt+N, Ctrl+K, the bell -----------------------


async def test_alt_number_and_the_switcher_switch_through_the_core():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(
            p.Delivered(id=1, timestamp_ms=NOON, sender="bob", text="lobby news"),
            p.Delivered(
                id=2, timestamp_ms=NOON, sender="bob", target="ann", text="psst"
            ),
            p.Delivered(
                id=3, timestamp_ms=NOON, sender="cat", target="ann", text="meow"
            ),
        )
        await until(pilot, lambda: len(app.conversation_list.rows()) == 3)
        # Direct conversations by last activity: cat, then bob.
        assert app.conversation_list.rows() == [
            "▸1 #lobby",
            " 2 cat     !1",
            " 3 bob     !1",
        ]
        await pilot.press(*"draft for the lobby")

        feed_terminal(app, "\x1b3")  # Alt+3 as terminals send it: ESC 3
        await until(pilot, lambda: app.chat_log is app.log_of("bob"))
        assert "psst" in log_text(app)
        assert input_value(app) == ""
        assert app.conversation_list.rows()[2].startswith("▸3 bob")
        assert app.conversation_list.rows()[2].rstrip().endswith("bob")  # read now

        await pilot.press("alt+1")
        await until(pilot, lambda: app.chat_log is app.log_of("#lobby"))
        assert input_value(app) == "draft for the lobby"

        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, SwitcherScreen))
        screen = app.screen
        assert isinstance(screen, SwitcherScreen)
        # Every conversation, in the core's order of best matches.
        assert app.client is not None
        assert screen.names() == app.client.find_conversations("")
        assert set(screen.names()) == {"#lobby", "bob", "cat"}
        await pilot.press(*"ct")
        await until(pilot, lambda: screen.names() == ["cat"])
        await pilot.press("enter")
        await until(pilot, lambda: app.chat_log is app.log_of("cat"))
        assert not isinstance(app.screen, SwitcherScreen)
        assert app.focused is app.message_input
        assert "meow" in log_text(app)
        # The draft left in the lobby is not lost, and Ctrl+K did not eat it.
        await pilot.press("alt+1")
        await until(pilot, lambda: input_value(app) == "draft for the lobby")

        # Escape closes the switcher and changes nothing.
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, SwitcherScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SwitcherScreen))
        assert app.chat_log is app.log_of("#lobby")


async def test_a_line_that_switches_is_sent_not_kept_as_a_draft():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(
            p.Delivered(
                id=2, timestamp_ms=NOON, sender="bob", target="ann", text="psst"
            )
        )
        await until(pilot, lambda: len(app.conversation_list.rows()) == 2)
        await pilot.press("alt+2")
        await until(pilot, lambda: app.chat_log is app.log_of("bob"))
        await pilot.press(*"for bob, later")
        await pilot.press("alt+1")
        await until(pilot, lambda: app.chat_log is app.log_of("#lobby"))
        assert input_value(app) == ""
        await type_line(pilot, "/query bob")
        await until(pilot, lambda: app.chat_log is app.log_of("bob"))
        await pilot.pause()
        assert input_value(app) == "for bob, later"  # bob's draft, not cleared
        await pilot.press("alt+1")
        await until(pilot, lambda: app.chat_log is app.log_of("#lobby"))
        assert input_value(app) == ""  # "/query bob" was sent, not left here


async def test_a_typed_pound_sign_stays_text():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        await _connected(pilot, app)
        feed_terminal(app, "£5 ¡hola!")  # typed, not after ESC: characters
        await until(pilot, lambda: input_value(app) == "£5 ¡hola!")


async def test_clicking_an_entry_switches():
    app = _app()
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        fake.deliver(
            p.Delivered(
                id=2, timestamp_ms=NOON, sender="bob", target="ann", text="psst"
            )
        )
        await until(pilot, lambda: len(app.conversation_list.rows()) == 2)
        await pilot.click("#conversations", offset=(4, 2))  # frame, #lobby, bob
        await until(pilot, lambda: app.chat_log is app.log_of("bob"))
        assert app.focused is app.message_input


async def test_a_dm_elsewhere_shows_a_toast_and_rings_only_when_unfocused():
    app = _app()
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        fake = await _connected(pilot, app)
        assert app.app_focus
        fake.deliver(_dm(2, "psst"))
        await until(pilot, lambda: bool(_toasts(app)))
        # Looking at the terminal, but not at that conversation: a toast;
        # the list marks it too; no bell at someone reading.
        assert _toasts(app) == [("New private message", "bob: psst")]
        assert bells == []
        # Looking at it: the next one is seen, nothing.
        await pilot.press("alt+2")
        await until(pilot, lambda: app.chat_log is app.log_of("bob"))
        fake.deliver(_dm(3, "again"))
        await until(pilot, lambda: "again" in log_text(app))
        await pilot.pause()
        assert len(_toasts(app)) == 1
        # The terminal in the background: bell and toast, for the shown
        # conversation and for another one (a mention in the lobby).
        app.post_message(events.AppBlur())
        await pilot.pause()
        fake.deliver(_dm(4, "hello?"))
        await until(pilot, lambda: len(bells) == 1)
        fake.deliver(
            p.Delivered(id=5, timestamp_ms=NOON, sender="cat", text="ann: lunch")
        )
        await until(pilot, lambda: len(bells) == 2)
        await pilot.pause()
        assert _toasts(app)[1:] == [
            ("New private message", "bob: hello?"),
            ("New mention", "cat: ann: lunch"),
        ]
        # The setting off: nothing at all.
        _show(
            app,
            ev.SettingsChanged(theme="system", timestamps="%H:%M", notifications=False),
        )
        fake.deliver(_dm(6, "anyone?"))
        await until(pilot, lambda: "anyone?" in log_text(app))
        await pilot.pause()
        assert len(bells) == 2
        assert len(_toasts(app)) == 3


def _dm(n: int, text: str) -> p.Delivered:
    return p.Delivered(id=n, timestamp_ms=NOON, sender="bob", target="ann", text=text)


def _toasts(app: ChatApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


# --- two apps through a real server -----------------------------------------------------

WIDE = (100, 30)


@pytest.fixture(name="server")
def _server():
    with ChatServer(ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(name="make_app")
def _make_app(server, tmp_path):
    def make(nick: str) -> ChatApp:
        host, port = server.address
        return ChatApp(
            host=host, port=port, nick=nick, security=plaintext(tmp_path / nick)
        )

    return make


async def _in_room(pilot, app: ChatApp, room: str) -> None:
    await type_line(pilot, f"/join {room}")
    await until(pilot, lambda: app.chat_log is app.log_of(room))


async def test_rooms_unread_switching_typing_and_actions_through_a_server(make_app):
    ann, bob = make_app("ann"), make_app("bob")
    async with ann.run_test(size=WIDE) as pa, bob.run_test(size=WIDE) as pb:
        await until(pa, lambda: users(ann) == ["ann", "bob"])
        await until(pb, lambda: users(bob) == ["ann", "bob"])
        await _in_room(pa, ann, "#rust")
        await _in_room(pb, bob, "#rust")
        await until(pa, lambda: users(ann) == ["ann", "bob"])
        assert ann.user_list.border_title == "Members (2)"
        assert "#rust · " in status(ann)

        # Back in the lobby, with something half typed there.
        await pa.press("alt+1")
        await until(pa, lambda: ann.chat_log is ann.log_of("#lobby"))
        await pa.press(*"lobby draft")
        await type_line(pb, "hello rust")
        await type_line(pb, "/me waves")
        await type_line(pb, "ann: look")
        await until(pa, lambda: ann.conversation_list.rows()[1] == " 2 #rust   !3")
        assert "[act: 2!]" in status(ann)
        assert "hello rust" not in log_text(ann)

        # Ctrl+K, a few letters, Enter: the room's own log, an empty line.
        await pa.press("ctrl+k")
        await until(pa, lambda: isinstance(ann.screen, SwitcherScreen))
        await pa.press(*"ru", "enter")
        await until(pa, lambda: ann.chat_log is ann.log_of("#rust"))
        assert input_value(ann) == ""
        rows = log_lines(ann)
        assert any(row.endswith("<bob> hello rust") for row in rows)
        assert any(row.endswith("* bob waves") for row in rows)
        assert any(row.endswith("» <bob> ann: look") for row in rows)
        await until(pa, lambda: ann.conversation_list.rows()[1].startswith("▸2 #rust"))
        assert ann.conversation_list.rows()[1].rstrip() == "▸2 #rust"  # read
        assert "[act" not in status(ann)

        # bob types in the room: ann sees it above her input line, until
        # bob empties his.
        await pb.press(*"typing a long")
        await until(pa, lambda: "bob is typing…" in "\n".join(screen_lines(ann)))
        bob.message_input.set_text("")
        # bob's stop; or, should the server drop it (it passes on one Typing
        # a second, and the client's own gap is that second too), the
        # 6 s expiry of spec 12.6.
        await until(pa, lambda: not ann.typing_line.display, timeout=10)

        # The lobby draft comes back with the lobby.
        await pa.press("alt+1")
        await until(pa, lambda: input_value(ann) == "lobby draft")
        await pa.press("alt+2")
        await until(pa, lambda: ann.chat_log is ann.log_of("#rust"))

        # The time format follows the setting, for the lines shown too.
        await type_line(pa, "/set timestamps %H:%M:%S")
        await until(
            pa,
            lambda: any(
                SECONDS.match(row) and row.endswith("* bob waves")
                for row in log_lines(ann)
            ),
        )
        await type_line(pa, "/set timestamps off")
        await until(pa, lambda: "* bob waves" in log_lines(ann))
        await type_line(pb, "later")
        await until(pa, lambda: "<bob> later" in log_lines(ann))


# --- pictures -------------------------------------------------------------------------


def test_picture_of_conversations_with_unread_counts(snap_compare):
    """#rust shown (its topic over its log, someone typing, an away member,
    a /me line, coloured nicks); #lobby and a direct conversation wait with
    unread counts, the direct one highlighted."""
    app = _app()
    rust = ev.Conversation(
        name="#rust",
        kind=ROOM,
        topic="Rust and nothing but · be kind",
        members=("ann", "bob", "cat"),
        typing=("bob",),
        role="owner",
    )
    lobby = ev.Conversation(
        name="#lobby", kind=LOBBY, unread=12, members=("ann", "bob", "cat", "dan")
    )
    go = ev.Conversation(name="#go", kind=ROOM, members=("ann", "dan"))

    async def before(pilot):
        _still(app)
        await _connected(pilot, app)
        conversations = ev.ConversationsChanged(
            conversations=(
                lobby,
                go,
                rust,
                ev.Conversation(
                    name="cat", kind=DIRECT, unread=2, highlight=True, members=("cat",)
                ),
                ev.Conversation(name="dan", kind=DIRECT, members=("dan",)),
            ),
            active="#rust",
            away=(("cat", "lunch"),),
        )
        _show(
            app,
            conversations,
            _line(1, "anyone tried the new borrow checker?", conversation="#rust"),
            _line(2, "waves", sender="cat", conversation="#rust", action=True),
            _line(3, "yes, it is kinder", sender="ann", conversation="#rust"),
            _line(
                4,
                "ann: can you share the link?",
                conversation="#rust",
                mentions_me=True,
            ),
            ev.Notice("dan left #rust", conversation="#rust"),
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


@pytest.fixture(name="history_server")
def _history_server(tmp_path):
    config = ServerConfig(
        port=0,
        data_dir=tmp_path / "server",
        rate_burst=1000,
        rate_per_second=1000.0,
    )
    with ChatServer(config) as server:
        yield server


@contextlib.contextmanager
def _seeded_room(server: ChatServer, room: str, count: int) -> Iterator[None]:
    """bob says `count` lines in `room`, each stored before the block
    runs, and stays (a room with nobody left in it is deleted)."""
    host, port = server.address
    bob = HeadlessDriver(host, port, "bob")
    try:
        bob.wait_connected()
        assert bob.submit(f"/join {room}")
        bob.wait_until(lambda: bob.client.active == room)
        for n in range(1, count + 1):
            assert bob.submit(f"{room} line {n}")
        bob.wait_until(lambda: len(bob.lines()) == count, timeout=20)
        yield
    finally:
        bob.close()


async def test_a_rooms_history_and_earlier_pages_go_to_its_own_log(
    history_server, tmp_path
):
    host, port = history_server.address
    app = ChatApp(host=host, port=port, nick="ann", security=plaintext(tmp_path))
    with _seeded_room(history_server, "#rust", 130):
        async with app.run_test(size=WIDE) as pilot:
            await until(pilot, lambda: "connected" in status(app))
            await _in_room(pilot, app, "#rust")
            # Its newest page, fetched when it became active.
            await until(pilot, lambda: "<bob> #rust line 130" in log_text(app))
            assert "#rust line 31" in log_text(app)
            assert "#rust line 30" not in log_text(app)

            for _ in range(50):  # Page Up to the top, then once more: a page
                if app.chat_log.at_top:
                    break
                await pilot.press("pageup")
            await pilot.press("pageup")
            await until(
                pilot,
                lambda: any(
                    row.endswith("<bob> #rust line 1") for row in log_lines(app)
                ),
            )
            rust = [row for row in log_lines(app) if "#rust line " in row]
            assert len(rust) == 130
            assert "start of history" in log_text(app)
            assert "#rust line" not in log_text(app, "#lobby")
