"""`ChatWindow`: the customtkinter client. Widgets, styling and marshalling only.

Network events arrive through `QueueBridge` (a queue drained with `after` on
the Tk thread); every typed line goes to the session core, whole (a
Shift+Enter line break stays inside one message). Enter sends, Shift+Enter
starts a new line, Ctrl+Enter also sends, Ctrl+A selects all. The session's
questions (trust a certificate, a password) open modal dialogs; a connection
that ends for good leaves its reason in a banner above the log.
"""

from __future__ import annotations

import logging
import tkinter
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import customtkinter as ctk

from clients.core import events as ev
from clients.core.client import ChatClient, TransportFactory
from clients.core.formatting import DisplayLine, LineKind, describe, status_text
from clients.core.launch import Security, build_client
from clients.core.settings import load_settings, save_settings
from clients.core.transport import TransportEvent
from clients.gui.banner import AlertBanner
from clients.gui.bridge import QueueBridge
from clients.gui.chatlog import LINE_COLOURS, ChatLog, PendingArea
from clients.gui.connect import ConnectChoice, ConnectDialog
from clients.gui.dialogs import (
    DESTROY_DELAY_MS,
    ModalDialog,
    PasswordDialog,
    TrustDialog,
)
from clients.gui.keys import bind_select_all

__all__ = [
    "LINE_COLOURS",
    "PLAINTEXT_BADGE",
    "STATUS_COLOURS",
    "ChatPane",
    "ChatWindow",
]

log = logging.getLogger(__name__)

APP_TITLE = "Chinwag"
STATUS_COLOURS = {
    ev.ConnectionStatus.CONNECTED: ("#1e7d32", "#81c784"),
    ev.ConnectionStatus.CONNECTING: ("#6b6b6b", "#9a9a9a"),
    ev.ConnectionStatus.RECONNECTING: ("#a35c00", "#ffc266"),
    ev.ConnectionStatus.DISCONNECTED: ("#b3261e", "#ff8a80"),
}
PLAINTEXT_BADGE = "⚠ not encrypted"
"""Shown beside the status while connected without TLS (a symbol: not colour alone)."""
BADGE_COLOURS = {
    "fg_color": ("#e07b00", "#ffa726"),
    "text_color": ("#ffffff", "#1a1a1a"),
}


class ChatPane(ctk.CTkFrame):  # type: ignore[misc]
    """The banner, the chat log, the pending lines, the user list, the input and
    the status line."""

    def __init__(self, master: ChatWindow) -> None:
        super().__init__(master, fg_color="transparent")
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(1, weight=1)

        self.banner = AlertBanner(self, master.reconnect)
        self.banner.grid(row=0, column=0, sticky="ew", padx=(8, 4), pady=(8, 0))
        self.banner.grid_remove()  # shown when the connection ends for good
        self.display = ChatLog(self, master.open_link)
        self.display.grid(row=1, column=0, sticky="nsew", padx=(8, 4), pady=(8, 0))
        self.pending = PendingArea(self)
        self.pending.grid(row=2, column=0, sticky="ew", padx=(8, 4), pady=(2, 0))
        self.pending.grid_remove()  # shown while something is pending

        side = ctk.CTkFrame(self, width=170)
        side.grid(row=0, column=1, rowspan=4, sticky="nsew", padx=(4, 8), pady=8)
        side.grid_rowconfigure(1, weight=1)
        self.users_title = ctk.CTkLabel(side, text="Online", anchor="w")
        self.users_title.grid(row=0, column=0, sticky="ew", padx=8, pady=(6, 0))
        self.users = ctk.CTkScrollableFrame(side, width=150, fg_color="transparent")
        self.users.grid(row=1, column=0, sticky="nsew", padx=2, pady=4)
        self.user_buttons: dict[str, ctk.CTkButton] = {}

        bottom = ctk.CTkFrame(self, fg_color="transparent")
        bottom.grid(row=3, column=0, sticky="ew", padx=(8, 4), pady=(4, 4))
        bottom.grid_columnconfigure(0, weight=1)
        self.input = ctk.CTkTextbox(bottom, height=64, wrap="word")
        self.input.grid(row=0, column=0, sticky="ew")
        bind_select_all(self.input)
        self.send_button = ctk.CTkButton(
            bottom, text="Send", width=80, command=master.send
        )
        self.send_button.grid(row=0, column=1, sticky="ns", padx=(6, 0))

        status_bar = ctk.CTkFrame(self, fg_color="transparent")
        status_bar.grid(
            row=4, column=0, columnspan=2, sticky="ew", padx=10, pady=(0, 6)
        )
        self.status = ctk.CTkLabel(status_bar, text="", anchor="w")
        self.status.pack(side="left")
        self.badge = ctk.CTkLabel(
            status_bar,
            text=PLAINTEXT_BADGE,
            corner_radius=6,
            height=22,
            **BADGE_COLOURS,
        )
        self.badge.pack(side="left", padx=(10, 0), ipadx=6)
        self.badge.pack_forget()  # shown while connected without encryption


