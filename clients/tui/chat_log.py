"""`ChatLog`: the chat history, wrapped to the pane's width. Textual and Rich only.

It keeps the `DisplayLine`s themselves, not rendered text, so every line is
wrapped again when the width changes: nothing is ever wider than the pane
(no horizontal scrolling, no cut characters). It never takes focus, so
typing always reaches the input line.
"""

from __future__ import annotations

import re
from collections import deque

import attrs
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from clients.core.formatting import CONTINUATION, DisplayLine, LineKind

STYLES = {
    LineKind.CHAT: "",
    LineKind.OWN: "bold",
    LineKind.DIRECT: "bold magenta",
    LineKind.MENTION: "bold yellow",
    LineKind.SYSTEM: "italic dim",
    LineKind.ERROR: "red",
}
FOR_YOU = "» "
"""Marks a private message or a mention from someone else, so it stands out
without colour (colour alone fails on monochrome terminals and for many
colour-blind users)."""
WRAP_INDENT = 2
"""Indent of the wrapped rows of a line without a time stamp."""
MAX_ENTRIES = 2000
"""Lines kept; older ones are dropped (and never re-wrapped again)."""
_WORD = re.compile(r"\S+")
_BREAK_AFTER = frozenset(":/-_.,;?&=#")
"""Where a word too wide for a row may be broken (see `_break_long_words`)."""


@attrs.frozen
class LogEntry:
    """One line of the log and whether it was meant for the user."""

    line: DisplayLine
    for_you: bool = False


def render_entry(entry: LogEntry, width: int, console: Console) -> list[Strip]:
    """The rows of one entry at `width` cells.

    A row that starts with a time (or, without one, at the left edge) always
    starts a new entry: wrapped rows are indented, and a message's further
    lines start with the continuation mark. So no text can pass for a line
    of its own however it wraps or breaks.
    """
    line = entry.line
    style = STYLES[line.kind]
    head = Text()
    if line.time:
        head.append(f"{line.time} ", style="dim")
    if entry.for_you:
        head.append(FOR_YOU, style="bold")
    indent = " " * (head.cell_len or WRAP_INDENT)
    rows = _wrap(head, Text(line.text, style=style), indent, width, console)
    mark = Text()
    mark.append(CONTINUATION, style="dim")  # the mark only, not the text after it
    for more in line.more:
        rows += _wrap(
            mark, Text(more, style=style), " " * mark.cell_len, width, console
        )
    return rows


def _wrap(
    head: Text, body: Text, indent: str, width: int, console: Console
) -> list[Strip]:
    room = max(1, width - len(indent))
    body.expand_tabs()
    body = _break_long_words(body, room)
    pieces = list(body.wrap(console, room, overflow="fold")) or [Text()]
    strips = []
    for number, piece in enumerate(pieces):
        row = (head.copy() if number == 0 else Text(indent)) + piece
        strips.append(Strip(list(row.render(console)), row.cell_len))
    return strips


def _break_long_words(body: Text, room: int) -> Text:
    """`body` with a row break in every word wider than `room` cells.

    Rich folds such a word at the last cell that fits, cutting a byte of
    a fingerprint (`E8:E|7:E6`) or a piece of a link in two. Breaking
    after punctuation (`:`, `/`, `-`...) instead keeps each piece whole,
    so a fingerprint can be compared and a link read. Only the rows
    change: no character is added or lost.
    """
    plain = body.plain
    offsets: list[int] = []
    for word in _WORD.finditer(plain):
        if cell_len(word.group()) <= room:
            continue
        start = word.start()
        used = 0
        last_break = -1
        for index in range(word.start(), word.end()):
            width = cell_len(plain[index])
            if used + width > room and index > start:
                cut = last_break if last_break > start else index
                offsets.append(cut)
                start = cut
                used = cell_len(plain[cut:index])
                last_break = -1
            used += width
            if plain[index] in _BREAK_AFTER:
                last_break = index + 1
    if not offsets:
        return body
    return Text("\n").join(body.divide(offsets))


