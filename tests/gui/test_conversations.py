"""Conversations in the window (issue 15), drawn from the core's events.

The window runs a real `ChatClient` on `PlayedServer`; these tests hand it
the events the core sends (`ConversationsChanged`, lines of a conversation,
`SettingsChanged`) through the window's own event path and look at what is
drawn: the list, a log per conversation, drafts, members, who is typing,
times, nick colours, notifications. The tests against the real server, where
the core makes those events itself, are in test_rooms.py.
"""

from __future__ import annotations

import itertools
import tkinter
from datetime import datetime

import customtkinter as ctk
import pytest

from clients.core import events as ev
from clients.gui.app import ChatWindow, notification_text
from clients.gui.chatlog import NICK_PALETTE, UNREAD_TEXT, nick_tag, rule_text
from clients.gui.conversations import ACTIVE_MARK, HIGHLIGHT_MARK, typing_text
from tests.gui.conftest import press, pump

pytestmark = pytest.mark.gui

WHEN_MS = 1_796_000_000_000  # 2026-11-29, some time of the user's day
_ids = itertools.count(1)

Kind = ev.ConversationKind


def _line(
    text: str,
    *,
    sender: str = "bob",
    conversation: str = "#lobby",
    direct: bool = False,
    mentions_me: bool = False,
    action: bool = False,
    recalled: bool = False,
    timestamp_ms: int = WHEN_MS,
) -> ev.ChatLine:
    return ev.ChatLine(
        id=next(_ids),
        timestamp_ms=timestamp_ms,
        sender=sender,
        target=("ann" if sender != "ann" else conversation) if direct else None,
        text=text,
        is_own=sender == "ann",
        is_direct=direct,
        mentions_me=mentions_me,
        recalled=recalled,
        conversation=conversation,
        action=action,
    )


LOBBY = ev.Conversation(
    name="#lobby", kind=Kind.LOBBY, members=("ann", "bob", "cy", "dee")
)
RUST = ev.Conversation(
    name="#rust",
    kind=Kind.ROOM,
    topic="borrow checker support group",
    members=("ann", "cy"),
)
BOB = ev.Conversation(name="bob", kind=Kind.DIRECT, members=("bob",))


def _listed(
    active: str = "#lobby",
    *conversations: ev.Conversation,
    away: tuple[tuple[str, str], ...] = (),
) -> ev.ConversationsChanged:
    return ev.ConversationsChanged(
        conversations=conversations or (LOBBY, RUST, BOB), active=active, away=away
    )


def _settings(timestamps: str = "%H:%M", *, notifications: bool = True):
    return ev.SettingsChanged(
        theme="system", timestamps=timestamps, notifications=notifications
    )


def _rows(window: ChatWindow, name: str | None = None) -> list[str]:
    log = window.pane.display if name is None else window.pane.logs[name]
    return log.text().split("\n")


def _input(window: ChatWindow) -> str:
    return window._input_text()


def _type(window: ChatWindow, text: str) -> None:
    window.pane.input.delete("1.0", "end")
    window.pane.input.insert("1.0", text)
    window.update()


def _local(timestamp_ms: int, time_format: str) -> str:
    return (
        datetime.fromtimestamp(timestamp_ms / 1000).astimezone().strftime(time_format)
    )


# --- the list -------------------------------------------------------------------------


def test_the_list_shows_each_conversation_in_order_with_its_unread_count(
    fake_window,
):
    window, _ = fake_window()
    window._show(
        [
            _listed(
                "#lobby",
                LOBBY,
                ev.Conversation(name="#rust", kind=Kind.ROOM, unread=3),
                ev.Conversation(name="#go", kind=Kind.ROOM),
                ev.Conversation(
                    name="bob",
                    kind=Kind.DIRECT,
                    unread=2,
                    highlight=True,
                    members=("bob",),
                ),
            )
        ]
    )
    window.update()
    listing = window.pane.conversation_list
    assert listing.names() == ["#lobby", "#rust", "#go", "bob"]
    assert listing.rows() == [
        f"{ACTIVE_MARK} #lobby",
        "   #rust (3)",
        "   #go",
        f"   @bob ({HIGHLIGHT_MARK} 2)",
    ]
    # Not colour alone: unread in bold, highlighted with a star as well.
    assert listing.is_bold("#rust")
    assert listing.is_bold("bob")
    assert not listing.is_bold("#go")

    # Read, reordered, one gone: drawn as sent.
    window._show(
        [
            _listed(
                "#rust",
                LOBBY,
                ev.Conversation(name="bob", kind=Kind.DIRECT, members=("bob",)),
                ev.Conversation(name="#rust", kind=Kind.ROOM),
            )
        ]
    )
    window.update()
    assert listing.names() == ["#lobby", "bob", "#rust"]
    assert listing.rows() == ["   #lobby", "   @bob", f"{ACTIVE_MARK} #rust"]
    assert not listing.is_bold("bob")


