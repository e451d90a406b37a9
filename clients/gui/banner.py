"""`AlertBanner`: why the client stopped connecting, above the chat log.

A connection that ends for good (a changed certificate, a refused
certificate, a bad nickname, an old server...) does not retry, so the reason
must not scroll away as one more log line: it stays here, in full, until
the user reconnects or dismisses it. The words come from the session core.
"""

from __future__ import annotations

import tkinter
from collections.abc import Callable
from typing import Any

import customtkinter as ctk

from clients.core.formatting import LineKind, split_lines
from clients.gui.chatlog import LINE_COLOURS

__all__ = ["AlertBanner"]

_BORDER = LINE_COLOURS[LineKind.ERROR]
_TEXT_PAD = 12


class AlertBanner(ctk.CTkFrame):  # type: ignore[misc]
    """A framed message with Reconnect and Dismiss; hidden until `show`.

    Args:
        master: the chat pane (it grids the banner).
        on_reconnect: the Reconnect button.
    """

    def __init__(self, master: Any, on_reconnect: Callable[[], None]) -> None:
        super().__init__(master, border_width=2, border_color=_BORDER)
        self.grid_columnconfigure(0, weight=1)
        self.heading = ctk.CTkLabel(
            self,
            text="",
            text_color=_BORDER,
            font=ctk.CTkFont(weight="bold"),
            anchor="w",
        )
        self.heading.grid(row=0, column=0, sticky="ew", padx=_TEXT_PAD, pady=(8, 0))
        self.message = ctk.CTkLabel(self, text="", anchor="w", justify="left")
        self.message.grid(
            row=1, column=0, columnspan=2, sticky="ew", padx=_TEXT_PAD, pady=(2, 8)
        )
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.grid(row=0, column=1, sticky="ne", padx=8, pady=(8, 0))
        self.reconnect_button = ctk.CTkButton(
            buttons, text="Reconnect", width=100, command=on_reconnect
        )
        self.reconnect_button.pack(side="left")
        self.dismiss_button = ctk.CTkButton(
            buttons, text="Dismiss", width=90, fg_color="gray50", command=self.hide
        )
        self.dismiss_button.pack(side="left", padx=(6, 0))
        self.bind("<Configure>", self._rewrap, add=True)

    def show(self, heading: str, text: str) -> None:
        """Show `heading` (after a warning sign: not colour alone) and `text`."""
        first, more = split_lines(text)
        self.heading.configure(text=f"⚠ {heading}")
        self.message.configure(text="\n".join((first, *more)))
        self.grid()

    def hide(self) -> None:
        self.grid_remove()

    def is_shown(self) -> bool:
        return bool(self.winfo_manager())

    def text(self) -> str:
        """The heading and the message (for tests and screen readers)."""
        return f"{self.heading.cget('text')}\n{self.message.cget('text')}"

    def _rewrap(self, event: tkinter.Event[Any]) -> None:
        # Labels wrap at a fixed width: follow the banner's.
        scale: float = self._get_widget_scaling()
        width = int(event.width / scale) - 3 * _TEXT_PAD
        self.message.configure(wraplength=max(200, width))