class ChatLog(ScrollView, can_focus=False):
    """The chat log: follows new lines unless the user scrolled up.

    Scrolled up, it stays put as lines arrive and says how many are below
    (in its bottom border) until the user is back at the end.
    """

    DEFAULT_CSS = """
    ChatLog {
        background: $surface;
        overflow-x: hidden;
        overflow-y: scroll;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._entries: deque[LogEntry] = deque()
        self._heights: deque[int] = deque()
        self._rows: list[Strip] = []
        self._width = 0
        self._follow = True
        self._unseen = 0
        self._rest_below = False
        self._anchor: LogEntry | None = None
        """The newest entry, when it is to be read from its first row."""

    # --- what tests and the app read -----------------------------------------------

    @property
    def entries(self) -> tuple[LogEntry, ...]:
        return tuple(self._entries)

    @property
    def rows(self) -> list[Strip]:
        """Every row at the current width, oldest first (not just those on screen)."""
        return list(self._rows)

    @property
    def following(self) -> bool:
        """True while new lines scroll into view (the user is at the end)."""
        return self._follow

    @property
    def unseen(self) -> int:
        """Lines that arrived below the view since the user scrolled up."""
        return self._unseen

    # --- changing it ----------------------------------------------------------------

    def add(self, entry: LogEntry, *, from_start: bool = False) -> None:
        """Append `entry`; the view follows it if it was at the end.

        Args:
            from_start: when the entry is taller than the view, show its
                first row rather than its last (a long warning or /help
                is read from the top; the rest is a scroll away, and the
                border says so).
        """
        self._entries.append(entry)
        if self._width:
            rows = render_entry(entry, self._width, self.app.console)
            self._rows.extend(rows)
            self._heights.append(len(rows))
        dropped = 0
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popleft()
            if self._heights:
                dropped += self._heights.popleft()
        if dropped:
            del self._rows[:dropped]
        self._resized()
        if self._follow:
            self._anchor = entry if from_start else None
            self._settle()
        else:
            if dropped:
                self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False)
            self._unseen += 1
            self._show_unseen()
        self.refresh()

    def clear(self) -> None:
        self._entries.clear()
        self._heights.clear()
        self._rows.clear()
        self._resized()
        self.jump_to_end()
        self.refresh()

    def jump_to_end(self) -> None:
        """Back to the newest line, following again."""
        self._anchor = None
        self._to_end()
        self._follow = True
        self._unseen = 0
        self._rest_below = False
        self._show_unseen()

    def page(self, direction: int) -> None:
        """Scroll one page up (-1) or down (+1), as the user asked."""
        self._anchor = None
        if direction < 0:
            self.scroll_page_up(animate=False)
        else:
            self.scroll_page_down(animate=False)

    # --- Textual hooks --------------------------------------------------------------

    def on_resize(self, _event: Resize) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._width:
            if self._follow:
                self._settle()
            return
        top = self._entry_at(round(self.scroll_y))
        self._width = width
        self._show_unseen()
        console = self.app.console
        self._rows = []
        self._heights = deque()
        for entry in self._entries:
            rows = render_entry(entry, width, console)
            self._rows.extend(rows)
            self._heights.append(len(rows))
        self._resized()
        if self._follow:
            self._settle()
        else:
            # Keep the line that was at the top of the view there.
            self.scroll_to(y=sum(list(self._heights)[:top]), animate=False, force=True)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Whatever moved the view (wheel, keys, a resize), being at the end
        # means following; anywhere else means the user is reading back.
        self._follow = new_value >= self.max_scroll_y
        if self._follow and (self._unseen or self._rest_below):
            self._unseen = 0
            self._rest_below = False
            self._show_unseen()

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if 0 <= index < len(self._rows):
            strip = self._rows[index].crop_extend(0, width, self.rich_style)
        else:
            strip = Strip.blank(width, self.rich_style)
        return strip.apply_style(self.rich_style)

    # --- helpers ----------------------------------------------------------------------

    def _resized(self) -> None:
        self.virtual_size = Size(self._width, len(self._rows))

    def _settle(self) -> None:
        """Follow the end; but an anchored entry taller than the view is
        shown from its first row, the border saying there is more below."""
        anchor = self._anchor
        rendered = len(self._heights) == len(self._entries) > 0
        if rendered and anchor is not None and self._entries[-1] is anchor:
            height = self._heights[-1]
            if height > self.scrollable_content_region.height > 0:
                self.scroll_to(y=len(self._rows) - height, animate=False, force=True)
                self._rest_below = True
                self._show_unseen()
                return
        self._to_end()

    def _to_end(self) -> None:
        # Immediately, never after the next refresh: a deferred scroll would
        # land after the user had scrolled away and pull them back down.
        self.scroll_to(y=self.max_scroll_y, animate=False, force=True)

    def _entry_at(self, row: int) -> int:
        total = 0
        for index, height in enumerate(self._heights):
            total += height
            if total > row:
                return index
        return max(0, len(self._heights) - 1)

    def _show_unseen(self) -> None:
        if not self._unseen:
            self.border_subtitle = (
                "↓ more below · End to jump" if self._rest_below else ""
            )
            return
        noun = "message" if self._unseen == 1 else "messages"
        text = f"↓ {self._unseen} new {noun} below · End to jump"
        if len(text) + 6 > self.size.width:  # it must fit in the border whole
            text = f"↓ {self._unseen} new · End to jump"
        self.border_subtitle = text
