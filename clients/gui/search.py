"""The search window: results of a history search and the context of one.

A `CTkToplevel` beside the chat (customtkinter allows one `CTk` per process,
CustomTkinter #375), not modal: the chat goes on while it is open. The words
of each result come from `clients.core.formatting`; this module only lays
them out, lets the user pick one (click, or Up/Down and Enter) and shows the
`Context` the session sends back, the chosen line highlighted.
"""

from __future__ import annotations

import tkinter
from collections.abc import Callable
from typing import Any

import customtkinter as ctk

from clients.core import events as ev
from clients.core.formatting import DisplayLine, LineKind, describe, sanitize
from clients.gui.chatlog import (
    HAND_CURSOR,
    KIND_MARKS,
    LINE_COLOURS,
    TAG_BACKGROUNDS,
    TAG_COLOURS,
    ChatLog,
    _StyledBox,
)

__all__ = ["ResultList", "SearchWindow", "no_match_text", "result_time"]

SIZE = "600x560"
ELLIPSIS = " …"
"""After a result's first line when the message has more lines."""


def no_match_text(query: str) -> str:
    """What the window says when nothing matched."""
    return f"no messages match “{sanitize(query)}”"


def result_time(line: ev.ChatLine) -> str:
    """A result can be from any day: the date and the time, e.g. "30 Nov 2026 14:05"."""
    when = line.time
    return f"{when.day} {when:%b %Y %H:%M}"


def _heading(results: ev.SearchResults) -> str:
    query = sanitize(results.query)
    count = len(results.lines)
    noun = "message" if count == 1 else "messages"
    heading = f"{count} {noun} match “{query}”"
    if results.more:
        heading += " (the newest; older ones match too: add words to narrow it)"
    return heading


class ResultList(_StyledBox):
    """One row per result: date and time, sender, first line (DMs marked).

    Args:
        master: the parent widget.
        on_open: called with a result's message id when it is opened (a
            click, or Enter on the selected row).
    """

    def __init__(self, master: Any, on_open: Callable[[int], None]) -> None:
        colours = {kind.value: pair for kind, pair in LINE_COLOURS.items()}
        super().__init__(
            master, {**colours, **TAG_COLOURS}, TAG_BACKGROUNDS, wrap="none"
        )
        self._on_open = on_open
        self._ids: list[int] = []
        self.selected: int | None = None
        """The selected row (0 is the top), or None."""
        box = self._textbox
        box.tag_lower("selected")
        text_cursor = str(box.cget("cursor"))
        box.configure(takefocus=True)
        self.tag_bind("result", "<Enter>", lambda _e: box.configure(cursor=HAND_CURSOR))
        self.tag_bind("result", "<Leave>", lambda _e: box.configure(cursor=text_cursor))
        self.tag_bind("result", "<ButtonRelease-1>", self._on_click)
        for key, action in (
            ("<Up>", lambda: self.move(-1)),
            ("<Down>", lambda: self.move(1)),
            ("<Prior>", lambda: self.move(-10)),
            ("<Next>", lambda: self.move(10)),
            ("<Home>", lambda: self.select(0)),
            ("<End>", lambda: self.select(len(self._ids) - 1)),
            ("<Return>", self.open_selected),
            ("<KP_Enter>", self.open_selected),
        ):
            box.bind(key, lambda _e, act=action: act() or "break")

    def show(self, results: ev.SearchResults) -> None:
        """Replace the rows with `results`; the newest (last) is selected."""
        self.configure(state="normal")
        self.delete("1.0", "end")
        self._ids = []
        for number, line in enumerate(results.lines):
            if number:
                self._textbox.insert("end", "\n")
            self._row(line)
            self._ids.append(line.id)
        if not results.lines:
            self._textbox.insert("end", no_match_text(results.query), ("system",))
        self.configure(state="disabled")
        self.selected = None
        if self._ids:
            self.select(len(self._ids) - 1)

    def _row(self, line: ev.ChatLine) -> None:
        shown = describe(line) or DisplayLine(LineKind.CHAT, sanitize(line.text))
        kind = shown.kind.value
        box = self._textbox
        box.insert("end", f"{result_time(line)}  ", ("time", "result"))
        mark = KIND_MARKS.get(shown.kind, "")
        first = shown.text.splitlines()[0] if shown.text else ""
        more = ELLIPSIS if shown.more or "\n" in shown.text else ""
        box.insert("end", f"{mark}{first}{more}", (kind, "result"))

    def rows(self) -> list[str]:
        """The rows shown, top to bottom (for tests and screen readers)."""
        return self.text().split("\n") if self.text() else []

    def ids(self) -> list[int]:
        """The message id of each result row, top to bottom."""
        return list(self._ids)

    def select(self, row: int) -> None:
        """Select `row` (clamped to the rows there are) and scroll it into view."""
        if not self._ids:
            return
        row = max(0, min(row, len(self._ids) - 1))
        box = self._textbox
        box.tag_remove("selected", "1.0", "end")
        box.tag_add("selected", f"{row + 1}.0", f"{row + 1}.0 lineend+1c")
        box.see(f"{row + 1}.0")
        self.selected = row

    def move(self, rows: int) -> None:
        """Move the selection `rows` down (negative: up)."""
        if self.selected is None:
            self.select(len(self._ids) - 1 if rows < 0 else 0)
        else:
            self.select(self.selected + rows)

    def open_selected(self) -> None:
        """Enter: show the selected result in its context."""
        if self.selected is not None:
            self._on_open(self._ids[self.selected])

    def _on_click(self, event: tkinter.Event[Any]) -> None:
        if self._textbox.tag_ranges("sel"):
            return  # the user was selecting text
        row = int(self._textbox.index(f"@{event.x},{event.y}").split(".")[0]) - 1
        if 0 <= row < len(self._ids):
            self.focus_row(row)
            self.open_selected()

    def focus_row(self, row: int) -> None:
        """Select `row` and give the list the keyboard."""
        self.select(row)
        self._textbox.focus_set()


