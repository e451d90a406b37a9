"""The chat log and the pending area: read-only text boxes that draw `DisplayLine`s.

Drawing only: the words come from `clients.core.formatting`. Every further
line of a message goes on a row of its own behind `CONTINUATION`, styled
apart, so text inside a message can never pass for a message of its own;
wrapped rows are indented for the same reason.
"""

from __future__ import annotations

import math
import time
import tkinter
from collections.abc import Callable
from typing import Any

import attrs
import customtkinter as ctk

from clients.core import events as ev
from clients.core.formatting import CONTINUATION, DisplayLine, LineKind, pending_text
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
}
# Not colour alone (WCAG 1.4.1): these kinds of line also carry a symbol.
KIND_MARKS: dict[LineKind, str] = {LineKind.MENTION: "★ ", LineKind.DIRECT: "✉ "}
HAND_CURSOR = "hand2"


class _StyledBox(ctk.CTkTextbox):  # type: ignore[misc]
    """A read-only CTkTextbox whose tag colours follow light/dark mode."""

    def __init__(self, master: Any, colours: dict[str, Colour], **kwargs: Any) -> None:
        super().__init__(master, wrap="word", state="disabled", **kwargs)
        self._colours = colours
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
    """

    def __init__(self, master: Any, open_link: Callable[[str], None]) -> None:
        colours = {kind.value: pair for kind, pair in LINE_COLOURS.items()}
        super().__init__(master, {**colours, **TAG_COLOURS})
        self._open_link = open_link
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
        # Rows a long line wraps onto are indented, so no wrapped text can
        # start at the left edge and look like a message of its own.
        self.tag_config("row", lmargin1=0, lmargin2=self._text_width("00:00 "))

    def write(self, line: DisplayLine) -> None:
        """Add `line` (and its further lines) at the end; follow it if already at the end."""
        following = self.yview()[1] >= 0.999
        kind = line.kind.value
        first, *rest = line.text.splitlines() or [""]
        if rest:  # a line break inside one entry still gets the continuation mark
            line = attrs.evolve(line, text=first, more=(*rest, *line.more))
        self.configure(state="normal")
        if line.time:
            self.insert("end", f"{line.time} ", ("time", "row"))
        mark = KIND_MARKS.get(line.kind)
        if mark:
            self.insert("end", mark, (kind, "row"))
        self._insert_text(line.text, (kind, "row"))
        self.insert("end", "\n", (kind, "row"))
        for more in line.more:
            self.insert("end", CONTINUATION, ("continuation", "row"))
            self._insert_text(more, (kind, "row"))
            self.insert("end", "\n", (kind, "row"))
        self.configure(state="disabled")
        if following:
            self.see("end")

    def _insert_text(self, text: str, tags: tuple[str, ...]) -> None:
        """Insert `text` with `tags`; web links in it get the `link` tag too."""
        done = 0
        for link in find_links(text):
            if link.start > done:
                self.insert("end", text[done : link.start], tags)
            self.insert("end", link.url, (*tags, "link"))
            done = link.end
        if done < len(text):
            self.insert("end", text[done:], tags)

    def clear(self) -> None:
        self.configure(state="normal")
        self.delete("1.0", "end")
        self.configure(state="disabled")

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
