"""The settings dialog (the ⚙ button, Ctrl+comma): theme, timestamps,
notifications, and the server and nickname to start with.

A `CTkToplevel` beside the chat (one `CTk` per process, CustomTkinter #375).
It holds no rules of its own: every value is checked by the core's
`change_setting` before anything is saved, a mistake is shown in the dialog
(nothing is saved then), and Save hands the changed keys to the window,
which saves them through `ChatClient.change_setting`; the `SettingsChanged`
that follows applies them. Hidden rather than destroyed when closed.
"""

from __future__ import annotations

import tkinter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import customtkinter as ctk

from clients.core.formatting import LineKind, sanitize
from clients.core.settings import (
    THEMES,
    ClientSettings,
    InvalidSetting,
    change_setting,
)
from clients.gui.chatlog import LINE_COLOURS
from clients.gui.keys import bind_select_all

__all__ = ["SettingsDialog", "Value", "preview_time"]

Value = str | bool | int
"""What `ChatClient.change_setting` takes."""
THEME_LABELS = {"system": "System", "light": "Light", "dark": "Dark"}
_PREVIEW_TIME = datetime(2026, 12, 31, 9, 41, 7)  # noqa: DTZ001 - shown as local time


def preview_time(time_format: str) -> str:
    """How a line's time reads in `time_format` (for the hint beside the field)."""
    if not time_format:
        return "no time shown"
    try:
        return f"e.g. {sanitize(_PREVIEW_TIME.strftime(time_format))}"
    except ValueError:
        return "not a time format"