class ChatWindow(ctk.CTk):  # type: ignore[misc]
    """The Chinwag desktop client.

    Args:
        host: server host; None takes the saved one.
        port: server port; None takes the saved one.
        nick: the nickname; None shows the connect dialog first.
        security: TLS, certificate trust and login (`--plaintext`,
            `--trust-new`, `--login`); None is for tests on a fake
            transport: no encryption, no pins, no saved logins.
        transport_factory: how connections are made (tests may pass a fake;
            None: a real connection, with TLS as `security` says).
        settings_path: where settings are kept (default: the user's config
            directory).
        open_url: opens a clicked link (default: the web browser).
    """

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        nick: str | None = None,
        security: Security | None = Security(),  # noqa: B008 - frozen, shared safely
        transport_factory: TransportFactory | None = None,
        settings_path: Path | None = None,
        open_url: Callable[[str], object] = webbrowser.open,
    ) -> None:
        super().__init__()
        self.title(APP_TITLE)
        self.geometry("800x600")
        self.minsize(480, 360)
        self._settings_path = settings_path
        self._settings = load_settings(settings_path)
        self._host = host if host is not None else self._settings.host
        self._port = port if port is not None else self._settings.port
        self._security = security
        self._factory = transport_factory
        self._open_url = open_url
        self._title = APP_TITLE
        self.unseen = 0
        """Mentions and private messages that came while the window was not focused."""
        self.client: ChatClient | None = None
        self.closed = False
        self.bridge = QueueBridge(self, self._on_transport_event, self._on_tick)
        self.pane = ChatPane(self)
        self.dialog: ConnectDialog | None = None
        self.trust_dialog: TrustDialog | None = None
        self.password_dialog: PasswordDialog | None = None
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.bind("<FocusIn>", self._on_focus_in, add=True)
        self._bind_keys()
        if nick is None:
            self.dialog = ConnectDialog(
                self,
                host=self._host,
                port=self._port,
                nick=self._settings.nick,
                login=None if security is None else security.login,
                on_connect=self._connect_chosen,
                on_cancel=self.close,
            )
            self.dialog.place(relx=0.5, rely=0.5, anchor="center")
            self.dialog.start_focus()
        else:
            self.start_chat(nick)

    # --- lifecycle ----------------------------------------------------------------

    def _connect_chosen(self, choice: ConnectChoice) -> None:
        """The connect dialog's answer: remember it, then connect."""
        self._host, self._port = choice.host, choice.port
        if self._security is not None:
            # --plaintext and --trust-new stay as the command line said.
            self._security = attrs.evolve(self._security, login=choice.login)
        self._settings = attrs.evolve(
            self._settings, host=choice.host, port=choice.port, nick=choice.nick
        )
        try:
            save_settings(self._settings, self._settings_path)
        except (OSError, ValueError) as exc:
            log.warning("could not save the settings: %s", exc)
        self.start_chat(choice.nick)

    def start_chat(self, nick: str) -> None:
        if self.dialog is not None:
            dialog, self.dialog = self.dialog, None
            # Not destroyed at once: its clicked Connect button still has a
            # redraw scheduled (see `dialogs.DESTROY_DELAY_MS`).
            dialog.place_forget()
            self.after(DESTROY_DELAY_MS, dialog.destroy)
        self.pane.pack(fill="both", expand=True)
        self.pane.input.focus_set()
        self.client = build_client(
            self._host,
            self._port,
            nick,
            self.bridge.put,
            security=self._security,
            transport_factory=self._factory,
        )
        self._show(self.client.start())
        self.bridge.start()

    def reconnect(self) -> None:
        """The banner's Reconnect button: as if /reconnect were typed."""
        if self.client is not None and not self.closed:
            self._show(self.client.submit("/reconnect").events)

    def close(self) -> None:
        """Leave cleanly and end the main loop; `destroy` comes after it."""
        if self.closed:
            return
        self.closed = True
        self.bridge.stop()
        for dialog in (self.trust_dialog, self.password_dialog):
            if dialog is not None:
                dialog.finish()  # unanswered: nothing more is sent anyway
        self.trust_dialog = self.password_dialog = None
        if self.client is not None:
            self.client.close("leaving")
        self.quit()

    def destroy(self) -> None:
        """Cancel every pending `after` script first.

        customtkinter schedules its own (DPI checks, animations); left pending
        they run after the window is gone and print "invalid command name"
        errors (CustomTkinter #2269, #1169).
        """
        try:
            pending = self.tk.splitlist(self.tk.call("after", "info"))
        except tkinter.TclError:
            pending = ()
        for after_id in pending:
            # Plain Tcl cancel: tkinter's after_cancel would also delete the
            # callback's command, which its own widget deletes again on destroy.
            self.tk.call("after", "cancel", after_id)
        super().destroy()

    def report_callback_exception(
        self, exc: type[BaseException], val: BaseException, tb: Any
    ) -> None:
        """A bug in a callback: log it, say so in the window, keep running."""
        if issubclass(exc, KeyboardInterrupt):
            self.close()
            return
        log.error("unexpected error in the window", exc_info=(exc, val, tb))
        self.pane.display.write(
            DisplayLine(LineKind.ERROR, f"internal error: {val} (details in the log)")
        )

    # --- input --------------------------------------------------------------------

    def _bind_keys(self) -> None:
        box = self.pane.input
        box.bind("<Return>", self._on_return)
        box.bind("<KP_Enter>", self._on_return)
        box.bind("<Control-Return>", self._on_send_key)
        box.bind("<Tab>", self._on_tab)
        box.bind("<Up>", self._on_up)
        box.bind("<Down>", self._on_down)

    def _on_return(self, event: tkinter.Event[Any]) -> str | None:
        if isinstance(event.state, int) and event.state & 0x1:  # Shift: new line
            return None
        self.send()
        return "break"

    def _on_send_key(self, _event: tkinter.Event[Any]) -> str:
        self.send()
        return "break"

    def _on_tab(self, _event: tkinter.Event[Any]) -> str:
        if self.client is not None:
            self._set_input(self.client.session.complete(self._input_text()))
        return "break"

    def _on_up(self, _event: tkinter.Event[Any]) -> str | None:
        text = self._input_text()
        if self.client is None or "\n" in text:
            return None
        line = self.client.session.history.older(text)
        if line is not None:
            self._set_input(line)
        return "break"

    def _on_down(self, _event: tkinter.Event[Any]) -> str | None:
        if self.client is None or "\n" in self._input_text():
            return None
        line = self.client.session.history.newer()
        if line is not None:
            self._set_input(line)
        return "break"

    def send(self) -> None:
        """Send button and Enter: hand the typed text, line breaks and all, to the core."""
        if self.client is None:
            return
        result = self.client.submit(self._input_text())
        if result.accepted:
            self._set_input("")
        self._show(result.events)

    def _input_text(self) -> str:
        return str(self.pane.input.get("1.0", "end-1c"))

    def _set_input(self, text: str) -> None:
        self.pane.input.delete("1.0", "end")
        self.pane.input.insert("1.0", text)
        self.pane.input.mark_set("insert", "end")

    def address(self, nick: str) -> None:
        """Start a private message to `nick` (clicking a user)."""
        self._set_input(f"@{nick} ")
        self.pane.input.focus_set()

    def open_link(self, url: str) -> None:
        """A link in the log was clicked: open it in the browser."""
        log.info("opening a link from the chat")
        try:
            opened = self._open_url(url)
        except Exception:
            log.exception("opening a link failed")
            opened = False
        if opened is False:
            self.pane.display.write(
                DisplayLine(LineKind.ERROR, f"could not open a web browser for {url}")
            )

    # --- attention ------------------------------------------------------------------

    def has_focus(self) -> bool:
        """True while this window (not another program or window) has the keyboard."""
        try:
            widget = self.focus_get()
        except (KeyError, tkinter.TclError):
            return False  # focus in a widget tkinter did not make (e.g. a menu)
        return widget is not None and widget.winfo_toplevel() is self

    def _attend(self) -> None:
        """A mention or a private message: if nobody is looking, say so."""
        if self.has_focus():
            return
        self.unseen += 1
        self._refresh_title()
        self.bell()

    def _on_focus_in(self, _event: tkinter.Event[Any]) -> None:
        if self.unseen and self.has_focus():
            self.unseen = 0
            self._refresh_title()

    def _refresh_title(self) -> None:
        prefix = f"({self.unseen}) " if self.unseen else ""
        self.title(prefix + self._title)

    # --- network events, on the Tk thread ----------------------------------------------

    def _on_transport_event(self, event: TransportEvent) -> None:
        if self.client is not None and not self.closed:
            self._show(self.client.handle(event))

    def _on_tick(self) -> None:
        if self.client is not None and not self.closed:
            self._show(self.client.tick())

    def _show(self, events: list[ev.UiEvent]) -> None:
        for event in events:
            self._react(event)
            if isinstance(event, ev.TrustQuestion):
                continue  # the dialog shows it; the log gets the outcome
            line = describe(event)
            if line is not None:
                self.pane.display.write(line)

    def _react(self, event: ev.UiEvent) -> None:
        """What an event does besides its line in the log."""
        match event:
            case ev.RosterChanged(nicks=nicks):
                self._show_users(nicks)
            case ev.ConnectionChanged():
                self._show_status(event)
            case ev.TrustQuestion():
                self._ask_trust(event)
            case ev.PasswordRequest():
                self._ask_password(event)
            case ev.Pending() | ev.PendingDone():
                self.pane.pending.update_line(event)
            case ev.ClearRequested():
                self.pane.display.clear()
            case ev.ExitRequested():
                self.close()
            case ev.ChatLine() if not event.is_own and (
                event.is_direct or event.mentions_me
            ):
                self._attend()

    def chat_text(self) -> str:
        """Everything in the chat log (for tests and accessibility tools)."""
        return self.pane.display.text()

    def _show_status(self, event: ev.ConnectionChanged) -> None:
        pane = self.pane
        pane.status.configure(
            text=status_text(event), text_color=STATUS_COLOURS[event.status]
        )
        plaintext = (
            event.status is ev.ConnectionStatus.CONNECTED and not event.encrypted
        )
        if plaintext and not pane.badge.winfo_manager():
            pane.badge.pack(side="left", padx=(10, 0), ipadx=6)
        elif not plaintext:
            pane.badge.pack_forget()
        if event.status is ev.ConnectionStatus.DISCONNECTED and event.detail:
            pane.banner.show("Not connected", event.detail)
        elif event.status is not ev.ConnectionStatus.DISCONNECTED:
            pane.banner.hide()
        self._title = f"{APP_TITLE} · {event.nick} @ {event.server}"
        self._refresh_title()

    # --- the session's questions -----------------------------------------------------

    def _ask_trust(self, question: ev.TrustQuestion) -> None:
        if self.closed:
            return
        if self.trust_dialog is not None:
            self.trust_dialog.finish()  # the session asks anew; the old one is void
        self.trust_dialog = TrustDialog(self, question, self._answer_trust)

    def _answer_trust(self, yes: bool) -> None:
        self.trust_dialog = None
        self._regrab()
        if self.client is not None and not self.closed:
            self._show(self.client.answer_trust(yes))

    def _ask_password(self, request: ev.PasswordRequest) -> None:
        if self.closed:
            return
        if self.password_dialog is not None:
            self.password_dialog.finish()  # replaced: only the newest is answered
        self.password_dialog = PasswordDialog(
            self,
            request,
            lambda password, repeat: self._answer_password(request, password, repeat),
        )

    def _answer_password(
        self, request: ev.PasswordRequest, password: str | None, repeat: str | None
    ) -> None:
        self.password_dialog = None
        self._regrab()
        if self.client is not None and not self.closed:
            self._show(self.client.answer_password(request.id, password, repeat))

    def _regrab(self) -> None:
        """A dialog was answered: input goes to the other one, else to the chat."""
        waiting: ModalDialog | None = self.trust_dialog or self.password_dialog
        if waiting is not None and waiting.is_shown():
            waiting.grab()
        else:
            self.pane.input.focus_set()

    def _show_users(self, nicks: tuple[str, ...]) -> None:
        buttons = self.pane.user_buttons
        for nick in set(buttons) - set(nicks):
            buttons.pop(nick).destroy()
        for index, nick in enumerate(nicks):
            button = buttons.get(nick)
            if button is None:
                button = ctk.CTkButton(
                    self.pane.users,
                    text=nick,
                    anchor="w",
                    fg_color="transparent",
                    text_color=LINE_COLOURS[LineKind.CHAT],
                    hover_color=("gray80", "gray30"),
                    command=lambda n=nick: self.address(n),
                )
                buttons[nick] = button
            button.grid(row=index, column=0, sticky="ew")
        self.pane.users_title.configure(text=f"Online ({len(nicks)})")
