"""A small tooltip: text shown under a widget while the pointer rests on it.

customtkinter has none. This is a plain borderless `tkinter.Toplevel` (not a
second `CTk`, CustomTkinter #375), made when shown and destroyed when the
pointer leaves.
"""

from __future__ import annotations

import tkinter
from typing import Any

import customtkinter as ctk

__all__ = ["Tooltip"]

DELAY_MS = 500
_COLOURS = {"Light": ("#fffbe6", "#1a1a1a"), "Dark": ("#333333", "#e6e6e6")}


class Tooltip:
    """Shows `text` below `widget` after the pointer rests on it a moment.

    Args:
        widget: a customtkinter widget (its `bind` takes `add=True`) or a Tk one.
        text: what to show; "" shows nothing.
    """

    def __init__(self, widget: Any, text: str = "") -> None:
        self.widget = widget
        self.text = text
        self._after: str | None = None
        self._window: tkinter.Toplevel | None = None
        widget.bind("<Enter>", self._schedule, add=True)
        widget.bind("<Leave>", self._hide, add=True)
        widget.bind("<ButtonPress>", self._hide, add=True)

    def _schedule(self, _event: object = None) -> None:
        self._cancel()
        if self.text:
            self._after = self.widget.after(DELAY_MS, self.show)

    def _cancel(self) -> None:
        if self._after is not None:
            self.widget.after_cancel(self._after)
            self._after = None

    def show(self) -> None:
        """Show the tip now (also what resting the pointer does)."""
        self._after = None
        if not self.text or self._window is not None:
            return
        background, foreground = _COLOURS.get(
            ctk.get_appearance_mode(), _COLOURS["Light"]
        )
        window = tkinter.Toplevel(self.widget)
        window.wm_overrideredirect(True)
        x = self.widget.winfo_rootx() + 12
        y = self.widget.winfo_rooty() + self.widget.winfo_height() + 2
        window.wm_geometry(f"+{x}+{y}")
        tkinter.Label(
            window,
            text=self.text,
            background=background,
            foreground=foreground,
            relief="solid",
            borderwidth=1,
            justify="left",
            wraplength=320,
            padx=6,
            pady=3,
        ).pack()
        self._window = window

    def shown_text(self) -> str:
        """The text on screen now ("" when hidden)."""
        return self.text if self._window is not None else ""

    def _hide(self, _event: object = None) -> None:
        self._cancel()
        if self._window is not None:
            self._window.destroy()
            self._window = None

    def hide(self) -> None:
        self._hide()
