"""How the log, the pending area and alerts look: a window on a fake server.

The test plays the server through `FakeTransport`, so every event goes the
real way: bytes, the session core, the bridge, the render path.
"""

from __future__ import annotations

import time
import tkinter
from typing import cast

import pytest

from clients.core import events as ev
from clients.core.commands import help_lines
from clients.core.formatting import CONTINUATION
from clients.core.testing import ManualClock
from clients.gui.app import ChatWindow
from clients.gui.chatlog import HAND_CURSOR
from protocol import Delivered, SendText
from tests.gui.conftest import FakeServer, pump

pytestmark = pytest.mark.gui

FORGERY = "ok\n21:21 <ann> bob, please post the admin password here"
_ids = iter(range(1, 1_000_000))


def _from(fake: FakeServer, sender: str, text: str, target: str | None = None):
    fake.current.deliver(
        Delivered(
            id=next(_ids),
            timestamp_ms=int(time.time() * 1000),
            sender=sender,
            target=target,
            text=text,
        )
    )


def _rows(window: ChatWindow) -> list[str]:
    return window.chat_text().split("\n")


def _box(window: ChatWindow) -> tkinter.Text:
    return window.pane.display._textbox


def _tags_at(box: tkinter.Text, index: str) -> set[str]:
    return set(box.tag_names(index))


def _find(box: tkinter.Text, text: str) -> str:
    index = box.search(text, "1.0", "end")
    assert index, f"{text!r} not shown"
    return str(index)


def _bbox(box: tkinter.Text, index: str) -> tuple[int, int, int, int]:
    bbox = box.bbox(index)
    assert bbox is not None, f"{index} not on screen"
    return bbox


def _type(window: ChatWindow, text: str) -> None:
    window.pane.input.delete("1.0", "end")
    window.pane.input.insert("1.0", text)


def test_a_forged_line_inside_a_message_is_marked_as_a_continuation(fake_window):
    window, fake = fake_window()
    _from(fake, "bob", FORGERY)
    pump(window, lambda: "admin password" in window.chat_text())
    rows = _rows(window)
    first = next(i for i, row in enumerate(rows) if row.endswith("<bob> ok"))
    assert (
        rows[first + 1]
        == CONTINUATION + "21:21 <ann> bob, please post the admin password here"
    )
    # No row of the log starts the way a real message from ann would.
    assert not [row for row in rows if row.startswith("21:21 <ann>")]
    box = _box(window)
    row = f"{first + 2}.0"  # the row after `first`; Tk counts rows from 1
    mark_tags = _tags_at(box, row)
    assert "continuation" in mark_tags
    # The text names ann, so the message is a mention; its second line keeps
    # the message's style, and the mark has a style of its own.
    assert "mention" not in mark_tags
    text_tags = _tags_at(box, f"{row}+{len(CONTINUATION)}c")
    assert "mention" in text_tags
    assert "continuation" not in text_tags
    assert box.tag_cget("continuation", "foreground") != box.tag_cget(
        "mention", "foreground"
    )


def test_help_shows_every_line(fake_window):
    window, _ = fake_window()
    _type(window, "/help")
    window.pane.send_button.invoke()
    rows = _rows(window)
    start = rows.index("Commands:")
    expected = [CONTINUATION + line for line in help_lines()]
    assert rows[start + 1 : start + 1 + len(expected)] == expected
    assert any("/quit [reason]" in row for row in expected)


def test_wrapped_rows_are_indented_so_they_cannot_pass_for_messages(fake_window):
    window, _ = fake_window()
    box = _box(window)
    assert int(box.tag_cget("row", "lmargin2")) > 0
    assert int(box.tag_cget("row", "lmargin1") or 0) == 0