class SearchWindow(ctk.CTkToplevel):  # type: ignore[misc]
    """Results above, the chosen one's context below. Escape hides it.

    Hidden rather than destroyed when closed: it comes back with the next
    results, and no customtkinter redraw is left pointing at a dead widget.

    Args:
        master: the chat window.
        on_open: asks the session for a result's context (its message id).
        open_link: opens a link clicked in the context.
        on_hide: called when the user closes the window.
    """

    def __init__(
        self,
        master: Any,
        *,
        on_open: Callable[[int], None],
        open_link: Callable[[str], None],
        on_hide: Callable[[], None],
    ) -> None:
        super().__init__(master)
        self.title("Search")
        self.transient(master)
        self.geometry(SIZE)
        self.minsize(360, 300)
        self._on_hide = on_hide
        self.focus_id: int | None = None
        """The message the context is about, once one is shown."""
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(1, weight=2)
        self.grid_rowconfigure(3, weight=3)
        self.heading = ctk.CTkLabel(self, text="", anchor="w", justify="left")
        self.heading.grid(row=0, column=0, sticky="ew", padx=10, pady=(8, 2))
        self.results = ResultList(self, on_open)
        self.results.grid(row=1, column=0, sticky="nsew", padx=8, pady=(0, 6))
        self.context_heading = ctk.CTkLabel(
            self,
            text="Choose a result (click, or Enter) to see the messages around it",
            anchor="w",
        )
        self.context_heading.grid(row=2, column=0, sticky="ew", padx=10)
        self.context = ChatLog(self, open_link, one_day_separator=False)
        self.context.grid(row=3, column=0, sticky="nsew", padx=8, pady=(2, 8))
        self.protocol("WM_DELETE_WINDOW", self.hide)
        self.bind("<Escape>", lambda _e: self.hide())
        self.withdraw()

    def show_results(self, results: ev.SearchResults) -> None:
        """Show `results` (and forget the context of earlier ones)."""
        self.title(f"Search: {sanitize(results.query)}")
        self.heading.configure(
            text=_heading(results) if results.lines else no_match_text(results.query)
        )
        self.results.show(results)
        self.context.clear()
        self.focus_id = None
        self.present()

    def show_context(self, context: ev.Context) -> None:
        """Show the lines around a result, that one highlighted and in view."""
        log = self.context
        log.clear()
        focus: tuple[str, str] | None = None
        for item in context.items:
            drawn = log.append(item)
            if isinstance(item, ev.ChatLine) and item.id == context.focus_id:
                focus = drawn
        self.focus_id = context.focus_id
        self.present()
        if focus is None:
            self.context_heading.configure(text="That message is no longer stored")
            return
        self.context_heading.configure(text="Around the chosen message")
        log.highlight(*focus)

    def focused_text(self) -> str:
        """The highlighted line of the context ("" if none)."""
        return self.context.highlighted()

    def present(self) -> None:
        """Show the window (beside the chat, if there is room on the screen)."""
        if self.is_shown():
            return
        master = self.master
        master.update_idletasks()
        width = int(SIZE.split("x", maxsplit=1)[0])
        right = master.winfo_rootx() + master.winfo_width() + 8
        if right + width <= master.winfo_screenwidth():
            x = right
        else:
            x = max(0, master.winfo_rootx() + master.winfo_width() - width - 24)
        y = master.winfo_rooty() + 24
        tkinter.Toplevel.wm_geometry(self, f"+{x}+{y}")
        self.deiconify()

    def is_shown(self) -> bool:
        return bool(self.winfo_exists()) and str(self.state()) != "withdrawn"

    def hide(self) -> None:
        """Escape, the close button: hide, and give the keyboard back."""
        if self.is_shown():
            self.withdraw()
            self._on_hide()
