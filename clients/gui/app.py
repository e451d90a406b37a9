"""`ChatWindow`: the customtkinter client. Widgets, styling and marshalling only.

Network events arrive through `QueueBridge` (a queue drained with `after` on
the Tk thread); every typed line goes to the session core. Enter sends,
Shift+Enter starts a new line, Ctrl+Enter also sends.
"""

from __future__ import annotations

import logging
import tkinter
from typing import Any

import customtkinter as ctk

from clients.core import events as ev
from clients.core.client import ChatClient, TransportFactory
from clients.core.commands import CommandError, validate_nick
from clients.core.formatting import (
    DisplayLine,
    LineKind,
    address_label,
    describe,
    status_text,
)
from clients.core.session import ChatSession
from clients.core.transport import Transport, TransportEvent
from clients.gui.bridge import QueueBridge

log = logging.getLogger(__name__)

# (light, dark) colours per kind of line; customtkinter picks by appearance mode.
LINE_COLOURS: dict[LineKind, tuple[str, str]] = {
    LineKind.CHAT: ("#1a1a1a", "#e6e6e6"),
    LineKind.OWN: ("#1f5fa8", "#8cc4ff"),
    LineKind.DIRECT: ("#8a2a9c", "#e29cf0"),
    LineKind.MENTION: ("#a35c00", "#ffc266"),
    LineKind.SYSTEM: ("#6b6b6b", "#9a9a9a"),
    LineKind.ERROR: ("#b3261e", "#ff8a80"),
}
STATUS_COLOURS = {
    ev.ConnectionStatus.CONNECTED: ("#1e7d32", "#81c784"),
    ev.ConnectionStatus.CONNECTING: ("#6b6b6b", "#9a9a9a"),
    ev.ConnectionStatus.RECONNECTING: ("#a35c00", "#ffc266"),
    ev.ConnectionStatus.DISCONNECTED: ("#b3261e", "#ff8a80"),
}


class NickPrompt(ctk.CTkFrame):  # type: ignore[misc]
    """The first thing shown without `--nick`: ask, check, then connect."""

    def __init__(self, master: ChatWindow, server: str) -> None:
        super().__init__(master)
        self._window = master
        ctk.CTkLabel(
            self, text=f"Chinwag on {server}", font=ctk.CTkFont(size=18, weight="bold")
        ).pack(padx=24, pady=(24, 4))
        ctk.CTkLabel(self, text="Choose a nickname:").pack(padx=24, pady=(0, 8))
        self.entry = ctk.CTkEntry(self, width=260, placeholder_text="your nickname")
        self.entry.pack(padx=24)
        self.error = ctk.CTkLabel(
            self, text="", text_color=LINE_COLOURS[LineKind.ERROR], wraplength=300
        )
        self.error.pack(padx=24, pady=4)
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.pack(padx=24, pady=(0, 24), fill="x")
        self.connect_button = ctk.CTkButton(
            buttons, text="Connect", width=110, command=self.submit
        )
        self.connect_button.pack(side="right")
        self.cancel_button = ctk.CTkButton(
            buttons, text="Cancel", width=110, fg_color="gray50", command=master.close
        )
        self.cancel_button.pack(side="right", padx=8)
        self.entry.bind("<Return>", lambda _e: self.submit())
        self.entry.bind("<Escape>", lambda _e: master.close())

    def submit(self) -> None:
        try:
            nick = validate_nick(self.entry.get())
        except CommandError as exc:
            self.error.configure(text=str(exc))
            return
        self._window.start_chat(nick)


class ChatPane(ctk.CTkFrame):  # type: ignore[misc]
    """The chat display, the user list, the input area and the status line."""

    def __init__(self, master: ChatWindow) -> None:
        super().__init__(master, fg_color="transparent")
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)

        self.display = ctk.CTkTextbox(self, wrap="word", state="disabled")
        self.display.grid(row=0, column=0, sticky="nsew", padx=(8, 4), pady=(8, 4))
        self._colour_lines(ctk.get_appearance_mode())
        self.display.tag_config("time", foreground="gray50")

        side = ctk.CTkFrame(self, width=170)
        side.grid(row=0, column=1, rowspan=2, sticky="nsew", padx=(4, 8), pady=8)
        side.grid_rowconfigure(1, weight=1)
        self.users_title = ctk.CTkLabel(side, text="Online", anchor="w")
        self.users_title.grid(row=0, column=0, sticky="ew", padx=8, pady=(6, 0))
        self.users = ctk.CTkScrollableFrame(side, width=150, fg_color="transparent")
        self.users.grid(row=1, column=0, sticky="nsew", padx=2, pady=4)
        self.user_buttons: dict[str, ctk.CTkButton] = {}

        bottom = ctk.CTkFrame(self, fg_color="transparent")
        bottom.grid(row=1, column=0, sticky="ew", padx=(8, 4), pady=(4, 4))
        bottom.grid_columnconfigure(0, weight=1)
        self.input = ctk.CTkTextbox(bottom, height=64, wrap="word")
        self.input.grid(row=0, column=0, sticky="ew")
        self.send_button = ctk.CTkButton(
            bottom, text="Send", width=80, command=master.send
        )
        self.send_button.grid(row=0, column=1, sticky="ns", padx=(6, 0))

        self.status = ctk.CTkLabel(self, text="", anchor="w")
        self.status.grid(
            row=2, column=0, columnspan=2, sticky="ew", padx=10, pady=(0, 6)
        )

    def _set_appearance_mode(self, mode_string: str) -> None:
        """customtkinter calls this on every widget when light/dark changes."""
        super()._set_appearance_mode(mode_string)
        self._colour_lines(mode_string)

    def _colour_lines(self, mode: str) -> None:
        # Text tags are plain Tk: they do not follow the appearance by themselves.
        dark = mode.lower() == "dark"
        for kind, (light_colour, dark_colour) in LINE_COLOURS.items():
            self.display.tag_config(
                kind.value, foreground=dark_colour if dark else light_colour
            )


