"""Key bindings every text field of the window shares.

Tk on X11 binds Ctrl+A to "go to the start of the line" (Emacs style);
users of every other desktop program expect "select all".
"""

from __future__ import annotations

import tkinter
from collections.abc import Callable
from typing import Any, Protocol

SELECT_ALL_KEYS = ("<Control-a>", "<Control-A>")


class _Bindable(Protocol):
    def bind(
        self, sequence: str, func: Callable[[tkinter.Event[Any]], object], add: bool
    ) -> object: ...


def bind_select_all(widget: _Bindable) -> None:
    """Make Ctrl+A select everything in `widget`.

    Args:
        widget: a Tk Text or Entry, or a customtkinter box around one (those
            forward `bind` to the Tk widget inside).
    """
    for sequence in SELECT_ALL_KEYS:
        widget.bind(sequence, _select_all, add=True)


def _select_all(event: tkinter.Event[Any]) -> str:
    widget = event.widget
    if isinstance(widget, tkinter.Text):
        widget.tag_add("sel", "1.0", "end-1c")
        widget.mark_set("insert", "end-1c")
        widget.see("insert")
    elif isinstance(widget, tkinter.Entry):
        widget.select_range(0, "end")
        widget.icursor("end")
    return "break"  # keep Tk's own Ctrl+A (line start) from running after