class SettingsDialog(ctk.CTkToplevel):  # type: ignore[misc]
    """The fields, a place for the first mistake, Save and Cancel.

    Args:
        master: the chat window.
        on_save: called with the changed keys and their values, in the
            dialog's order, once every value checked out.
        on_hide: called whenever the dialog goes away (the keyboard goes back
            to the chat).
    """

    def __init__(
        self,
        master: Any,
        *,
        on_save: Callable[[dict[str, Value]], None],
        on_hide: Callable[[], None],
    ) -> None:
        super().__init__(master)
        self.title("Settings")
        self.transient(master)
        self.resizable(width=False, height=False)
        self._on_save = on_save
        self._on_hide = on_hide
        self._settings = ClientSettings()
        form = ctk.CTkFrame(self, fg_color="transparent")
        form.pack(padx=18, pady=(14, 4), fill="x")
        form.grid_columnconfigure(1, weight=1)

        def label(row: int, text: str) -> None:
            ctk.CTkLabel(form, text=text, anchor="w").grid(
                row=row, column=0, sticky="w", padx=(0, 12), pady=4
            )

        label(0, "Theme")
        self.theme = ctk.CTkSegmentedButton(
            form, values=[THEME_LABELS[t] for t in THEMES]
        )
        self.theme.grid(row=0, column=1, sticky="w", pady=4)
        label(1, "Time before lines")
        times = ctk.CTkFrame(form, fg_color="transparent")
        times.grid(row=1, column=1, sticky="ew", pady=4)
        self.timestamps_text = tkinter.StringVar(self)
        self.timestamps = ctk.CTkEntry(
            times, width=110, textvariable=self.timestamps_text
        )
        self.timestamps.pack(side="left")
        self.time_preview = ctk.CTkLabel(times, text="", anchor="w")
        self.time_preview.pack(side="left", padx=(8, 0))
        self.timestamps_text.trace_add(
            "write",
            lambda *_a: self.time_preview.configure(
                text=preview_time(self.timestamps_text.get())
            ),
        )
        ctk.CTkLabel(
            form,
            text="strftime: %H:%M, %H:%M:%S, %I:%M %p…; empty for none",
            anchor="w",
            text_color=LINE_COLOURS[LineKind.SYSTEM],
        ).grid(row=2, column=1, sticky="w")
        self.notifications = ctk.CTkSwitch(
            form, text="Notify me of mentions and private messages"
        )
        self.notifications.grid(row=3, column=0, columnspan=2, sticky="w", pady=8)
        ctk.CTkLabel(
            form,
            text="When the program starts",
            anchor="w",
            font=ctk.CTkFont(weight="bold"),
        ).grid(row=4, column=0, columnspan=2, sticky="w", pady=(8, 2))
        label(5, "Server")
        self.host = ctk.CTkEntry(form, width=220)
        self.host.grid(row=5, column=1, sticky="w", pady=4)
        label(6, "Port")
        self.port = ctk.CTkEntry(form, width=90)
        self.port.grid(row=6, column=1, sticky="w", pady=4)
        label(7, "Nickname")
        self.nick = ctk.CTkEntry(form, width=220)
        self.nick.grid(row=7, column=1, sticky="w", pady=4)
        self._build_buttons()
        self.bind("<Escape>", lambda _e: self.hide())
        self.protocol("WM_DELETE_WINDOW", self.hide)
        self.withdraw()

    def _build_buttons(self) -> None:
        """The place for a mistake, Save and Cancel; Enter in a field saves."""
        self.error = ctk.CTkLabel(
            self,
            text="",
            text_color=LINE_COLOURS[LineKind.ERROR],
            anchor="w",
            justify="left",
            wraplength=380,
        )
        self.error.pack(padx=18, fill="x")
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.pack(padx=18, pady=(8, 14), fill="x")
        self.save_button = ctk.CTkButton(
            buttons, text="Save", width=100, command=self.save
        )
        self.save_button.pack(side="right")
        self.cancel_button = ctk.CTkButton(
            buttons, text="Cancel", width=100, fg_color="gray50", command=self.hide
        )
        self.cancel_button.pack(side="right", padx=8)
        for entry in (self.timestamps, self.host, self.port, self.nick):
            bind_select_all(entry)
            entry.bind("<Return>", lambda _e: self.save())
            entry.bind("<KP_Enter>", lambda _e: self.save())

    def open(self, settings: ClientSettings) -> None:
        """Show the dialog filled in from `settings`."""
        self._settings = settings
        self.theme.set(THEME_LABELS[settings.theme])
        self.timestamps_text.set(settings.timestamps)
        if settings.notifications:
            self.notifications.select()
        else:
            self.notifications.deselect()
        for entry, value in (
            (self.host, settings.host),
            (self.port, str(settings.port)),
            (self.nick, settings.nick),
        ):
            entry.delete(0, "end")
            entry.insert(0, value)
        self._show_error("")
        if not self.is_shown():
            master = self.master
            master.update_idletasks()
            x = master.winfo_rootx() + 80
            y = master.winfo_rooty() + 60
            tkinter.Toplevel.wm_geometry(self, f"+{x}+{y}")
            self.deiconify()
        self.lift()
        # Forced: no window manager may give a new window the keyboard.
        self.timestamps._entry.focus_force()  # noqa: SLF001 - the Tk entry inside

    def values(self) -> dict[str, Value]:
        """What the fields hold, by setting key."""
        labels = {label: key for key, label in THEME_LABELS.items()}
        return {
            "theme": labels.get(str(self.theme.get()), self._settings.theme),
            "timestamps": str(self.timestamps_text.get()),
            "notifications": bool(self.notifications.get()),
            "host": str(self.host.get()),
            "port": str(self.port.get()),
            "nick": str(self.nick.get()),
        }

    def changes(self) -> dict[str, Value]:
        """The fields that differ from the settings, checked by the core's rules.

        Raises:
            InvalidSetting: the first value that cannot be used (its message
                names the field).
        """
        checked = self._settings
        changed: dict[str, Value] = {}
        for key, value in self.values().items():
            try:
                after = change_setting(checked, key, value)
            except InvalidSetting as exc:
                raise InvalidSetting(_field_error(key, exc)) from None
            if after != checked:
                changed[key] = value
                checked = after
        return changed

    def save(self) -> None:
        """Check every field; save what changed, or show the first mistake."""
        try:
            changed = self.changes()
        except InvalidSetting as exc:
            self._show_error(f"⚠ {exc}")
            return
        self.hide()
        if changed:
            self._on_save(changed)

    def error_text(self) -> str:
        return str(self.error.cget("text"))

    def _show_error(self, text: str) -> None:
        self.error.configure(text=text)

    def is_shown(self) -> bool:
        return bool(self.winfo_exists()) and str(self.state()) != "withdrawn"

    def hide(self) -> None:
        if self.is_shown():
            self.withdraw()
            self._on_hide()


_FIELD_NAMES: Mapping[str, str] = {
    "theme": "Theme",
    "timestamps": "Time before lines",
    "notifications": "Notifications",
    "host": "Server",
    "port": "Port",
    "nick": "Nickname",
}


def _field_error(key: str, exc: InvalidSetting) -> str:
    return f"{_FIELD_NAMES.get(key, key)}: {exc}"
