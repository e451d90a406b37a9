"""`ConnectDialog`: server, port, nickname and whether to log in, checked first.

Shown at start when no nickname came on the command line, filled in from
the saved settings. Every field is checked by the core's rules
(`validate_host`, `parse_port`, `validate_nick`) and a mistake is shown
under its field; nothing is sent anywhere until all three are right.
"Log in to my account" makes the session log in to the nickname's account
(it asks for the password unless a login token is saved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import customtkinter as ctk

from clients.core.commands import CommandError, validate_nick
from clients.core.formatting import LineKind
from clients.core.settings import InvalidSetting, parse_port, validate_host
from clients.gui.chatlog import LINE_COLOURS
from clients.gui.keys import bind_select_all

T = TypeVar("T")


@attrs.frozen
class ConnectChoice:
    host: str
    port: int
    nick: str
    login: bool = False


class _Field:
    """A label, an entry and the place for its error, in three grid rows."""

    def __init__(
        self, master: ctk.CTkFrame, row: int, label: str, value: str, width: int
    ) -> None:
        ctk.CTkLabel(master, text=label, anchor="w").grid(
            row=row, column=0, sticky="w", padx=(0, 10)
        )
        self.entry = ctk.CTkEntry(master, width=width)
        self.entry.grid(row=row, column=1, sticky="w")
        self.entry.insert(0, value)
        self.error = ctk.CTkLabel(
            master,
            text="",
            text_color=LINE_COLOURS[LineKind.ERROR],
            anchor="w",
            justify="left",
            wraplength=300,
        )
        self.error.grid(row=row + 1, column=1, sticky="w")
        self.error.grid_remove()
        bind_select_all(self.entry)

    def check(self, parse: Callable[[str], T]) -> T | None:
        """`parse(text)`, or None with its error shown under the field."""
        try:
            value = parse(self.entry.get())
        except (CommandError, InvalidSetting) as exc:
            self.error.configure(text=f"⚠ {exc}")
            self.error.grid()
            return None
        self.error.configure(text="")
        self.error.grid_remove()
        return value


class ConnectDialog(ctk.CTkFrame):  # type: ignore[misc]
    """Where to connect and as whom.

    Args:
        master: the window.
        host, port, nick: the values to start from.
        login: whether "Log in to my account" starts ticked; None leaves the
            box out (a client without accounts, as in tests on a fake).
        on_connect: called with the checked choice.
        on_cancel: called by Cancel and Escape.
    """

    def __init__(
        self,
        master: Any,
        *,
        host: str,
        port: int,
        nick: str,
        login: bool | None = False,
        on_connect: Callable[[ConnectChoice], None],
        on_cancel: Callable[[], None],
    ) -> None:
        super().__init__(master)
        self._on_connect = on_connect
        ctk.CTkLabel(
            self, text="Connect to Chinwag", font=ctk.CTkFont(size=18, weight="bold")
        ).pack(padx=24, pady=(20, 12))
        form = ctk.CTkFrame(self, fg_color="transparent")
        form.pack(padx=24)
        self.host = _Field(form, 0, "Server", host, 240)
        self.port = _Field(form, 2, "Port", str(port), 90)
        self.nick = _Field(form, 4, "Nickname", nick, 240)
        self.login: ctk.CTkCheckBox | None = None
        if login is not None:
            self.login = ctk.CTkCheckBox(form, text="Log in to my account")
            self.login.grid(row=6, column=1, sticky="w", pady=(8, 0))
            if login:
                self.login.select()
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.pack(padx=24, pady=(12, 20), fill="x")
        self.connect_button = ctk.CTkButton(
            buttons, text="Connect", width=110, command=self.submit
        )
        self.connect_button.pack(side="right")
        self.cancel_button = ctk.CTkButton(
            buttons, text="Cancel", width=110, fg_color="gray50", command=on_cancel
        )
        self.cancel_button.pack(side="right", padx=8)
        for field in (self.host, self.port, self.nick):
            field.entry.bind("<Return>", lambda _e: self.submit())
            field.entry.bind("<KP_Enter>", lambda _e: self.submit())
            field.entry.bind("<Escape>", lambda _e: on_cancel())

    def start_focus(self) -> None:
        """Focus the first empty field, else the nickname with its text selected."""
        for field in (self.host, self.port, self.nick):
            if not field.entry.get().strip():
                field.entry.focus_set()
                return
        self.nick.entry.focus_set()
        self.nick.entry.select_range(0, "end")
        self.nick.entry.icursor("end")

    def errors(self) -> dict[str, str]:
        """The error shown under each field that has one (for tests)."""
        fields = {"host": self.host, "port": self.port, "nick": self.nick}
        return {
            name: str(field.error.cget("text"))
            for name, field in fields.items()
            if field.error.cget("text")
        }

    def submit(self) -> None:
        """Check every field; connect if all are right, else focus the first wrong one."""
        host = self.host.check(validate_host)
        port = self.port.check(parse_port)
        nick = self.nick.check(validate_nick)
        if host is None or port is None or nick is None:
            wrong = (self.host, host), (self.port, port), (self.nick, nick)
            next(field for field, value in wrong if value is None).entry.focus_set()
            return
        login = self.login is not None and bool(self.login.get())
        self._on_connect(ConnectChoice(host, port, nick, login))
