"""`ChatLog`: the chat history, wrapped to the pane's width. Textual and Rich only.

It keeps the `DisplayLine`s themselves, not rendered text, so every line is
wrapped again when the width changes: nothing is ever wider than the pane
(no horizontal scrolling, no cut characters). It never takes focus, so
typing always reaches the input line. Rules (a new day, "new messages", the
start of the stored history) are entries too, re-drawn at every width.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable, Sequence

import attrs
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.events import MouseScrollDown, MouseScrollUp, Resize
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from clients.core import events as ev
from clients.core.formatting import (
    CONTINUATION,
    DisplayLine,
    LineKind,
    describe,
    nick_colour,
    sanitize,
    split_lines,
)

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
"""Lines kept: as a line arrives at the end of the log, the oldest beyond
this are dropped (and never re-wrapped again). While the user is scrolled
up (reading earlier pages, perhaps) nothing is dropped."""
_WORD = re.compile(r"\S+")
_BREAK_AFTER = frozenset(":/-_.,;?&=#")
"""Where a word too wide for a row may be broken (see `_break_long_words`)."""


RULE = "─"


class RuleKind(enum.Enum):
    """What a rule across the log marks."""

    DAY = "day"
    """The lines below are from a new local day (the label names it)."""
    UNREAD = "unread"
    """The lines below are new since the user last looked; one at a time."""
    START = "start"
    """Nothing older is stored: the top of the log; one at a time."""
    GAP = "gap"
    """Lines between the ones above and below are not shown (dropped to keep
    the log bounded, or cleared): an earlier page does not join what follows."""


RULE_STYLES = {
    RuleKind.DAY: ("dim", "dim"),
    RuleKind.UNREAD: ("red", "bold red"),
    RuleKind.START: ("dim", "italic dim"),
    RuleKind.GAP: ("dim", "italic dim"),
}
"""The rule's line and its label, per kind."""
RULE_LABELS = {
    RuleKind.UNREAD: "new messages",
    RuleKind.START: "start of history",
    RuleKind.GAP: "some lines are not shown here",
}
NICK_PALETTE = (
    "#df1919",
    "#b45714",
    "#8b6c0f",
    "#467f0e",
    "#0f8335",
    "#0e8064",
    "#0f7d87",
    "#1576bb",
    "#4864eb",
    "#8d49eb",
    "#bc18dc",
    "#d31794",
)
"""Nick colours: twelve hues of one luminance (about 0.165), which reads at
3.4:1 or better on both the dark and the light theme's log background (the
most one colour can have against both), so a nick is never lost on either.
The nick is also set apart by its brackets: colour is never the only cue."""
DEFAULT_TIMESTAMPS = "%H:%M"
HIGHLIGHT = Style(reverse=True)
"""A highlighted entry (the search result in its context): reversed, which
shows on a monochrome terminal too."""


@attrs.frozen(eq=False)
class LogEntry:
    """One line of the log and whether it was meant for the user.

    Entries compare by identity: two equal lines are still two lines.

    Attributes:
        rule: drawn as a rule across the log with `line.text` in its middle,
            instead of as a line of text.
        highlight: drawn reversed, the whole width (the line a search
            result is about, in its context).
        source: the chat line it shows: its nick is coloured, and it is
            worded again when the time format changes (`restamped`).
    """

    line: DisplayLine
    for_you: bool = False
    rule: RuleKind | None = None
    highlight: bool = False
    source: ev.ChatLine | None = None

    @classmethod
    def ruled(cls, kind: RuleKind, label: str | None = None) -> LogEntry:
        """A rule of `kind`; `label` defaults to the kind's own words."""
        words = label if label is not None else RULE_LABELS.get(kind, "")
        return cls(DisplayLine(LineKind.SYSTEM, words), rule=kind)


def is_for_you(line: ev.ChatLine) -> bool:
    """Someone else's private message to the user, or a line naming them."""
    return not line.is_own and (line.is_direct or line.mentions_me)


def log_entry(
    item: ev.ChatLine | ev.DaySeparator,
    *,
    highlight: bool = False,
    timestamps: str = DEFAULT_TIMESTAMPS,
) -> LogEntry:
    """The entry for a chat line or a day separator.

    Args:
        timestamps: the `strftime` format of the line's time ("" for none).
    """
    if isinstance(item, ev.DaySeparator):
        return LogEntry.ruled(RuleKind.DAY, item.label)
    return LogEntry(
        chat_line(item, timestamps),
        for_you=is_for_you(item),
        highlight=highlight,
        source=item,
    )


def chat_line(item: ev.ChatLine, timestamps: str = DEFAULT_TIMESTAMPS) -> DisplayLine:
    """How the core words `item`, its time in the `timestamps` format."""
    line = describe(item, timestamps)
    if line is None:  # the core words every chat line; never show raw text
        first, more = split_lines(item.text)
        line = DisplayLine(
            LineKind.CHAT, f"<{sanitize(item.sender)}> {first}", more=more
        )
    return line


