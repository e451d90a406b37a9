"""The quick switcher (Ctrl+K): type part of a name, Enter goes there.

A small `CTkToplevel` over the chat (one `CTk` per process, CustomTkinter
#375) with an entry and the matching conversations below it, best first.
The matching is the core's (`ChatClient.find_conversations`); this window
only lists what it is given. Up/Down choose, Enter (or a click) switches,
Escape closes. Hidden rather than destroyed, like the search window, so no
customtkinter redraw is left pointing at a dead widget.
"""

from __future__ import annotations

import tkinter
from collections.abc import Callable
from typing import Any

import customtkinter as ctk

from clients.core.formatting import sanitize
from clients.gui.chatlog import HAND_CURSOR, TAG_BACKGROUNDS, _StyledBox
from clients.gui.keys import bind_select_all

__all__ = ["NO_MATCH", "QuickSwitcher"]

WIDTH = 340
HEIGHT = 260
NO_MATCH = "no conversation matches"


class _Choices(_StyledBox):
    """The matching names, one per row; the chosen one has a background."""

    def __init__(self, master: Any, on_pick: Callable[[int], None]) -> None:
        super().__init__(master, {}, TAG_BACKGROUNDS, wrap="none", height=160)
        self._on_pick = on_pick
        box = self._textbox
        box.tag_lower("selected")
        text_cursor = str(box.cget("cursor"))
        self.tag_bind("name", "<Enter>", lambda _e: box.configure(cursor=HAND_CURSOR))
        self.tag_bind("name", "<Leave>", lambda _e: box.configure(cursor=text_cursor))
        self.tag_bind("name", "<ButtonRelease-1>", self._on_click)

    def show(self, names: list[str]) -> None:
        self.configure(state="normal")
        self.delete("1.0", "end")
        if names:
            self.insert("end", "\n".join(sanitize(n) for n in names), ("name",))
        else:
            self.insert("end", NO_MATCH)
        self.configure(state="disabled")

    def select(self, row: int) -> None:
        box = self._textbox
        box.tag_remove("selected", "1.0", "end")
        box.tag_add("selected", f"{row + 1}.0", f"{row + 1}.0 lineend+1c")
        box.see(f"{row + 1}.0")

    def _on_click(self, event: tkinter.Event[Any]) -> None:
        row = int(self._textbox.index(f"@{event.x},{event.y}").split(".")[0]) - 1
        self._on_pick(row)


class QuickSwitcher(ctk.CTkToplevel):  # type: ignore[misc]
    """Ctrl+K's window.

    Args:
        master: the chat window.
        find: the names matching what is typed, best first.
        on_choose: called with the chosen name (the window is hidden first).
        on_hide: called whenever the window goes away (to give the keyboard
            back to the chat).
    """

    def __init__(
        self,
        master: Any,
        *,
        find: Callable[[str], list[str]],
        on_choose: Callable[[str], None],
        on_hide: Callable[[], None],
    ) -> None:
        super().__init__(master)
        self.title("Go to conversation")
        self.transient(master)
        self.geometry(f"{WIDTH}x{HEIGHT}")
        self.resizable(width=False, height=False)
        self._find = find
        self._on_choose = on_choose
        self._on_hide = on_hide
        self.names: list[str] = []
        """The names listed, best first."""
        self.selected = 0
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(2, weight=1)
        ctk.CTkLabel(self, text="Go to conversation (Ctrl+K)", anchor="w").grid(
            row=0, column=0, sticky="ew", padx=10, pady=(8, 2)
        )
        self.query = tkinter.StringVar(self)
        self.entry = ctk.CTkEntry(self, textvariable=self.query)
        self.entry.grid(row=1, column=0, sticky="ew", padx=8)
        bind_select_all(self.entry)
        self.choices = _Choices(self, self._pick)
        self.choices.grid(row=2, column=0, sticky="nsew", padx=8, pady=8)
        self.query.trace_add("write", lambda *_a: self.refresh())
        for key in ("<Return>", "<KP_Enter>"):
            self.entry.bind(key, self._breaking(self.choose))
        self.entry.bind("<Down>", self._breaking(lambda: self.move(1)))
        self.entry.bind("<Up>", self._breaking(lambda: self.move(-1)))
        self.bind("<Escape>", lambda _e: self.hide())
        self.protocol("WM_DELETE_WINDOW", self.hide)
        self.withdraw()

    @staticmethod
    def _breaking(action: Callable[[], None]) -> Callable[[tkinter.Event[Any]], str]:
        def handler(_event: tkinter.Event[Any]) -> str:
            action()
            return "break"

        return handler

    def open(self) -> None:
        """Show the window empty (every conversation listed), ready for typing."""
        self.query.set("")
        self.refresh()
        if not self.is_shown():
            master = self.master
            master.update_idletasks()
            x = master.winfo_rootx() + max(0, (master.winfo_width() - WIDTH) // 2)
            y = master.winfo_rooty() + 60
            tkinter.Toplevel.wm_geometry(self, f"+{x}+{y}")
            self.deiconify()
        self.lift()
        # Forced: without a window manager (Xvfb, some tiling setups) nothing
        # else moves the keyboard to a new window.
        self.entry._entry.focus_force()  # noqa: SLF001 - the Tk entry inside

    def refresh(self) -> None:
        """List what matches the entry now, the best one chosen."""
        self.names = self._find(self.query.get())
        self.choices.show(self.names)
        self.selected = 0
        if self.names:
            self.choices.select(0)

    def move(self, rows: int) -> None:
        """Choose the name `rows` below (negative: above) the chosen one."""
        if self.names:
            self.selected = max(0, min(self.selected + rows, len(self.names) - 1))
            self.choices.select(self.selected)

    def choose(self) -> None:
        """Enter: go to the chosen conversation (nothing if none matches)."""
        if self.names:
            self._pick(self.selected)

    def _pick(self, row: int) -> None:
        if 0 <= row < len(self.names):
            name = self.names[row]
            self.hide()
            self._on_choose(name)

    def is_shown(self) -> bool:
        return bool(self.winfo_exists()) and str(self.state()) != "withdrawn"

    def hide(self) -> None:
        if self.is_shown():
            self.withdraw()
            self._on_hide()