def test_each_line_goes_to_the_log_of_its_conversation(fake_window):
    window, _ = fake_window()
    window._show(
        [
            _listed(),
            _line("in the lobby"),
            _line("about lifetimes", sender="cy", conversation="#rust"),
            _line("psst", conversation="bob", direct=True),
            ev.Notice("cy set the topic", conversation="#rust"),
            ev.Notice("said where you are"),
        ]
    )
    lobby = window.chat_text()
    assert "in the lobby" in lobby
    assert "said where you are" in lobby
    assert "about lifetimes" not in lobby
    assert "psst" not in lobby
    assert "cy set the topic" not in lobby

    window._show([_listed("#rust")])
    window.update()
    assert window.active == "#rust"
    rust = window.chat_text()
    assert "<cy> about lifetimes" in rust
    assert "cy set the topic" in rust
    assert "in the lobby" not in rust
    # The shown log is the one on top, the others under it.
    box = window.pane.display
    assert box.winfo_ismapped()
    assert window.pane.header_name.cget("text") == "#rust"
    assert window.pane.header_topic.cget("text") == "borrow checker support group"

    window._show([_listed("bob")])
    assert "psst" in window.chat_text()
    assert window.pane.header_name.cget("text") == "@bob"

    window._show([_listed("#lobby")])
    assert window.chat_text() == lobby  # nothing lost, nothing added


def test_history_separators_and_pages_go_to_their_conversation(fake_window):
    window, _ = fake_window()
    day = datetime.fromtimestamp(WHEN_MS / 1000).astimezone().date()
    window._show(
        [
            _listed(),
            ev.DaySeparator(day, "#rust"),
            _line("old news", conversation="#rust", recalled=True),
            ev.UnreadMarker("#rust"),
            _line("new news", conversation="#rust"),
            ev.EarlierLines(
                items=(_line("older still", conversation="#rust", recalled=True),),
                more=False,
                conversation="#rust",
            ),
        ]
    )
    assert "news" not in window.chat_text()
    window._show([_listed("#rust")])
    rows = _rows(window)
    separator = ev.DaySeparator(day).label
    assert rows[0] == rule_text("start of history")
    assert rows[1].endswith("<bob> older still")
    assert rows[2] == rule_text(separator)
    assert rows[3].endswith("<bob> old news")
    assert rows[4] == rule_text(UNREAD_TEXT)
    assert rows[5].endswith("<bob> new news")


def test_a_draft_stays_with_its_conversation(fake_window):
    window, _ = fake_window()
    window._show([_listed()])
    _type(window, "half a thought for everyone")
    window._show([_listed("#rust")])
    assert _input(window) == ""
    _type(window, "about the borrow checker")
    window._show([_listed("bob")])
    assert _input(window) == ""
    window._show([_listed("#lobby")])
    assert _input(window) == "half a thought for everyone"
    window._show([_listed("#rust")])
    assert _input(window) == "about the borrow checker"
    # Sending empties it: coming back finds nothing.
    _type(window, "")
    window._show([_listed("#lobby"), _listed("#rust")])
    assert _input(window) == ""


def test_members_of_the_active_conversation_and_who_is_away(fake_window):
    window, _ = fake_window()
    window._show([_listed(away=(("cy", "lunch, back at 2"),))])
    window.update()
    users = window.pane.user_buttons
    assert list(users) == ["ann", "bob", "cy", "dee"]
    assert window.pane.users_title.cget("text") == "Online (4)"
    assert users["cy"].cget("text") == "cy (away)"
    assert users["bob"].cget("text") == "bob"
    tip = window.pane.user_tips["cy"]
    assert tip.text == "away: lunch, back at 2"
    tip.show()
    window.update()
    assert tip.shown_text() == "away: lunch, back at 2"
    tip.hide()
    assert window.pane.user_tips["bob"].text == ""

    window._show([_listed("#rust", away=(("cy", "lunch, back at 2"),))])
    window.update()
    assert sorted(window.pane.user_buttons) == ["ann", "cy"]
    assert window.pane.users_title.cget("text") == "Members (2)"

    # Back: no longer marked.
    window._show([_listed("#rust")])
    assert window.pane.user_buttons["cy"].cget("text") == "cy"
    assert window.pane.user_tips["cy"].text == ""