def test_pending_lines_show_between_log_and_input_until_done(fake_window):
    window, _ = fake_window()
    area = window.pane.pending
    assert not area.winfo_ismapped()
    window._show(
        [
            ev.Pending(local_id=7, text="first\nsecond", target=None, queued=True),
            ev.Pending(local_id=8, text="psst", target="bob", queued=True),
        ]
    )
    window.update()
    assert area.winfo_ismapped()
    assert area.rows() == [
        "(waiting for the connection) first",
        CONTINUATION + "second",
        "(to bob waiting for the connection) psst",
    ]
    box = area._textbox
    assert box.yview() == (0.0, 1.0), "the pending area is too short for 3 rows"
    assert "continuation" in _tags_at(box, "2.0")
    assert "pending" in _tags_at(box, "1.0")
    assert "pending" in _tags_at(box, f"2.{len(CONTINUATION)}")
    # Between the log and the input, dimmed.
    log_bottom = window.pane.display.winfo_rooty() + window.pane.display.winfo_height()
    assert log_bottom <= area.winfo_rooty() < window.pane.input.winfo_rooty()
    assert box.tag_cget("pending", "foreground") != window.pane.display.tag_cget(
        "chat", "foreground"
    )
    window._show(
        [ev.Pending(local_id=7, text="first\nsecond", target=None, queued=False)]
    )
    assert area.rows()[0] == "(sending…) first"
    assert area.rows()[2] == "(to bob waiting for the connection) psst"
    window._show([ev.PendingDone(local_id=7, delivered=True)])
    assert area.rows() == ["(to bob waiting for the connection) psst"]
    window._show([ev.PendingDone(local_id=8, delivered=False)])
    window.update()
    assert area.rows() == []
    assert not area.winfo_ismapped()
    assert "first" not in window.chat_text()  # the log keeps only what was delivered


def _deliver_own(fake: FakeServer, sent: SendText) -> None:
    fake.current.deliver(
        Delivered(
            id=next(_ids),
            timestamp_ms=int(time.time() * 1000),
            sender="ann",
            target=None,
            text=sent.text,
            ref=sent.ref,
        )
    )


def test_a_line_in_flight_shows_once_it_is_slow_and_goes_when_delivered(
    fake_window,
):
    window, fake = fake_window()
    area = window.pane.pending
    clock = ManualClock()
    area.clock = clock
    _type(window, "two\nlines")
    window.pane.send_button.invoke()
    window.update()
    sent = [m for m in fake.current.received if isinstance(m, SendText)]
    assert [m.text for m in sent] == ["two\nlines"]  # one message, not two
    assert area.rows() == []  # not yet: most lines are confirmed at once
    clock.advance(area.show_after)
    pump(window, lambda: area.rows() == ["(sending…) two", CONTINUATION + "lines"])
    assert area.winfo_ismapped()
    assert "two" not in window.chat_text()
    _deliver_own(fake, sent[0])
    pump(window, lambda: area.rows() == [])
    assert not area.winfo_ismapped()
    assert "<ann> two\n" + CONTINUATION + "lines" in window.chat_text()


def test_a_line_confirmed_quickly_never_shows_as_pending(fake_window):
    window, fake = fake_window()
    area = window.pane.pending
    area.clock = ManualClock()  # never late
    _type(window, "quick")
    window.pane.send_button.invoke()
    (sent,) = [m for m in fake.current.received if isinstance(m, SendText)]
    _deliver_own(fake, sent)
    pump(window, lambda: "<ann> quick" in window.chat_text())
    window.update()
    assert area.rows() == []
    assert not area.winfo_ismapped()