def restamped(entry: LogEntry, timestamps: str) -> LogEntry:
    """`entry` with its chat line's time in the `timestamps` format."""
    if entry.source is None:
        return entry
    return attrs.evolve(entry, line=chat_line(entry.source, timestamps))


def nick_style(nick: str) -> Style:
    """The colour of `nick`, the same in every run (`nick_colour`)."""
    return Style(color=NICK_PALETTE[nick_colour(nick, len(NICK_PALETTE))])


def nick_spans(entry: LogEntry) -> list[tuple[int, int, str]]:
    """Where the nicks of a chat line stand in `entry.line.text`: (start,
    end, nick), found only where the core's wording puts them ("<bob> ",
    "* bob ", "bob → you", "you → bob"), never inside the message."""
    source = entry.source
    if source is None:
        return []
    text = entry.line.text
    sender = source.sender
    spans = []
    for before, after in (("<", "> "), ("* ", " "), ("", " → ")):
        if text.startswith(f"{before}{sender}{after}"):
            spans.append((len(before), len(before) + len(sender), sender))
            break
    target = source.target
    if source.is_direct and source.is_own and target is not None:
        head = "you → "
        if text.startswith(f"{head}{target} "):
            spans.append((len(head), len(head) + len(target), target))
    return spans


def render_entry(entry: LogEntry, width: int, console: Console) -> list[Strip]:
    """The rows of one entry at `width` cells.

    A row that starts with a time (or, without one, at the left edge) always
    starts a new entry: wrapped rows are indented, and a message's further
    lines start with the continuation mark. So no text can pass for a line
    of its own however it wraps or breaks.
    """
    if entry.rule is not None:
        return [render_rule(entry.rule, entry.line.text, width, console)]
    rows = _render_text(entry, width, console)
    if entry.highlight:
        rows = [row.extend_cell_length(width).apply_style(HIGHLIGHT) for row in rows]
    return rows


def render_rule(kind: RuleKind, label: str, width: int, console: Console) -> Strip:
    """One row: `label` centred on a rule as wide as the pane (cut to fit)."""
    line_style, label_style = RULE_STYLES[kind]
    words = Text(label, style=label_style)
    room = width - 4  # a piece of rule and a space on either side, always
    if room < 1:
        words = Text()
    elif words.cell_len > room:
        words.truncate(room, overflow="ellipsis")
    if words:
        words = Text(" ") + words + Text(" ")
    side = max(0, width - words.cell_len)
    left = side // 2
    row = Text(RULE * left, style=line_style)
    row.append_text(words)
    row.append(RULE * (side - left), style=line_style)
    return Strip(list(row.render(console)), row.cell_len)