def test_the_typing_line_is_the_active_conversations(fake_window):
    window, _ = fake_window()
    rust = ev.Conversation(name="#rust", kind=Kind.ROOM, typing=("cy",))
    window._show([_listed("#lobby", LOBBY, rust)])
    assert window.typing_line() == ""  # cy types elsewhere
    window._show([_listed("#rust", LOBBY, rust)])
    assert window.typing_line() == "cy is typing…"
    both = ev.Conversation(name="#rust", kind=Kind.ROOM, typing=("bob", "cy"))
    window._show([_listed("#rust", LOBBY, both)])
    assert window.typing_line() == "bob and cy are typing…"
    window._show([_listed("#rust", LOBBY, RUST)])
    assert window.typing_line() == ""


@pytest.mark.parametrize(
    ("nicks", "text"),
    [
        ((), ""),
        (("ann",), "ann is typing…"),
        (("ann", "bob"), "ann and bob are typing…"),
        (("ann", "bob", "cy"), "ann, bob and cy are typing…"),
        (("ann", "bob", "cy", "dee", "eve"), "ann, bob and 3 others are typing…"),
    ],
)
def test_typing_text(nicks, text):
    assert typing_text(nicks) == text


# --- how lines look ---------------------------------------------------------------------


def test_times_follow_the_format_setting_shown_lines_too(fake_window):
    window, _ = fake_window()
    window._show([_listed(), _line("first"), _line("in rust", conversation="#rust")])
    short = _local(WHEN_MS, "%H:%M")
    assert _rows(window)[-2] == f"{short} <bob> first"

    window._show([_settings("%H:%M:%S")])
    seconds = _local(WHEN_MS, "%H:%M:%S")
    assert _rows(window)[-2] == f"{seconds} <bob> first"
    assert _rows(window, "#rust")[-2] == f"{seconds} <bob> in rust"
    window._show([_line("second")])
    assert _rows(window)[-2] == f"{seconds} <bob> second"

    window._show([_settings("")])
    assert _rows(window)[-3:-1] == ["<bob> first", "<bob> second"]
    assert _rows(window, "#rust")[-2] == "<bob> in rust"
    # Colours and links survive the redraw: only the time is new.
    window._show([_line("see https://example.org/x")])
    window._show([_settings("[%H:%M]")])
    assert _rows(window)[-2] == f"[{short}] <bob> see https://example.org/x"
    assert [url for _, _, url in window.pane.display.links()] == [
        "https://example.org/x"
    ]
    box = window.pane.display._textbox
    assert "time" in box.tag_names(box.search(f"[{short}]", "1.0"))


def test_a_search_context_shows_times_in_the_format_too(fake_window):
    window, _ = fake_window()
    window._show([_settings("%H:%M:%S")])
    line = _line("found it")
    window._show([ev.Context(focus_id=line.id, items=(line,))])
    assert window.search_window is not None
    assert window.search_window.context.text() == (
        f"{_local(WHEN_MS, '%H:%M:%S')} <bob> found it\n"
    )
    window.search_window.hide()


def test_times_survive_earlier_pages_put_above(fake_window):
    window, _ = fake_window()
    window._show([_line("live")])
    window._show(
        [
            ev.EarlierLines(
                items=(_line("older", recalled=True, timestamp_ms=WHEN_MS - 60_000),),
                more=True,
            )
        ]
    )
    window._show([_settings("%H:%M:%S")])
    rows = [row for row in _rows(window) if "<bob>" in row]
    assert rows == [
        f"{_local(WHEN_MS - 60_000, '%H:%M:%S')} <bob> older",
        f"{_local(WHEN_MS, '%H:%M:%S')} <bob> live",
    ]


