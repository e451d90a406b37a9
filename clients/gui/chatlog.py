"""The chat log and the pending area: read-only text boxes that draw `DisplayLine`s.

Drawing only: the words come from `clients.core.formatting`. Every further
line of a message goes on a row of its own behind `CONTINUATION`, styled
apart, so text inside a message can never pass for a message of its own;
wrapped rows are indented for the same reason. Stored history (issue 14)
adds centred rows: day separators, the "new messages" rule and the start of
history; older pages go in above everything without moving the view.
Chat lines (issue 15) show their time in the user's format, which can change
while they are shown, and their sender in a colour of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import tkinter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import customtkinter as ctk

from clients.core import events as ev
from clients.core.formatting import (
    CONTINUATION,
    DisplayLine,
    LineKind,
    describe,
    nick_colour,
    pending_text,
    sanitize,
)
from clients.gui.keys import bind_select_all
from clients.gui.links import find_links

Colour = tuple[str, str]
"""(light, dark); customtkinter picks by appearance mode, Tk tags need us to."""

LINE_COLOURS: dict[LineKind, Colour] = {
    LineKind.CHAT: ("#1a1a1a", "#e6e6e6"),
    LineKind.OWN: ("#1f5fa8", "#8cc4ff"),
    LineKind.DIRECT: ("#8a2a9c", "#e29cf0"),
    LineKind.MENTION: ("#a35c00", "#ffc266"),
    LineKind.SYSTEM: ("#6b6b6b", "#9a9a9a"),
    LineKind.ERROR: ("#b3261e", "#ff8a80"),
}
TAG_COLOURS: dict[str, Colour] = {
    "time": ("#808080", "#8c8c8c"),
    "continuation": ("#8c8c8c", "#7a7a7a"),
    "link": ("#0b57d0", "#8ab4f8"),
    "pending": ("#7a7a7a", "#8f8f8f"),
    "day": ("#7a7a7a", "#8f8f8f"),
    "unread": ("#c2410c", "#ff9e66"),
    "history-start": ("#7a7a7a", "#8f8f8f"),
}
TAG_BACKGROUNDS: dict[str, Colour] = {
    "focus": ("#fff1b8", "#4a4020"),
    "selected": ("#d6e4fb", "#2d4a73"),
}
NICK_PALETTE: tuple[Colour, ...] = (
    ("#00695c", "#4db6ac"),
    ("#6a1b9a", "#ce93d8"),
    ("#2e7d32", "#81c784"),
    ("#1a4fa0", "#90b8f8"),
    ("#ad1457", "#f48fb1"),
    ("#6d4c41", "#bcaaa4"),
    ("#00727d", "#80deea"),
    ("#5b6300", "#d4e157"),
)
"""Each sender's name is drawn in one of these, the same one everywhere and
in every run (`formatting.nick_colour`). Every colour reads at WCAG AA
contrast (4.5:1) on the log's background in its mode (tests check)."""
# Not colour alone (WCAG 1.4.1): these kinds of line also carry a symbol.
KIND_MARKS: dict[LineKind, str] = {LineKind.MENTION: "★ ", LineKind.DIRECT: "✉ "}
HAND_CURSOR = "hand2"
RULE = "────"
"""Drawn either side of a centred row's words: a rule, not one more message."""
UNREAD_TEXT = "new messages"
HISTORY_START_TEXT = "start of history"

_HEAD = "chinwag-head"
"""The mark older lines are inserted at (right gravity: it follows them)."""
_VIEW = "chinwag-view"
"""Where the top of the view was before a prepend (right gravity)."""

DEFAULT_TIME_FORMAT = "%H:%M"
_SAMPLE_TIME = datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)
"""Measured in the time format to indent wrapped rows past the time."""

Entry = DisplayLine | ev.DaySeparator | ev.ChatLine
"""What the log draws: a chat line (its time in the log's format, its
sender in their colour), any other line, or a day's separator."""


def nick_tag(nick: str) -> str:
    """The tag that colours `nick`'s name."""
    return f"nick{nick_colour(nick, len(NICK_PALETTE))}"


def rule_text(words: str) -> str:
    """`words` between two rules: how centred rows read."""
    return f"{RULE} {words} {RULE}"


def _stamp(when: datetime, time_format: str) -> str:
    """The time before a chat line, with its space ("" for no format)."""
    return f"{sanitize(when.strftime(time_format))} " if time_format else ""


def _day_tag(day: ev.DaySeparator) -> str:
    return f"day:{day.day.isoformat()}"