def _render_text(entry: LogEntry, width: int, console: Console) -> list[Strip]:
    line = entry.line
    style = STYLES[line.kind]
    head = Text()
    if line.time:
        head.append(f"{line.time} ", style="dim")
    if entry.for_you:
        head.append(FOR_YOU, style="bold")
    indent = " " * (head.cell_len or WRAP_INDENT)
    body = Text(line.text, style=style)
    for start, end, nick in nick_spans(entry):
        body.stylize(nick_style(nick), start, end)
    rows = _wrap(head, body, indent, width, console)
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
    (in its bottom border) until the user is back at the end. Trying to
    scroll above its first line (Page Up, the wheel) posts `EarlierWanted`;
    an earlier page goes in with `prepend`, the view staying on its line.
    """

    class EarlierWanted(Message):
        """The user tried to scroll above the first line: an older page is wanted."""

        def __init__(self, log: ChatLog) -> None:
            super().__init__()
            self.log = log

        @property
        def control(self) -> ChatLog:
            return self.log

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
        self._cut_top = False
        """Lines went from the top (dropped, cleared) since the last `prepend`."""
        self._centre: LogEntry | None = None
        """The entry `show_entry` keeps in view until the user scrolls."""

    # --- what tests and the app read -----------------------------------------------

    @property
    def entries(self) -> tuple[LogEntry, ...]:
        return tuple(self._entries)

    @property
    def rows(self) -> list[Strip]:
        """Every row at the current width, oldest first (not just those on screen)."""
        return list(self._rows)

    def rows_at(self, width: int) -> list[Strip]:
        """Every row as it would be at `width` cells (a hidden log that was
        never laid out has no rows of its own yet)."""
        if width == self._width:
            return self.rows
        console = self.app.console
        return [
            row
            for entry in self._entries
            for row in render_entry(entry, width, console)
        ]

    @property
    def following(self) -> bool:
        """True while new lines scroll into view (the user is at the end)."""
        return self._follow

    @property
    def unseen(self) -> int:
        """Lines that arrived below the view since the user scrolled up."""
        return self._unseen

    @property
    def at_top(self) -> bool:
        """The first row is at the top of the view (or everything fits)."""
        return round(self.scroll_y) <= 0

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
        if self._follow:
            self._trim()
            self._resized()
            self._anchor = entry if from_start else None
            self._settle()
        else:
            # Scrolled up, the user may be reading the oldest lines (an
            # earlier page): nothing goes until they are back at the end.
            self._resized()
            if entry.rule is None:  # a rule is not a message to count
                self._unseen += 1
                self._show_unseen()
        self.refresh()

    def prepend(self, entries: Sequence[LogEntry], *, start: bool = False) -> None:
        """Put `entries` (oldest first) above the first line; the view stays
        on the lines it showed (nothing on screen moves).

        Args:
            start: nothing older exists: a "start of history" rule goes on
                top (the only one).

        A day rule right below the page that repeats the page's last day
        goes (the day did not change there), and when lines went from the
        top since the last page (dropped to keep the log bounded, or
        cleared), a rule says the page does not join what follows.
        """
        new = list(entries)
        if start:
            new.insert(0, LogEntry.ruled(RuleKind.START))
        if not new:
            return
        doomed: set[int] = set()
        if start:
            doomed |= {id(e) for e in self._entries if e.rule is RuleKind.START}
        rest = [e for e in self._entries if id(e) not in doomed]
        days = [entry.line.text for entry in new if entry.rule is RuleKind.DAY]
        if self._cut_top:
            # Even into an empty log: what comes next is newer than the lines
            # that went, not than the page.
            new.append(LogEntry.ruled(RuleKind.GAP))
        elif rest and days:
            first = rest[0]
            if first.rule is RuleKind.DAY and first.line.text == days[-1]:
                doomed.add(id(first))
        self._cut_top = False
        mark = self._view_mark(lambda entry: id(entry) in doomed)
        self._drop(lambda entry: id(entry) in doomed)
        self._entries.extendleft(reversed(new))
        if self._width:
            rows: list[Strip] = []
            heights: list[int] = []
            for entry in new:
                rendered = render_entry(entry, self._width, self.app.console)
                rows.extend(rendered)
                heights.append(len(rendered))
            self._rows[:0] = rows
            self._heights.extendleft(reversed(heights))
        self._resized()
        self._restore_view(mark)
        self.refresh()

    def replace_entries(self, change: Callable[[LogEntry], LogEntry]) -> None:
        """Put `change(entry)` in the place of every entry (the time format
        changed, say); the view stays on its line."""
        if not self._entries:
            return
        mark = self._view_mark(lambda _entry: False)
        changed = {id(entry): change(entry) for entry in self._entries}
        self._entries = deque(changed[id(entry)] for entry in self._entries)
        if self._anchor is not None:
            self._anchor = changed.get(id(self._anchor))
        if self._centre is not None:
            self._centre = changed.get(id(self._centre))
        if mark is not None:
            mark = (changed[id(mark[0])], mark[1])
        if self._width:
            self._render_all(self._width)
        self._resized()
        self._restore_view(mark)
        self.refresh()

    def remove_rules(self, kind: RuleKind) -> None:
        """Take out every rule of `kind`; the view stays on its line."""
        self._remove(lambda entry: entry.rule is kind)

    def show_entry(self, entry: LogEntry) -> None:
        """Scroll so `entry` is in view, a little above the middle, and
        keep it there (resizes too) until the user scrolls."""
        self._centre = entry
        self._anchor = None
        self._to_centre()

    def clear(self) -> None:
        if self._entries:
            self._cut_top = True
        self._entries.clear()
        self._heights.clear()
        self._rows.clear()
        self._centre = None
        self._resized()
        self.jump_to_end()
        self.refresh()

    def jump_to_end(self) -> None:
        """Back to the newest line, following again."""
        self._anchor = None
        self._centre = None
        self._to_end()
        self._follow = True
        self._unseen = 0
        self._rest_below = False
        self._show_unseen()

    def page(self, direction: int) -> None:
        """Scroll one page up (-1) or down (+1), as the user asked; up from
        the top asks for an earlier page (`EarlierWanted`)."""
        self._anchor = None
        self._centre = None
        if direction < 0 and self.at_top:
            self.post_message(self.EarlierWanted(self))
            return
        if direction < 0:
            self.scroll_page_up(animate=False)
        else:
            self.scroll_page_down(animate=False)

    def scroll_rows(self, rows: int) -> None:
        """Scroll `rows` rows down (up if negative), as the user asked."""
        self._anchor = None
        self._centre = None
        self._scroll_y_to(self.scroll_y + rows)

    # --- Textual hooks --------------------------------------------------------------

    def on_mouse_scroll_up(self, _event: MouseScrollUp) -> None:
        # Runs before Textual's own handler scrolls: at the top already, the
        # wheel asks for more.
        self._centre = None
        if self.at_top:
            self.post_message(self.EarlierWanted(self))

    def on_mouse_scroll_down(self, _event: MouseScrollDown) -> None:
        self._centre = None

    def on_resize(self, _event: Resize) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._width:
            if self._follow:
                self._settle()
            return
        top = self._entry_at(round(self.scroll_y))
        self._width = width
        self._show_unseen()
        self._render_all(width)
        self._resized()
        if self._centre is not None:
            self._to_centre()
        elif self._follow:
            self._settle()
        else:
            # Keep the line that was at the top of the view there.
            self._scroll_y_to(sum(list(self._heights)[:top]))
        self.refresh()

    def on_show(self) -> None:
        # Shown again (its conversation is active): the border's count was
        # measured while hidden, and lines may have come meanwhile.
        self._show_unseen()
        if self._follow:
            self._settle()

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

    def _render_all(self, width: int) -> None:
        console = self.app.console
        self._rows = []
        self._heights = deque()
        for entry in self._entries:
            rows = render_entry(entry, width, console)
            self._rows.extend(rows)
            self._heights.append(len(rows))

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
                self._scroll_y_to(len(self._rows) - height)
                self._rest_below = True
                self._show_unseen()
                return
        self._to_end()

    def _trim(self) -> None:
        """Drop the oldest entries beyond `MAX_ENTRIES`."""
        dropped = 0
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popleft()
            self._cut_top = True
            if self._heights:
                dropped += self._heights.popleft()
        if dropped:
            del self._rows[:dropped]

    def _to_end(self) -> None:
        self._scroll_y_to(self.max_scroll_y)

    def _scroll_y_to(self, y: float) -> None:
        # A ScrollView scrolls at once, never after the next refresh: a
        # deferred scroll would land after the user had scrolled away and
        # pull them back, or after a page was prepended, on the wrong row.
        self.scroll_to(y=y, animate=False, force=True)

    def _to_centre(self) -> None:
        entry = self._centre
        if entry is None or len(self._heights) != len(self._entries):
            return  # not rendered yet: the first resize comes here again
        try:
            index = self._entries.index(entry)
        except ValueError:
            self._centre = None
            return
        start = sum(list(self._heights)[:index])
        room = self.scrollable_content_region.height
        self._scroll_y_to(max(0, start - max(0, room - self._heights[index]) // 3))

    def _remove(self, doomed: Callable[[LogEntry], bool]) -> None:
        """Take out the entries `doomed` picks; the view stays on its lines."""
        if not any(doomed(entry) for entry in self._entries):
            return
        mark = self._view_mark(doomed)
        self._drop(doomed)
        self._resized()
        self._restore_view(mark)
        self.refresh()

    def _drop(self, doomed: Callable[[LogEntry], bool]) -> None:
        """Take out the entries `doomed` picks (their rows too), nothing else."""
        rendered = len(self._heights) == len(self._entries)
        kept: deque[LogEntry] = deque()
        heights: deque[int] = deque()
        rows: list[Strip] = []
        row = 0
        for index, entry in enumerate(self._entries):
            height = self._heights[index] if rendered else 0
            if not doomed(entry):
                kept.append(entry)
                if rendered:
                    heights.append(height)
                    rows.extend(self._rows[row : row + height])
            row += height
        self._entries = kept
        if rendered:
            self._heights = heights
            self._rows = rows
        if self._anchor is not None and doomed(self._anchor):
            self._anchor = None
        if self._centre is not None and doomed(self._centre):
            self._centre = None

    def _view_mark(
        self, doomed: Callable[[LogEntry], bool]
    ) -> tuple[LogEntry, int] | None:
        """The first entry in view that is not `doomed`, and the screen row
        its first row is on (negative: above the view): where the view
        goes back to after the log changes above or around it."""
        if len(self._heights) != len(self._entries):
            return None
        top = round(self.scroll_y)
        row = 0
        for entry, height in zip(self._entries, self._heights, strict=True):
            if row + height > top and not doomed(entry):
                return entry, row - top
            row += height
        return None

    def _restore_view(self, mark: tuple[LogEntry, int] | None) -> None:
        """Following: to the end. Else put the entry `_view_mark` chose back
        on its screen row."""
        if self._follow:
            self._settle()
            return
        if mark is None:
            return
        wanted, offset = mark
        row = 0
        for entry, height in zip(self._entries, self._heights, strict=True):
            if entry is wanted:
                self._scroll_y_to(max(0, row - offset))
                return
            row += height

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