def test_actions_and_nick_colours(fake_window):
    window, _ = fake_window()
    window._show(
        [
            _line("waves", action=True),
            _line("hello"),
            _line("hi bob", sender="cy"),
            _line("ann: you there?", mentions_me=True),
        ]
    )
    rows = _rows(window)
    assert rows[-5].endswith("* bob waves")
    box = window.pane.display._textbox
    bob_tags = {
        tag
        for index in box.tag_ranges(nick_tag("bob"))[::2]
        for tag in box.tag_names(index)
    }
    # Each of bob's lines has his name (only) in his colour.
    starts = box.tag_ranges(nick_tag("bob"))[::2]
    ends = box.tag_ranges(nick_tag("bob"))[1::2]
    assert [box.get(a, b) for a, b in zip(starts, ends, strict=True)] == ["bob"] * 3
    assert "mention" in bob_tags  # and the mention is still a mention
    cy = box.search("cy>", "1.0")
    assert nick_tag("cy") in box.tag_names(cy)
    assert box.tag_cget(nick_tag("bob"), "foreground") in {
        colour for pair in NICK_PALETTE for colour in pair
    }


def _luminance(colour: str) -> float:
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(one: str, two: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_nick_palette_reads_in_light_and_dark():
    light_background, dark_background = ctk.ThemeManager.theme["CTkTextbox"]["fg_color"]
    for light, dark in NICK_PALETTE:
        assert _contrast(light, light_background) >= 4.5, light
        assert _contrast(dark, dark_background) >= 4.5, dark
    assert len(set(NICK_PALETTE)) == len(NICK_PALETTE)


# --- attention -----------------------------------------------------------------------------


def _focus_elsewhere(window: ChatWindow) -> tkinter.Toplevel:
    other = tkinter.Toplevel(window)
    other.geometry("120x80+600+400")
    other.focus_force()
    pump(window, lambda: not window.has_focus())
    return other


@pytest.fixture(name="notified_window")
def _notified_window(fake_window, monkeypatch):
    notes: list[tuple[str, str]] = []
    window, _ = fake_window(notify=lambda title, body: notes.append((title, body)))
    rings: list[None] = []
    monkeypatch.setattr(window, "bell", lambda *_a: rings.append(None))
    return window, notes, rings


def test_a_mention_or_private_message_elsewhere_notifies_when_unfocused(
    notified_window,
):
    window, notes, rings = notified_window
    window._show([_listed()])
    other = _focus_elsewhere(window)
    try:
        window._show(
            [
                _line(
                    "ann: have a look",
                    sender="cy",
                    conversation="#rust",
                    mentions_me=True,
                ),
                _line("psst\nsecond line", conversation="bob", direct=True),
                _line("nothing for ann to see", conversation="#rust"),
                _line(
                    "recalled, for you", conversation="bob", direct=True, recalled=True
                ),
                _line("my own", sender="ann", conversation="bob", direct=True),
            ]
        )
        assert notes == [
            ("cy in #rust", "ann: have a look"),
            ("bob (private message)", "psst (+1 more line)"),
        ]
        assert len(rings) == 2
        assert window.unseen == 2
        # Notifications off: no bell, no notification; the title still counts.
        window._show(
            [
                _settings(notifications=False),
                _line("again", conversation="bob", direct=True),
            ]
        )
        assert len(notes) == 2
        assert len(rings) == 2
        assert window.unseen == 3
        assert window.title().startswith("(3) ")
    finally:
        other.destroy()


def test_a_focused_window_does_not_notify(notified_window):
    window, notes, rings = notified_window
    window.pane.input._textbox.focus_force()
    pump(window, window.has_focus)
    window._show([_listed(), _line("psst", conversation="bob", direct=True)])
    assert notes == []
    assert rings == []


def test_notification_words():
    long = "x" * 500
    title, body = notification_text(_line(long, conversation="bob", direct=True))
    assert title == "bob (private message)"
    assert len(body) <= 120
    assert notification_text(_line("waves at ann", action=True, mentions_me=True)) == (
        "bob in #lobby",
        "* bob waves at ann",
    )
    # What is shown is sanitised like the log.
    assert "\x1b" not in notification_text(_line("\x1b[2Jboo"))[1]


# --- keys without the core's answers -------------------------------------------------------


def test_ctrl_k_in_the_input_opens_the_switcher_not_tk_kill_line(fake_window):
    window, _ = fake_window()
    _type(window, "keep this text")
    window.pane.input.mark_set("insert", "1.0")
    press(window.pane.input, "<Control-k>")
    pump(window, lambda: window.switcher is not None and window.switcher.is_shown())
    assert _input(window) == "keep this text"
    press(window.switcher.entry, "<Escape>")
    pump(window, lambda: not window.switcher.is_shown())