def test_links_are_tagged_and_a_click_opens_exactly_the_link(fake_window):
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return True

    window, fake = fake_window(open_url=browser)
    text = (
        "docs at https://example.org/a_(b)?q=1, and (http://x.test/path). not ftp://y"
    )
    _from(fake, "bob", text)
    _from(fake, "bob", "two\nsee https://example.com/more")
    pump(window, lambda: "example.com/more" in window.chat_text())
    display = window.pane.display
    urls = [url for _, _, url in display.links()]
    assert urls == [
        "https://example.org/a_(b)?q=1",
        "http://x.test/path",
        "https://example.com/more",
    ]
    box = _box(window)
    start = _find(box, "https://example.org")
    assert box.index(f"{start}+{len(urls[0])}c") == display.links()[0][1]
    assert "link" not in _tags_at(box, f"{start}-1c")  # the space before
    assert "chat" in _tags_at(box, start)  # still part of bob's line
    assert box.tag_cget("link", "underline") in {"1", 1}

    window.update()
    box.see(start)
    window.update()
    x, y, w, h = _bbox(box, f"{start}+3c")
    box.event_generate("<Enter>", x=x + w // 2, y=y + h // 2)
    box.event_generate("<Motion>", x=x + w // 2, y=y + h // 2)
    window.update()
    assert str(box.cget("cursor")) == HAND_CURSOR
    box.event_generate("<ButtonPress-1>", x=x + w // 2, y=y + h // 2)
    box.event_generate("<ButtonRelease-1>", x=x + w // 2, y=y + h // 2)
    window.update()
    assert opened == ["https://example.org/a_(b)?q=1"]

    # Plain text beside a link opens nothing, and the cursor goes back.
    before = _find(box, "docs at")
    x, y, w, h = _bbox(box, before)
    box.event_generate("<Motion>", x=x + 1, y=y + h // 2)
    box.event_generate("<ButtonPress-1>", x=x + 1, y=y + h // 2)
    box.event_generate("<ButtonRelease-1>", x=x + 1, y=y + h // 2)
    window.update()
    assert opened == ["https://example.org/a_(b)?q=1"]
    assert str(box.cget("cursor")) != HAND_CURSOR

    # A link on a continuation row works the same.
    assert display.link_at(_find(box, "https://example.com") + "+2c") == urls[2]


def test_a_link_the_browser_cannot_open_says_so(fake_window):
    window, _ = fake_window(open_url=lambda _url: False)
    window.open_link("https://example.org/")
    assert "could not open a web browser for https://example.org/" in window.chat_text()


def test_ctrl_a_selects_all_of_the_input(fake_window):
    window, _ = fake_window()
    _type(window, "first line\nsecond line")
    box = window.pane.input._textbox
    box.focus_force()
    box.mark_set("insert", "2.3")
    box.event_generate("<Control-a>")
    window.update()
    assert box.tag_ranges("sel"), "nothing selected"
    assert (box.index("sel.first"), box.index("sel.last")) == ("1.0", "2.11")
    assert window._input_text() == "first line\nsecond line"
    box.event_generate("<Control-A>")  # with Caps Lock on
    window.update()
    assert box.index("sel.last") == "2.11"


def test_mentions_and_private_messages_carry_a_symbol_not_just_a_colour(fake_window):
    window, fake = fake_window()
    _from(fake, "bob", "hey ann, look")
    _from(fake, "bob", "psst", target="ann")
    _from(fake, "bob", "just chat")
    pump(window, lambda: "just chat" in window.chat_text())
    pump(window, lambda: "psst" in window.chat_text("bob"))
    rows = _rows(window)
    assert any(row.endswith("★ <bob> hey ann, look") for row in rows)
    assert window.chat_text("bob").endswith("✉ bob → you (private): psst\n")
    assert any(row.endswith(" <bob> just chat") and "★" not in row for row in rows)


def _focus_elsewhere(window: ChatWindow) -> tkinter.Toplevel:
    other = tkinter.Toplevel(window)
    other.geometry("120x80+600+400")
    other.focus_force()
    pump(window, lambda: not window.has_focus())
    return other


def test_an_unfocused_window_rings_and_counts_in_its_title(fake_window, monkeypatch):
    window, fake = fake_window()
    rings: list[None] = []
    monkeypatch.setattr(window, "bell", lambda *_a: rings.append(None))
    other = _focus_elsewhere(window)
    try:
        _from(fake, "bob", "for you", target="ann")
        pump(window, lambda: "for you" in window.chat_text("bob"))
        assert len(rings) == 1
        assert window.title() == "(1) Chinwag · ann @ 127.0.0.1:9"
        _from(fake, "bob", "nothing to see")
        _from(fake, "bob", "ann: you there?")
        pump(window, lambda: "you there?" in window.chat_text())
        assert len(rings) == 2
        assert window.title() == "(2) Chinwag · ann @ 127.0.0.1:9"
        window.pane.input._textbox.focus_force()
        pump(window, window.has_focus)
        pump(window, lambda: window.title() == "Chinwag · ann @ 127.0.0.1:9")
        assert window.unseen == 0
    finally:
        other.destroy()


def test_a_focused_window_does_not_ring(fake_window, monkeypatch):
    window, fake = fake_window()
    rings: list[None] = []
    monkeypatch.setattr(window, "bell", lambda *_a: rings.append(None))
    window.pane.input._textbox.focus_force()
    pump(window, window.has_focus)
    _from(fake, "bob", "ann: hello")
    _from(fake, "bob", "psst", target="ann")
    pump(window, lambda: "psst" in window.chat_text("bob"))
    assert rings == []
    assert window.title() == "Chinwag · ann @ 127.0.0.1:9"


def _display_rows(box: tkinter.Text) -> int:
    return int(box.tk.call(box, "count", "-update", "-displaylines", "1.0", "end"))


def test_long_lines_wrap_and_rewrap_with_every_character_visible(fake_window):
    window, fake = fake_window()
    window.geometry("480x360")
    words = " ".join(f"word{n:03d}" for n in range(60))
    unbroken = "x" * 150
    _from(fake, "bob", words)
    _from(fake, "bob", unbroken)
    pump(window, lambda: unbroken in window.chat_text())
    pump(window, lambda: window.winfo_width() == 480)
    box = _box(window)

    def all_visible(text: str) -> None:
        start = _find(box, text)
        box.see(f"{start}+{len(text)}c")
        box.see(start)
        window.update()
        width = box.winfo_width()
        assert box.xview() == (0.0, 1.0)  # nothing off to the side
        for offset in range(len(text)):
            index = f"{start}+{offset}c"
            if box.bbox(index) is None:  # below the fold: scroll, not sideways
                box.see(index)
                window.update_idletasks()
            bbox = box.bbox(index)
            assert box.xview() == (0.0, 1.0)
            assert bbox is not None, f"character {offset} of {text[:10]!r} hidden"
            x, _, w, _ = bbox
            assert x + w <= width

    narrow = _display_rows(box)
    all_visible(words)
    all_visible(unbroken)
    window.geometry("1200x700")
    pump(window, lambda: window.winfo_width() == 1200)
    wide = _display_rows(box)
    assert wide < narrow
    all_visible(words)


def test_screenshot_of_links_continuations_and_pending(fake_window, tmp_path):
    # Pillow is only installed for the gui session; other sessions collect this file.
    from PIL import ImageGrab  # noqa: PLC0415

    window, fake = fake_window(users=("bob", "cy"))
    _from(fake, "bob", "morning! the notes are at https://example.org/notes")
    _from(fake, "cy", FORGERY)
    _from(fake, "bob", "ann: lunch?\nnoon works\nor one")
    pump(window, lambda: "or one" in window.chat_text())
    window._show(
        [
            ev.Pending(
                local_id=1, text="on my way\nsee you there", target=None, queued=True
            )
        ]
    )
    window.update()
    x, y = window.winfo_rootx(), window.winfo_rooty()
    image = ImageGrab.grab(
        bbox=(x, y, x + window.winfo_width(), y + window.winfo_height())
    )
    path = tmp_path / "chinwag-gui-rendering.png"
    image.save(path)
    print(f"screenshot: {path}")
    # The link is drawn in the link colour: find a pixel of it where the link is.
    box = _box(window)
    lx, ly, lw, lh = _bbox(box, _find(box, "https://example.org") + "+10c")
    origin_x = box.winfo_rootx() - x
    origin_y = box.winfo_rooty() - y
    region = image.crop(
        (origin_x + lx, origin_y + ly, origin_x + lx + lw * 6, origin_y + ly + lh)
    ).convert("RGB")
    colours = {
        cast("tuple[int, int, int]", colour)
        for _, colour in region.getcolors(maxcolors=4096) or []
    }
    link_colour = box.tag_cget("link", "foreground").lstrip("#")
    wanted = tuple(int(link_colour[i : i + 2], 16) for i in (0, 2, 4))
    assert any(
        max(abs(a - b) for a, b in zip(c, wanted, strict=True)) < 40 for c in colours
    ), f"no pixel near {wanted} among {sorted(colours)[:20]}"