class ChatWindow(ctk.CTk):  # type: ignore[misc]
    """The Chinwag desktop client.

    Args:
        host: server host.
        port: server port.
        nick: the nickname; None asks for one first.
        transport_factory: how connections are made (tests may pass a fake).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9090,
        nick: str | None = None,
        transport_factory: TransportFactory = Transport,
    ) -> None:
        super().__init__()
        self.title("Chinwag")
        self.geometry("800x600")
        self.minsize(480, 360)
        self._server = address_label(host, port)
        self._host = host
        self._port = port
        self._factory = transport_factory
        self.client: ChatClient | None = None
        self.closed = False
        self.bridge = QueueBridge(self, self._on_transport_event, self._on_tick)
        self.pane = ChatPane(self)
        self.prompt: NickPrompt | None = None
        self.protocol("WM_DELETE_WINDOW", self.close)
        self._bind_keys()
        if nick is None:
            self.prompt = NickPrompt(self, self._server)
            self.prompt.place(relx=0.5, rely=0.5, anchor="center")
            self.prompt.entry.focus_set()
        else:
            self.start_chat(nick)

    # --- lifecycle ----------------------------------------------------------------

    def start_chat(self, nick: str) -> None:
        if self.prompt is not None:
            self.prompt.destroy()
            self.prompt = None
        self.pane.pack(fill="both", expand=True)
        self.pane.input.focus_set()
        session = ChatSession(nick=nick, server=self._server)
        self.client = ChatClient(
            session,
            self._host,
            self._port,
            self.bridge.put,
            transport_factory=self._factory,
        )
        self._show(self.client.start())
        self.bridge.start()

    def close(self) -> None:
        """Leave cleanly and end the main loop; `destroy` comes after it."""
        if self.closed:
            return
        self.closed = True
        self.bridge.stop()
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
        self._write(
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
        """Send button and Enter: hand the typed text to the session core."""
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

    # --- network events, on the Tk thread ----------------------------------------------

    def _on_transport_event(self, event: TransportEvent) -> None:
        if self.client is not None and not self.closed:
            self._show(self.client.handle(event))

    def _on_tick(self) -> None:
        if self.client is not None and not self.closed:
            self._show(self.client.tick())

    def _show(self, events: list[ev.UiEvent]) -> None:
        for event in events:
            match event:
                case ev.RosterChanged(nicks=nicks):
                    self._show_users(nicks)
                case ev.ConnectionChanged():
                    colours = STATUS_COLOURS[event.status]
                    self.pane.status.configure(
                        text=status_text(event), text_color=colours
                    )
                    self.title(f"Chinwag · {event.nick} @ {event.server}")
                case ev.ClearRequested():
                    self._clear()
                case ev.ExitRequested():
                    self.close()
                case ev.ChatLine() if not event.is_own and (
                    event.is_direct or event.mentions_me
                ):
                    self.bell()
            line = describe(event)
            if line is not None:
                self._write(line)

    def _write(self, line: DisplayLine) -> None:
        display = self.pane.display
        following = display.yview()[1] >= 0.999
        display.configure(state="normal")
        if line.time:
            display.insert("end", f"{line.time} ", ("time",))
        display.insert("end", line.text + "\n", (line.kind.value,))
        display.configure(state="disabled")
        if following:
            display.see("end")

    def _clear(self) -> None:
        self.pane.display.configure(state="normal")
        self.pane.display.delete("1.0", "end")
        self.pane.display.configure(state="disabled")

    def chat_text(self) -> str:
        """Everything in the chat display (for tests and accessibility tools)."""
        return str(self.pane.display.get("1.0", "end-1c"))

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
