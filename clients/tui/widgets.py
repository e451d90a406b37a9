"""The input line, the pending area and the alert banner. Textual widgets; no
chat logic here.

What a line means is the session core's business: `ChatInput` hands the
whole text to the callbacks it was given and shows what they return.
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static, TextArea

from clients.core import events as ev
from clients.core.formatting import pending_text, split_lines

PASTE_PREVIEW_LINES = 5
PASTE_PREVIEW_CHARS = 1000
"""A bracketed paste with more lines or characters than this is shown in a
preview before it is sent (irssi's paste detection)."""
PENDING_ROWS = 4
"""Pending lines shown; beyond that one row says how many more wait."""


def normalize_breaks(text: str) -> str:
    """Terminals send a line break as CR (pastes included): make every break LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_long_paste(text: str) -> bool:
    return text.count("\n") + 1 > PASTE_PREVIEW_LINES or len(text) > PASTE_PREVIEW_CHARS


class InputOwner(Protocol):
    """What `ChatInput` asks of the app; each call is synchronous."""

    def submit_text(self, text: str) -> bool:
        """Send `text`; True if taken (the box is cleared), False if refused
        (the text stays to be fixed)."""

    def complete(self, text: str) -> str | None:
        """The text after Tab completion, or None for no change."""

    def older(self, text: str) -> str | None:
        """The previous line from the history (None: no change)."""

    def newer(self) -> str | None:
        """The next line from the history (None: no change)."""

    def confirm_paste(self, text: str) -> None:
        """A long multi-line paste (with the rest of the box around it in
        place) must be confirmed before it is sent."""

    def page_log(self, direction: int) -> None:
        """Scroll the chat log a page up (-1) or down (+1)."""

    def jump_to_end(self) -> None:
        """Scroll the chat log back to the newest line."""


class ChatInput(TextArea):
    """Where the user writes. Enter sends; a pasted line break stays in the text.

    Enter and Tab act in this widget's own key handler, in the order the
    keys came: several lines typed ahead (or pasted without bracketed paste)
    arrive as keys in one read, and a key binding would run only after the
    keys behind it had been inserted, merging lines.

    Args:
        owner: what sends, completes and scrolls (the app).
        placeholder: shown while the box is empty.
    """

    BINDINGS = [  # noqa: RUF012 - Textual's API
        # Tab and Enter are handled in _on_key (see the class docstring);
        # these entries only put them in the footer.
        Binding("tab", "complete", "Complete nick", key_display="Tab"),
        Binding("up", "older", "History", key_display="↑↓"),
        Binding("down", "newer", show=False),
        Binding("pageup", "page(-1)", "Scroll", key_display="PgUp/PgDn"),
        Binding("pagedown", "page(1)", show=False),
        Binding("end", "end", show=False),
        Binding("ctrl+end", "jump", show=False),
        Binding("shift+enter,alt+enter", "newline", show=False),
    ]

    def __init__(
        self,
        *,
        owner: InputOwner,
        id: str | None = None,  # noqa: A002 - Textual's name
        placeholder: str = "",
    ) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder=placeholder,
        )
        self._owner = owner

    def set_text(self, text: str | None) -> None:
        """Replace the text, cursor at the end; None changes nothing."""
        if text is not None:
            self.load_text(text)
            self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        if event.key in ("enter", "ctrl+j"):
            # ctrl+j is a bare LF: some terminals send it for Enter or in a
            # paste without brackets; each is the end of one line to send.
            event.stop()
            event.prevent_default()
            self.action_send()
        elif event.key == "tab":
            event.stop()
            event.prevent_default()
            self.action_complete()

    async def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        text = normalize_breaks(event.text)
        if is_long_paste(text):
            start, end = sorted(self.selection)
            before = self.get_text_range((0, 0), start)
            after = self.get_text_range(end, self.document.end)
            self._owner.confirm_paste(before + text + after)
        else:
            self._insert(text)  # line breaks and all: Enter sends one message

    def _insert(self, text: str) -> None:
        if result := self.replace(text, *self.selection):
            self.move_cursor(result.end_location)

    def action_send(self) -> None:
        text = self.text
        # Sent: empty the box, unless sending it switched conversations and
        # put that conversation's draft in (/query nick).
        if self._owner.submit_text(text) and self.text == text:
            self.load_text("")

    def action_complete(self) -> None:
        self.set_text(self._owner.complete(self.text))

    def action_newline(self) -> None:
        self._insert("\n")

    def _on_first_row(self) -> bool:
        return self.wrapped_document.location_to_offset(self.cursor_location).y == 0

    def _on_last_row(self) -> bool:
        row = self.wrapped_document.location_to_offset(self.cursor_location).y
        return row >= self.wrapped_document.height - 1

    def action_older(self) -> None:
        if self._on_first_row():
            self.set_text(self._owner.older(self.text))
        else:
            self.action_cursor_up()

    def action_newer(self) -> None:
        if self._on_last_row():
            self.set_text(self._owner.newer())
        else:
            self.action_cursor_down()

    def action_page(self, direction: int) -> None:
        self._owner.page_log(direction)

    def action_end(self) -> None:
        """End of the line, and the log back to its end too (its hint says End)."""
        self.action_cursor_line_end()
        self._owner.jump_to_end()

    def action_jump(self) -> None:
        self._owner.jump_to_end()


class PendingArea(Static):
    """Lines sent but not yet confirmed by the server, one row each, dim.

    The chat log holds only what the server delivered; this shows what is
    still on its way, and what waits for the connection.
    """

    DEFAULT_CSS = """
    PendingArea {
        height: auto;
        padding: 0 1;
        color: $text-muted;
        text-style: dim;
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__("", id=id)
        self._pending: dict[int, ev.Pending] = {}

    @property
    def pending(self) -> tuple[ev.Pending, ...]:
        return tuple(self._pending.values())

    def show_event(self, event: ev.Pending | ev.PendingDone) -> None:
        match event:
            case ev.Pending():
                self._pending[event.local_id] = event  # a changed state keeps its row
            case ev.PendingDone():
                self._pending.pop(event.local_id, None)
        self._redraw()

    def clear(self) -> None:
        self._pending.clear()
        self._redraw()

    def _redraw(self) -> None:
        shown = list(self._pending.values())
        extra = 0
        if len(shown) > PENDING_ROWS:
            extra = len(shown) - (PENDING_ROWS - 1)
            shown = shown[: PENDING_ROWS - 1]
        rows = Text(no_wrap=True, overflow="ellipsis", end="")
        for number, event in enumerate(shown):
            first, more = pending_text(event)
            if number:
                rows.append("\n")
            rows.append(first)
            if more:
                rows.append(f" (+{len(more)} more line{'s' if len(more) > 1 else ''})")
        if extra:
            rows.append(f"\n… and {extra} more waiting")
        self.update(rows)
        self.display = bool(self._pending)


BANNER_LINES = 2
"""A reason of up to this many lines is shown whole in the banner; a longer
one (the changed-certificate warning) by its first line, the whole of it
being in the chat log, scrolled to its start."""


class AlertBanner(Static):
    """Why the client stopped connecting, in a bar above the chat log.

    A connection that ended for good does not retry, so its reason must not
    scroll away as one more log line: it stays here until the client
    connects again or the user hides it (Escape, or a click). The words
    come from the session core. It is short on purpose: at 80x24 the log
    below it must still have the room to show a long warning whole.
    """

    DEFAULT_CSS = """
    AlertBanner {
        height: auto;
        padding: 0 1;
        background: $error-muted;
        color: $text-error;
        display: none;
    }
    """

    class Hidden(Message):
        """The user hid the banner."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__("", id=id)
        self._text = ""

    @property
    def text(self) -> str:
        """What the banner says (for tests and screen readers); empty when hidden."""
        return self._text if self.display else ""

    def show(self, heading: str, reason: str) -> None:
        """Show `heading` (after a warning sign: not colour alone) and `reason`."""
        first, more = split_lines(reason)
        lines = [first, *more]
        if len(lines) > BANNER_LINES:
            lines = [first, "The whole message is in the chat log. Esc hides this bar."]
        self._text = "\n".join([f"⚠ {heading}: {lines[0]}", *lines[1:]])
        shown = Text(overflow="fold", end="")
        shown.append(f"⚠ {heading}: ", style="bold")
        shown.append("\n".join(lines))
        self.update(shown)
        self.display = True

    def hide(self) -> None:
        self.display = False

    def on_click(self) -> None:
        self.hide()
        self.post_message(self.Hidden())