class _StyledBox(ctk.CTkTextbox):  # type: ignore[misc]
    """A read-only CTkTextbox whose tag colours follow light/dark mode."""

    def __init__(
        self,
        master: Any,
        colours: dict[str, Colour],
        backgrounds: dict[str, Colour] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("wrap", "word")
        super().__init__(master, state="disabled", **kwargs)
        self._colours = colours
        self._backgrounds = backgrounds or {}
        self._colour_tags(ctk.get_appearance_mode())
        bind_select_all(self)

    def _set_appearance_mode(self, mode_string: str) -> None:
        """customtkinter calls this on every widget when light/dark changes."""
        super()._set_appearance_mode(mode_string)
        self._colour_tags(mode_string)

    def _colour_tags(self, mode: str) -> None:
        # Text tags are plain Tk: they do not follow the appearance by themselves.
        dark = mode.lower() == "dark"
        for tag, (light_colour, dark_colour) in self._colours.items():
            self.tag_config(tag, foreground=dark_colour if dark else light_colour)
        for tag, (light_colour, dark_colour) in self._backgrounds.items():
            self.tag_config(tag, background=dark_colour if dark else light_colour)

    def _line_space(self) -> int:
        font = self._textbox.cget("font")
        return int(self.tk.call("font", "metrics", font, "-linespace"))

    def _text_width(self, text: str) -> int:
        return int(self.tk.call("font", "measure", self._textbox.cget("font"), text))

    def text(self) -> str:
        """Everything shown (for tests and accessibility tools)."""
        return str(self.get("1.0", "end-1c"))


class ChatLog(_StyledBox):
    """The chat log: only what the server delivered, plus the session's notices.

    Args:
        master: the parent widget.
        open_link: called with the URL when a link is clicked.
        one_day_separator: keep at most one separator per day (the
            earliest): an older page may start the day the log began with.
        time_format: the `strftime` format of a chat line's time ("" for
            none); `set_time_format` changes it, shown lines too.
    """

    def __init__(
        self,
        master: Any,
        open_link: Callable[[str], None],
        *,
        one_day_separator: bool = True,
        time_format: str = DEFAULT_TIME_FORMAT,
        **kwargs: Any,
    ) -> None:
        colours = {kind.value: pair for kind, pair in LINE_COLOURS.items()}
        # Nick colours come after the kinds': a name keeps its colour in a
        # mention's or a private message's line.
        nicks = {f"nick{number}": pair for number, pair in enumerate(NICK_PALETTE)}
        super().__init__(
            master, {**colours, **TAG_COLOURS, **nicks}, TAG_BACKGROUNDS, **kwargs
        )
        self._open_link = open_link
        self._one_day_separator = one_day_separator
        self._time_format = time_format
        self._stamps: dict[str, tuple[datetime, int]] = {}
        """Mark at the start of each chat row -> (its time, length of the time shown)."""
        self._stamp_names = itertools.count()
        box = self._textbox
        self._text_cursor = str(box.cget("cursor"))
        # Later tags win: links keep their colour over the line's.
        self.tag_config("link", underline=True)
        box.tag_raise("link")
        self.tag_bind("link", "<Enter>", lambda _e: box.configure(cursor=HAND_CURSOR))
        self.tag_bind(
            "link", "<Leave>", lambda _e: box.configure(cursor=self._text_cursor)
        )
        self.tag_bind("link", "<ButtonRelease-1>", self._on_link_click)
        self._indent_rows()
        for tag in ("day", "unread", "history-start"):
            self.tag_config(tag, justify="center", spacing1=4, spacing3=4)
        box.tag_lower("focus")  # a background under every colour

    # --- the time format -----------------------------------------------------------

    @property
    def time_format(self) -> str:
        return self._time_format

    def set_time_format(self, time_format: str) -> None:
        """Show every chat line's time in `time_format` ("" hides them), from now on
        and in the lines already shown."""
        if time_format == self._time_format:
            return
        self._time_format = time_format
        box = self._textbox
        self.configure(state="normal")
        for mark, (when, length) in self._stamps.items():
            start = box.index(mark)
            if length:
                box.delete(start, f"{start}+{length}c")
            shown = _stamp(when, time_format)
            if shown:
                box.insert(start, shown, ("time", "row"))
            box.mark_set(mark, start)  # right gravity moved it past the text
            self._stamps[mark] = (when, len(shown))
        self.configure(state="disabled")
        self._indent_rows()

    def _indent_rows(self) -> None:
        # Rows a long line wraps onto are indented past the time, so no
        # wrapped text can start at the left edge and look like a message of
        # its own (without times: as far as "00:00 " would be).
        sample = _stamp(_SAMPLE_TIME, self._time_format or DEFAULT_TIME_FORMAT)
        self.tag_config("row", lmargin1=0, lmargin2=self._text_width(sample))

    # --- adding at the end ------------------------------------------------------

    def write(self, line: DisplayLine | ev.ChatLine) -> tuple[str, str]:
        """Add `line` (and its further lines) at the end; follow it if already at the end.

        Returns:
            The start and end index of what was added.
        """
        with self._at_end():
            return self._put(line, "end")

    def separator(self, day: ev.DaySeparator) -> None:
        """A day's separator at the end (none if that day has one already)."""
        if self._one_day_separator and self._textbox.tag_ranges(_day_tag(day)):
            return  # a day begins once
        with self._at_end():
            self._put(day, "end")

    def append(self, entry: Entry) -> tuple[str, str]:
        """Add a line or a separator at the end, unconditionally (a log of its own).

        Returns:
            The start and end index of what was added.
        """
        with self._at_end():
            return self._put(entry, "end")

    def highlight(self, start: str, end: str) -> None:
        """Highlight the rows from `start` to `end` and bring them to the middle."""
        box = self._textbox
        box.tag_remove("focus", "1.0", "end")
        box.tag_add("focus", start, end)
        box.update_idletasks()
        box.yview(start)
        info = box.dlineinfo(start)
        if info is not None:
            # Up by half the view: the lines before it show as well as those after.
            box.yview_scroll(-(box.winfo_height() // 2 - info[3]), "pixels")

    def highlighted(self) -> str:
        """The highlighted rows ("" if none)."""
        ranges = self._textbox.tag_ranges("focus")
        if not ranges:
            return ""
        return str(self.get(ranges[0], ranges[1])).rstrip("\n")

    def mark_unread(self) -> None:
        """The "new messages" rule at the end; an older one goes."""
        with self._at_end():
            self._delete_tagged("unread")
            self._insert("end", rule_text(UNREAD_TEXT) + "\n", ("unread",))

    @contextlib.contextmanager
    def _at_end(self) -> Iterator[None]:
        """Around an append: writable inside; follow the end if it was in view."""
        following = self.yview()[1] >= 0.999
        self.configure(state="normal")
        try:
            yield
        finally:
            self.configure(state="disabled")
        if following:
            self.see("end")

    def show_unread(self) -> None:
        """Bring the "new messages" rule into view if it is above the view (the
        log is shown again after lines came while it was hidden)."""
        box = self._textbox
        ranges = box.tag_ranges("unread")
        if not ranges:
            return
        box.update_idletasks()
        if box.dlineinfo(ranges[0]) is None and box.compare(ranges[0], "<", "@0,0"):
            box.yview(f"{ranges[0]} -1 lines")

    # --- adding at the top (older pages) --------------------------------------------

    def prepend(self, entries: Iterable[Entry], *, complete: bool = False) -> None:
        """Put `entries` (oldest first) above everything, keeping the view still.

        The row at the top of the view stays where it is, to the pixel, so
        reading is not disturbed; the new rows are above it. A separator for
        a day the page also has moves up to where that day now begins.

        Args:
            entries: the older page.
            complete: nothing is older: say "start of history" at the top
                (once).
        """
        box = self._textbox
        anchor = box.index("@0,0")
        if "day" in box.tag_names(anchor):
            # The page may bring this day's separator up above: hold on to
            # the line below it, which stays.
            below = box.index(f"{anchor} +1 line linestart")
            if box.dlineinfo(below) is not None:
                anchor = below
        info = box.dlineinfo(anchor)
        box.mark_set(_VIEW, anchor)
        box.mark_gravity(_VIEW, "right")
        start = self._textbox.tag_ranges("history-start")
        box.mark_set(_HEAD, start[1] if start else "1.0")
        box.mark_gravity(_HEAD, "right")
        self.configure(state="normal")
        for entry in entries:
            if isinstance(entry, ev.DaySeparator) and self._one_day_separator:
                # The same day further down was the old top's: the day now
                # begins here.
                self._delete_tagged(_day_tag(entry))
            self._put(entry, _HEAD)
        if complete and not start:
            self._insert(
                "1.0", rule_text(HISTORY_START_TEXT) + "\n", ("history-start",)
            )
        self.configure(state="disabled")
        if info is not None:
            self._restore_view(info[1])
        box.mark_unset(_HEAD, _VIEW)

    def _restore_view(self, old_y: int) -> None:
        """Scroll so the row at `_VIEW` is `old_y` pixels from the top again."""
        box = self._textbox
        box.yview(_VIEW)
        info = box.dlineinfo(_VIEW)
        if info is not None and info[1] != old_y:
            box.yview_scroll(info[1] - old_y, "pixels")

    def has_history_start(self) -> bool:
        """True once "start of history" is shown."""
        return bool(self._textbox.tag_ranges("history-start"))

    def at_top(self) -> bool:
        """True while the first row is in view (nothing above to scroll to)."""
        return float(self.yview()[0]) <= 0.0

    # --- drawing -----------------------------------------------------------------

    def _put(self, entry: Entry, where: str) -> tuple[str, str]:
        """Draw `entry` at `where` ("end" or a right-gravity mark); the box is writable.

        Returns:
            The start and end index of what was drawn.
        """
        box = self._textbox
        here = "end-1c" if where == "end" else where
        start = box.index(here)
        if isinstance(entry, ev.DaySeparator):
            self._insert(where, rule_text(entry.label) + "\n", ("day", _day_tag(entry)))
            return start, box.index(here)
        sender = name_tag = ""
        if isinstance(entry, ev.ChatLine):
            line = describe(entry, "") or DisplayLine(LineKind.CHAT, "")
            sender, name_tag = sanitize(entry.sender), nick_tag(entry.sender)
            stamp = _stamp(entry.time, self._time_format)
        else:
            line = entry
            stamp = f"{line.time} " if line.time else ""
        kind = line.kind.value
        first, *rest = line.text.splitlines() or [""]
        if rest:  # a line break inside one entry still gets the continuation mark
            line = attrs.evolve(line, text=first, more=(*rest, *line.more))
        self._insert(where, stamp, ("time", "row"))
        mark = KIND_MARKS.get(line.kind)
        if mark:
            self._insert(where, mark, (kind, "row"))
        # The sender's name where the line begins with it: "<bob> …",
        # "* bob …", "bob → you …".
        at = line.text.find(sender) if sender else -1
        if 0 <= at <= len("* "):
            end = at + len(sender)
            self._insert(where, line.text[:at], (kind, "row"))
            self._insert(where, sender, (kind, "row", name_tag))
            self._insert_text(where, line.text[end:], (kind, "row"))
        else:
            self._insert_text(where, line.text, (kind, "row"))
        self._insert(where, "\n", (kind, "row"))
        for more in line.more:
            self._insert(where, CONTINUATION, ("continuation", "row"))
            self._insert_text(where, more, (kind, "row"))
            self._insert(where, "\n", (kind, "row"))
        if isinstance(entry, ev.ChatLine):
            # Marked once the row is drawn: the mark has right gravity, so a
            # row put in above it later, at this very index, pushes it on.
            self._stamp_here(start, entry.time, len(stamp))
        return start, box.index(here)

    def _stamp_here(self, index: str, when: datetime, length: int) -> None:
        """Remember that a chat row starting at `index` shows `when` (`length`
        characters), so `set_time_format` can redraw it."""
        mark = f"chinwag-time{next(self._stamp_names)}"
        self._textbox.mark_set(mark, index)
        self._stamps[mark] = (when, length)

    def _insert(self, where: str, text: str, tags: tuple[str, ...]) -> None:
        if text:
            self._textbox.insert(where, text, tags)

    def _insert_text(self, where: str, text: str, tags: tuple[str, ...]) -> None:
        """Insert `text` with `tags`; web links in it get the `link` tag too."""
        done = 0
        for link in find_links(text):
            if link.start > done:
                self._insert(where, text[done : link.start], tags)
            self._insert(where, link.url, (*tags, "link"))
            done = link.end
        if done < len(text):
            self._insert(where, text[done:], tags)

    def _delete_tagged(self, tag: str) -> None:
        """Remove every row carrying `tag`; the box is writable."""
        box = self._textbox
        while ranges := box.tag_ranges(tag):
            box.delete(ranges[0], ranges[1])

    def clear(self) -> None:
        self.configure(state="normal")
        self.delete("1.0", "end")
        self.configure(state="disabled")
        if self._stamps:
            self._textbox.mark_unset(*self._stamps)
            self._stamps.clear()

    def rows_tagged(self, tag: str) -> list[str]:
        """The text of every range carrying `tag`, top to bottom (for tests)."""
        ranges = self._textbox.tag_ranges(tag)
        return [
            str(self.get(start, end)).rstrip("\n")
            for start, end in zip(ranges[::2], ranges[1::2], strict=True)
        ]

    def links(self) -> list[tuple[str, str, str]]:
        """(start index, end index, URL) of every link shown, in order."""
        ranges = self._textbox.tag_ranges("link")
        return [
            (str(start), str(end), str(self.get(start, end)))
            for start, end in zip(ranges[::2], ranges[1::2], strict=True)
        ]

    def link_at(self, index: str) -> str | None:
        """The URL of the link covering `index`, or None."""
        box = self._textbox
        if "link" not in box.tag_names(index):
            return None
        start, end = box.tag_prevrange("link", f"{index}+1c")
        # The text shown is the link: what you see is what opens.
        return str(box.get(start, end))

    def _on_link_click(self, event: tkinter.Event[Any]) -> None:
        if self._textbox.tag_ranges("sel"):
            return  # the user was selecting text, not clicking a link
        url = self.link_at(self._textbox.index(f"@{event.x},{event.y}"))
        if url is not None:
            self._open_link(url)


class PendingArea(_StyledBox):
    """Lines sent but not yet confirmed: dimmed, one entry each, until `PendingDone`.

    A line waiting for the connection shows at once. A line in flight shows
    only once it has been unconfirmed for `show_after` seconds: most are
    confirmed within milliseconds, and an area popping up and away on every
    Enter would make the log jump. Hidden while nothing shows; at most
    `max_rows` rows, scrolling beyond.
    """

    def __init__(
        self,
        master: Any,
        *,
        max_rows: int = 4,
        show_after: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(master, TAG_COLOURS, height=1, fg_color="transparent")
        self.show_after = show_after
        self._max_rows = max_rows
        self.clock = clock
        self._lines: dict[int, tuple[ev.Pending, float]] = {}
        self._timer: str | None = None
        self._shown = 0
        self.tag_config("row", lmargin1=0, lmargin2=self._text_width("(sending…) "))

    def update_line(self, event: ev.Pending | ev.PendingDone) -> None:
        """Add, update (same `local_id`) or remove one pending line."""
        match event:
            case ev.Pending(local_id=local_id):
                _, since = self._lines.get(local_id, (event, self.clock()))
                if event.queued:
                    since = -math.inf  # shows now, so it stays when sent
                self._lines[local_id] = (event, since)
            case ev.PendingDone(local_id=local_id):
                self._lines.pop(local_id, None)
        self._render()

    def _render(self) -> None:
        if self._timer is not None:
            self.after_cancel(self._timer)
            self._timer = None
        now = self.clock()
        shown = []
        later = []
        for pending, since in self._lines.values():
            due = since + self.show_after
            if pending.queued or due <= now:
                shown.append(pending)
            else:
                later.append(due)
        self._draw_rows(shown)
        if later:
            wait_ms = math.ceil((min(later) - now) * 1000)
            self._timer = self.after(max(wait_ms, 1), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._render()

    def _draw_rows(self, shown: list[ev.Pending]) -> None:
        self.configure(state="normal")
        self.delete("1.0", "end")
        rows = []
        for pending in shown:
            first, more = pending_text(pending)
            rows.append([(first, ("pending", "row"))])
            rows += [
                [(CONTINUATION, ("continuation", "row")), (line, ("pending", "row"))]
                for line in more
            ]
        for number, row in enumerate(rows):
            if number:
                self.insert("end", "\n", ("row",))
            for text, tags in row:
                self.insert("end", text, tags)
        self.configure(state="disabled")
        self._shown = len(shown)
        if not rows:
            self.grid_remove()
            return
        self.configure(height=self._height_for(min(len(rows), self._max_rows)))
        self.grid()

    def _height_for(self, rows: int) -> int:
        """The box height (unscaled, as `configure` takes it) that shows `rows` rows."""
        box = self._textbox
        # The Tk text's own border and padding, above and below.
        inner = 2 * (int(box.cget("borderwidth")) + int(box.cget("pady")))
        # customtkinter keeps a margin around the text for its rounded corners.
        margin = max(self._corner_radius, self._border_width + self._border_spacing)
        scale: float = self._get_widget_scaling()
        margin_px: int = margin
        return math.ceil((rows * self._line_space() + inner) / scale + 2 * margin_px)

    def rows(self) -> list[str]:
        """The rows shown, top to bottom (empty while hidden)."""
        return self.text().split("\n") if self._shown else []
