"""`ChatWindow`: the customtkinter client. Widgets, styling and marshalling only.

Network events arrive through `QueueBridge` (a queue drained with `after` on
the Tk thread); every typed line goes to the session core, whole (a
Shift+Enter line break stays inside one message). Enter sends, Shift+Enter
starts a new line, Ctrl+Enter also sends, Ctrl+A selects all. The session's
questions (trust a certificate, a password) open modal dialogs; a connection
that ends for good leaves its reason in a banner above the log.

Stored history (issue 14): scrolling to the top of the log asks the session
for an earlier page, one at a time; the search box (Ctrl+F) asks the session
to search and the results open in a `SearchWindow`. Lines recalled from the
server's store never ring or count as unseen: they are not news.

Conversations (issue 15): the list on the left comes whole from the core
(`ConversationsChanged`); each conversation has its own log, input draft and
member list, and a line goes to the log of its conversation. Alt+1..9 and a
click switch, Ctrl+K opens the quick switcher, Ctrl+comma the settings. A
mention or a private message while the window is not focused rings, counts
in the title and pops up a desktop notification, if notifications are on.
"""

from __future__ import annotations

import functools
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
from clients.core.conversations import conversation_key
from clients.core.formatting import (
    DisplayLine,
    LineKind,
    describe,
    sanitize,
    split_lines,
    status_text,
)
from clients.core.launch import Security, build_client
from clients.core.settings import load_settings, save_settings
from clients.core.transport import TransportEvent
from clients.gui.banner import AlertBanner
from clients.gui.bridge import QueueBridge
from clients.gui.chatlog import (
    DEFAULT_TIME_FORMAT,
    LINE_COLOURS,
    ChatLog,
    PendingArea,
)
from clients.gui.connect import ConnectChoice, ConnectDialog
from clients.gui.conversations import ConversationList, typing_text
from clients.gui.dialogs import (
    DESTROY_DELAY_MS,
    ModalDialog,
    PasswordDialog,
    TrustDialog,
)
from clients.gui.keys import bind_select_all
from clients.gui.notify import desktop_notifier
from clients.gui.search import SearchWindow
from clients.gui.settings_dialog import SettingsDialog, Value
from clients.gui.switcher import QuickSwitcher
from clients.gui.tooltip import Tooltip
from protocol import LOBBY

__all__ = [
    "LINE_COLOURS",
    "PLAINTEXT_BADGE",
    "SEARCH_HINT",
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
SEARCH_HINT = "Search (Ctrl+F)"
SEARCH_ICON = "⌕"
SEARCH_KEYS = ("<Control-f>", "<Control-F>")
SWITCHER_KEYS = ("<Control-k>", "<Control-K>")
SETTINGS_KEYS = ("<Control-comma>",)
SWITCH_KEYS = tuple(f"<Alt-Key-{n}>" for n in range(1, 10))
"""Alt+1..9: the n-th conversation of the list."""
NOTIFY_BODY_CHARS = 120
Notify = Callable[[str, str], object]
"""Shows a desktop notification: `notify(title, body)`."""
_DRAWN_BY_WINDOW = (
    ev.TrustQuestion,
    ev.DaySeparator,
    ev.UnreadMarker,
    ev.EarlierLines,
    ev.SearchResults,
    ev.Context,
    ev.ConversationsChanged,
    ev.SettingsChanged,
)
"""Events the window draws itself, never as a plain line of the log."""
BADGE_COLOURS = {
    "fg_color": ("#e07b00", "#ffa726"),
    "text_color": ("#ffffff", "#1a1a1a"),
}


def _breaking(action: Callable[[], None]) -> Callable[[tkinter.Event[Any]], str]:
    """A key binding that runs `action` and stops Tk's own handling of the key."""

    def handler(_event: tkinter.Event[Any]) -> str:
        action()
        return "break"

    return handler


class ChatPane(ctk.CTkFrame):  # type: ignore[misc]
    """The conversation list, the banner, the active conversation's header and
    log (one log per conversation, stacked: only the active one is on top),
    the pending lines, who is typing, the input, the user list and the
    status line."""

    def __init__(self, master: ChatWindow) -> None:
        super().__init__(master, fg_color="transparent")
        self._window = master
        self.grid_columnconfigure(1, weight=1)
        self.grid_rowconfigure(2, weight=1)

        self.conversation_list = ConversationList(
            self,
            on_choose=master.switch_conversation,
            on_settings=master.open_settings,
        )
        self.conversation_list.grid(
            row=0, column=0, rowspan=6, sticky="nsew", padx=(8, 4), pady=8
        )

        self.banner = AlertBanner(self, master.reconnect)
        self.banner.grid(row=0, column=1, sticky="ew", padx=4, pady=(8, 0))
        self.banner.grid_remove()  # shown when the connection ends for good
        header = ctk.CTkFrame(self, fg_color="transparent")
        header.grid(row=1, column=1, sticky="ew", padx=6, pady=(6, 0))
        header.grid_columnconfigure(1, weight=1)
        self.header_name = ctk.CTkLabel(
            header, text=LOBBY, anchor="w", font=ctk.CTkFont(size=15, weight="bold")
        )
        self.header_name.grid(row=0, column=0, sticky="w")
        self.header_topic = ctk.CTkLabel(
            header, text="", anchor="w", text_color=LINE_COLOURS[LineKind.SYSTEM]
        )
        self.header_topic.grid(row=0, column=1, sticky="ew", padx=(10, 0))
        self._logs_frame = ctk.CTkFrame(self, fg_color="transparent")
        self._logs_frame.grid(row=2, column=1, sticky="nsew", padx=4, pady=(4, 0))
        self._logs_frame.grid_rowconfigure(0, weight=1)
        self._logs_frame.grid_columnconfigure(0, weight=1)
        self.logs: dict[str, ChatLog] = {}
        """The log of each conversation that has shown anything, by name."""
        self.active = LOBBY
        self.log(LOBBY)
        self.pending = PendingArea(self)
        self.pending.grid(row=3, column=1, sticky="ew", padx=4, pady=(2, 0))
        self.pending.grid_remove()  # shown while something is pending
        self.typing = ctk.CTkLabel(
            self,
            text="",
            anchor="w",
            height=18,
            text_color=LINE_COLOURS[LineKind.SYSTEM],
            font=ctk.CTkFont(size=12, slant="italic"),
        )
        self.typing.grid(row=4, column=1, sticky="ew", padx=8)
        self._build_side()
        self._build_bottom(master)

    def _build_side(self) -> None:
        """The search box and the user list, on the right."""
        side = ctk.CTkFrame(self, width=170)
        side.grid(row=0, column=2, rowspan=6, sticky="nsew", padx=(4, 8), pady=8)
        side.grid_rowconfigure(2, weight=1)
        find = ctk.CTkFrame(side, fg_color="transparent")
        find.grid(row=0, column=0, sticky="ew", padx=6, pady=(6, 2))
        find.grid_columnconfigure(1, weight=1)
        self.search_icon = ctk.CTkLabel(
            find, text=SEARCH_ICON, width=18, font=ctk.CTkFont(size=20)
        )
        self.search_icon.grid(row=0, column=0, padx=(2, 4))
        self.search_box = ctk.CTkEntry(find, width=130, placeholder_text=SEARCH_HINT)
        self.search_box.grid(row=0, column=1, sticky="ew")
        bind_select_all(self.search_box)
        self.users_title = ctk.CTkLabel(side, text="Online", anchor="w")
        self.users_title.grid(row=1, column=0, sticky="ew", padx=8, pady=(6, 0))
        self.users = ctk.CTkScrollableFrame(side, width=150, fg_color="transparent")
        self.users.grid(row=2, column=0, sticky="nsew", padx=2, pady=4)
        self.user_buttons: dict[str, ctk.CTkButton] = {}
        self.user_tips: dict[str, Tooltip] = {}

    def _build_bottom(self, master: ChatWindow) -> None:
        """The input with its Send button, and the status line."""
        bottom = ctk.CTkFrame(self, fg_color="transparent")
        bottom.grid(row=5, column=1, sticky="ew", padx=4, pady=(2, 4))
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
            row=6, column=0, columnspan=3, sticky="ew", padx=10, pady=(0, 6)
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

    @property
    def display(self) -> ChatLog:
        """The active conversation's log."""
        return self.logs[self.active]

    def log(self, name: str) -> ChatLog:
        """The log of conversation `name`, made (under the active one) if new."""
        log = self.logs.get(name)
        if log is None:
            window = self._window
            log = ChatLog(
                self._logs_frame, window.open_link, time_format=window.time_format
            )
            log.grid(row=0, column=0, sticky="nsew")
            self.logs[name] = log
            window.bind_log(log)
            if name != self.active:
                # Every log is laid out (it follows its end like the shown
                # one); only the active one is on top.
                self.logs[self.active].tkraise()
        return log

    def rename_log(self, old: str, new: str) -> None:
        """A direct conversation's nick changed: its log goes with it (unless
        the new nick has one already: the core merges the two, and the
        newer log is the one that stays in use)."""
        if old in self.logs and new not in self.logs:
            self.logs[new] = self.logs.pop(old)
            if self.active == old:
                self.active = new

    def show_log(self, name: str) -> ChatLog:
        """Put conversation `name`'s log on top."""
        self.active = name
        log = self.log(name)
        log.tkraise()
        return log


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
        notify: shows a desktop notification (title, body); default: the
            desktop's tool (`notify.desktop_notifier`), if it has one.
        appearance: light, dark or system from the command line; it wins
            over the saved theme until the theme is changed in the window.
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
        notify: Notify | None = None,
        appearance: str | None = None,
    ) -> None:
        super().__init__()
        self.title(APP_TITLE)
        self.geometry("960x620")
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
        self._desktop = desktop_notifier() if notify is None else None
        self._notify: Notify | None = notify if notify is not None else self._desktop
        self._appearance = appearance
        if appearance is not None:
            ctk.set_appearance_mode(appearance)
        self._theme = ""
        """The theme setting last applied ("" before the first)."""
        self.time_format = DEFAULT_TIME_FORMAT
        self.notifications = True
        self.conversations: tuple[ev.Conversation, ...] = ()
        """The conversation list as the core last sent it (empty before it did)."""
        self.away: dict[str, str] = {}
        self.drafts: dict[str, str] = {}
        """What was typed in each conversation but not sent, while another is active."""
        self._roster: tuple[str, ...] = ()
        self.client: ChatClient | None = None
        self.closed = False
        self.bridge = QueueBridge(self, self._on_transport_event, self._on_tick)
        self.pane = ChatPane(self)
        self.dialog: ConnectDialog | None = None
        self.trust_dialog: TrustDialog | None = None
        self.password_dialog: PasswordDialog | None = None
        self.search_window: SearchWindow | None = None
        self.switcher: QuickSwitcher | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.earlier_refused = False
        """The session refused an earlier page on this connection (no history
        kept, not connected): scrolling up does not ask again until it changes."""
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
        settings = self.client.settings
        self._apply_settings(
            ev.SettingsChanged(
                theme=settings.theme,
                timestamps=settings.timestamps,
                notifications=settings.notifications,
            )
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
        if self._desktop is not None:
            self._desktop.close()
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
        # Page Up/Down in the (small) input page through the log instead.
        box.bind("<Prior>", lambda _e: self._page_log(-1))
        box.bind("<Next>", lambda _e: self._page_log(1))
        for key in SEARCH_KEYS:
            self.bind(key, self._focus_search)
            box.bind(key, self._focus_search)  # before Text's own "forward a character"
        search = self.pane.search_box
        for key in ("<Return>", "<KP_Enter>"):
            search.bind(key, _breaking(self.search))
        search.bind("<Down>", _breaking(self._to_results))
        search.bind("<Escape>", _breaking(self._leave_search))
        # Conversations: on the window, and on the fields whose own bindings
        # would take the key first (Ctrl+K deletes to the line's end in Tk).
        for key in SWITCHER_KEYS:
            for widget in (self, box, search):
                widget.bind(key, _breaking(self.open_switcher))
        for key in SETTINGS_KEYS:
            self.bind(key, _breaking(self.open_settings))
        for number, key in enumerate(SWITCH_KEYS, start=1):
            self.bind(key, _breaking(functools.partial(self.switch_to, number)))
        box._textbox.bind("<<Modified>>", self._on_input_changed, add=True)  # noqa: SLF001

    # --- stored history: scrollback and search ------------------------------------

    def bind_log(self, log: ChatLog) -> None:
        """Whatever brings the user to the top of a log asks for what came before."""
        inner = log._textbox  # noqa: SLF001 - the Tk Text inside the customtkinter box
        # Added beside Text's own bindings (which scroll after ours run).
        for sequence in ("<Button-4>", "<MouseWheel>", "<Prior>", "<Control-Home>"):
            inner.bind(sequence, self._after_log_scroll, add=True)
        scrollbar = log._y_scrollbar  # noqa: SLF001 - customtkinter's own scrollbar

        def scrolled(*args: Any) -> None:
            inner.yview(*args)
            if args and (args[0] == "moveto" or int(args[1]) < 0):
                self._check_log_top()

        scrollbar.configure(command=scrolled)

    def _after_log_scroll(self, event: tkinter.Event[Any]) -> None:
        if event.type == tkinter.EventType.MouseWheel and event.delta <= 0:
            return  # scrolling down
        # The Text's class binding scrolls after this one: look once it has.
        self.after_idle(self._check_log_top)

    def _page_log(self, pages: int) -> str:
        self.pane.display.yview_scroll(pages, "pages")
        if pages < 0:
            self._check_log_top()
        return "break"

    def _check_log_top(self) -> None:
        if not self.closed and self.pane.display.at_top():
            self.load_earlier()

    def load_earlier(self) -> None:
        """The log is at its top: ask for the page before it.

        The session sends one request at a time: it ignores this quietly
        while a page (or the catch-up) is on its way, and when none is left.
        The window stops asking once "start of history" shows, and after a
        refusal it must show (no history kept, not connected) until the
        connection changes, so each turn of the wheel does not repeat it.
        """
        if (
            self.client is None
            or self.closed
            or self.earlier_refused
            or self.pane.display.has_history_start()
        ):
            return
        events = self.client.load_earlier()
        # Anything said at once is a refusal: the page itself comes later.
        self.earlier_refused = bool(events)
        self._show(events)

    def _focus_search(self, _event: tkinter.Event[Any] | None = None) -> str:
        """Ctrl+F: to the search box, its words selected to type over."""
        entry = self.pane.search_box
        if self.has_focus():
            entry.focus_set()
        else:  # from the search window: no window manager may move it for us
            entry._entry.focus_force()  # noqa: SLF001
        if entry.get():
            entry.select_range(0, "end")
            entry.icursor("end")
        return "break"

    def search(self) -> None:
        """Enter in the search box: the session searches; results come later."""
        words = str(self.pane.search_box.get())
        if self.client is None or self.closed or not words.strip():
            return
        self._show(self.client.search(words))

    def show_context(self, message_id: int) -> None:
        """A result was opened: ask for the lines around it."""
        if self.client is not None and not self.closed:
            self._show(self.client.show_context(message_id))

    def _search_window(self) -> SearchWindow:
        if self.search_window is None:
            self.search_window = SearchWindow(
                self,
                on_open=self.show_context,
                open_link=self.open_link,
                on_hide=self._leave_search,
            )
            for key in SEARCH_KEYS:
                self.search_window.bind(key, self._focus_search)
            self.search_window.context.set_time_format(self.time_format)
        return self.search_window

    def _show_results(self, results: ev.SearchResults) -> None:
        window = self._search_window()
        waiting = self.focus_get() is self.pane.search_box._entry  # noqa: SLF001
        window.show_results(results)
        if waiting:  # the user is waiting for these: take them to the list
            self._to_results()

    def _to_results(self) -> None:
        window = self.search_window
        if window is not None and window.is_shown() and window.results.ids():
            window.results.focus_row(window.results.selected or 0)
            window.results._textbox.focus_force()  # noqa: SLF001 - no WM on some desktops

    def _leave_search(self) -> None:
        """Escape (in the box or the search window): back to typing chat."""
        # Forced: the keyboard may be in the search window, and without a
        # window manager (Xvfb, some tiling setups) nothing else moves it.
        self.pane.input._textbox.focus_force()  # noqa: SLF001

    def _show_earlier(self, page: ev.EarlierLines) -> None:
        self.pane.log(page.conversation).prepend(page.items, complete=not page.more)

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

    def _set_input(self, text: str, *, quiet: bool = False) -> None:
        """Put `text` in the input. `quiet`: not typing (a draft brought back),
        so the core is not told."""
        self.pane.input.delete("1.0", "end")
        self.pane.input.insert("1.0", text)
        self.pane.input.mark_set("insert", "end")
        if quiet:
            # <<Modified>> is queued: by the time it runs the flag is down.
            self.pane.input._textbox.edit_modified(False)  # noqa: SLF001

    def _on_input_changed(self, _event: tkinter.Event[Any]) -> None:
        """The input changed (typed, pasted, cleared): tell the core, which
        sends typing notices at its own pace (spec 12.6)."""
        box = self.pane.input._textbox  # noqa: SLF001
        if not box.edit_modified():
            return  # the flag going down fires this too
        box.edit_modified(False)
        if self.client is not None and not self.closed:
            self._show(self.client.typing(self._input_text()))

    def address(self, nick: str) -> None:
        """Clicking a user: the direct conversation with `nick` if there is
        one, else `/query nick ` in the input, to type the first line after
        (Enter opens the conversation)."""
        key = conversation_key(nick)
        for conversation in self.conversations:
            if (
                conversation.kind is ev.ConversationKind.DIRECT
                and conversation_key(conversation.name) == key
            ):
                self.switch_conversation(conversation.name)
                return
        self._set_input(f"/query {nick} ")
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

    def _attend(self, line: ev.ChatLine) -> None:
        """A mention or a private message: if nobody is looking, say so (and,
        with notifications on, ring and pop up a notification)."""
        if self.has_focus():
            return
        self.unseen += 1
        self._refresh_title()
        if not self.notifications:
            return
        self.bell()
        if self._notify is not None:
            title, body = notification_text(line)
            try:
                self._notify(title, body)
            except Exception:
                log.exception("showing a desktop notification failed")

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
            if isinstance(event, _DRAWN_BY_WINDOW):
                continue  # e.g. the trust dialog shows it; the log gets the outcome
            if isinstance(event, ev.ChatLine):
                self.pane.log(event.conversation).write(event)
                continue
            line = describe(event)
            if line is not None:
                self._log_of(event).write(line)

    def _log_of(self, event: ev.UiEvent) -> ChatLog:
        """Where a line about `event` goes: its conversation's log, else the
        active one (the user should see it where they are)."""
        match event:
            case ev.Notice(conversation=str(name)):
                return self.pane.log(name)
            case ev.Joined() | ev.Left():
                return self.pane.log(LOBBY)  # online or not: the lobby's news
            case _:
                return self.pane.display

    def _react(self, event: ev.UiEvent) -> None:
        """What an event does besides its line in the log."""
        match event:
            case (
                ev.RosterChanged()
                | ev.ConversationsChanged()
                | ev.SettingsChanged()
                | ev.Renamed()
            ):
                self._react_conversations(event)
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
            case (
                ev.DaySeparator()
                | ev.UnreadMarker()
                | ev.EarlierLines()
                | ev.SearchResults()
                | ev.Context()
            ):
                self._react_history(event)
            case ev.ChatLine() if (
                not event.recalled
                and not event.is_own
                and (event.is_direct or event.mentions_me)
            ):
                self._attend(event)

    def _react_conversations(
        self,
        event: ev.RosterChanged
        | ev.ConversationsChanged
        | ev.SettingsChanged
        | ev.Renamed,
    ) -> None:
        """Who is where, and how to draw it (issue 15)."""
        match event:
            case ev.Renamed(old=old, new=new, is_me=False):
                self.pane.rename_log(old, new)
                if old in self.drafts and new not in self.drafts:
                    self.drafts[new] = self.drafts.pop(old)
            case ev.RosterChanged(nicks=nicks):
                self._roster = nicks
                self._refresh_users()
            case ev.ConversationsChanged():
                self._show_conversations(event)
            case ev.SettingsChanged():
                self._apply_settings(event)

    def _react_history(
        self,
        event: ev.DaySeparator
        | ev.UnreadMarker
        | ev.EarlierLines
        | ev.SearchResults
        | ev.Context,
    ) -> None:
        """Stored history's events (issue 14)."""
        match event:
            case ev.DaySeparator():
                self.pane.log(event.conversation).separator(event)
            case ev.UnreadMarker():
                self.pane.log(event.conversation).mark_unread()
            case ev.EarlierLines():
                self._show_earlier(event)
            case ev.SearchResults():
                self._show_results(event)
            case ev.Context():
                self._search_window().show_context(event)

    def chat_text(self, conversation: str | None = None) -> str:
        """Everything in the active log, or in `conversation`'s ("" if it has
        none yet); for tests and accessibility tools."""
        if conversation is None:
            return self.pane.display.text()
        log = self.pane.logs.get(conversation)
        return "" if log is None else log.text()

    def _show_status(self, event: ev.ConnectionChanged) -> None:
        if not event.quiet:
            # A new connection may keep history: scrolling up may ask again.
            self.earlier_refused = False
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

    # --- members -----------------------------------------------------------------------

    def _refresh_users(self) -> None:
        """The user list: the active conversation's members (everyone online
        before the core lists conversations, as an older server)."""
        conversation = self.active_conversation()
        if conversation is None:
            self._show_users(self._roster, "Online")
        elif conversation.kind is ev.ConversationKind.LOBBY:
            self._show_users(conversation.members, "Online")
        else:
            self._show_users(conversation.members, "Members")

    def _show_users(self, nicks: tuple[str, ...], title: str) -> None:
        pane = self.pane
        buttons = pane.user_buttons
        for nick in set(buttons) - set(nicks):
            buttons.pop(nick).destroy()
            pane.user_tips.pop(nick).hide()
        for index, nick in enumerate(nicks):
            button = buttons.get(nick)
            if button is None:
                button = ctk.CTkButton(
                    pane.users,
                    text=nick,
                    anchor="w",
                    fg_color="transparent",
                    text_color=LINE_COLOURS[LineKind.CHAT],
                    hover_color=("gray80", "gray30"),
                    command=lambda n=nick: self.address(n),
                )
                buttons[nick] = button
                pane.user_tips[nick] = Tooltip(button)
            reason = self.away.get(nick)
            # Away: said in words beside the name, the reason in its tooltip.
            text = nick if reason is None else f"{nick} {AWAY_MARK}"
            if button.cget("text") != text:
                button.configure(text=text)
            pane.user_tips[nick].text = "" if reason is None else away_text(reason)
            button.grid(row=index, column=0, sticky="ew")
        pane.users_title.configure(text=f"{title} ({len(nicks)})")

    # --- conversations (issue 15) ---------------------------------------------------------

    def active_conversation(self) -> ev.Conversation | None:
        """The active entry of the list (None before the core sent one)."""
        return next((c for c in self.conversations if c.name == self.pane.active), None)

    @property
    def active(self) -> str:
        """The name of the conversation shown."""
        return self.pane.active

    def _show_conversations(self, event: ev.ConversationsChanged) -> None:
        self.conversations = event.conversations
        self.away = dict(event.away)
        self.pane.conversation_list.show(event.conversations, event.active)
        if event.active != self.pane.active:
            self._activate(event.active)
        self._refresh_header()
        self._refresh_users()
        self._refresh_typing()

    def _activate(self, name: str) -> None:
        """Show conversation `name`: its log, its draft, its header."""
        old = self.pane.active
        draft = self._input_text()
        if draft:
            self.drafts[old] = draft
        else:
            self.drafts.pop(old, None)
        log = self.pane.show_log(name)
        self._set_input(self.drafts.pop(name, ""), quiet=True)
        # A new conversation's history may be there to scroll up to.
        self.earlier_refused = False
        log.show_unread()

    def _refresh_header(self) -> None:
        pane = self.pane
        conversation = self.active_conversation()
        name = sanitize(pane.active)
        about = ""
        if conversation is not None and conversation.kind is ev.ConversationKind.DIRECT:
            name = f"@{name}"
            reason = self.away.get(conversation.name)
            if reason is not None:
                about = away_text(reason)
            elif not conversation.members:
                about = "offline"
            else:
                about = "private conversation"
        elif conversation is not None and conversation.topic:
            first, _ = split_lines(conversation.topic)
            about = first
        pane.header_name.configure(text=name)
        pane.header_topic.configure(text=about)

    def _refresh_typing(self) -> None:
        conversation = self.active_conversation()
        typing = conversation.typing if conversation is not None else ()
        self.pane.typing.configure(text=typing_text(typing))

    def typing_line(self) -> str:
        """Who is typing in the active conversation, as shown ("" for nobody)."""
        return str(self.pane.typing.cget("text"))

    def switch_conversation(self, name: str) -> None:
        """A click in the list (or the quick switcher): show `name`."""
        if self.client is not None and not self.closed:
            self._show(self.client.switch(name))
        self.pane.input.focus_set()

    def switch_to(self, number: int) -> None:
        """Alt+`number`: the `number`-th conversation of the list."""
        if self.client is not None and not self.closed:
            self._show(self.client.switch_to(number))

    def open_switcher(self) -> None:
        """Ctrl+K: the quick switcher."""
        if self.client is None or self.closed:
            return
        if self.switcher is None:
            self.switcher = QuickSwitcher(
                self,
                find=self._find_conversations,
                on_choose=self.switch_conversation,
                on_hide=self._back_to_input,
            )
        self.switcher.open()

    def _find_conversations(self, query: str) -> list[str]:
        if self.client is None:
            return []
        return self.client.find_conversations(query)

    def _back_to_input(self) -> None:
        # Forced: the keyboard may be in a closed window, and without a
        # window manager nothing else moves it.
        self.pane.input._textbox.focus_force()  # noqa: SLF001

    # --- settings ----------------------------------------------------------------------

    def open_settings(self) -> None:
        """Ctrl+comma, the ⚙ button: the settings dialog."""
        if self.client is None or self.closed:
            return
        if self.settings_dialog is None:
            self.settings_dialog = SettingsDialog(
                self, on_save=self._save_settings, on_hide=self._back_to_input
            )
        self.settings_dialog.open(self.client.settings)

    def _save_settings(self, changes: dict[str, Value]) -> None:
        """The dialog's Save: each change through the core, which saves it
        and answers with `SettingsChanged` (or says why not)."""
        if self.client is None or self.closed:
            return
        for key, value in changes.items():
            self._show(self.client.change_setting(key, value))

    def _apply_settings(self, settings: ev.SettingsChanged) -> None:
        """Draw with the settings from now on, shown lines included."""
        if settings.theme != self._theme:
            first = not self._theme
            self._theme = settings.theme
            # --appearance on the command line wins over the saved theme,
            # until the user picks one here.
            if not (first and self._appearance is not None):
                ctk.set_appearance_mode(settings.theme)
        self.time_format = settings.timestamps
        for chat_log in self.pane.logs.values():
            chat_log.set_time_format(settings.timestamps)
        if self.search_window is not None:
            self.search_window.context.set_time_format(settings.timestamps)
        self.notifications = settings.notifications


AWAY_MARK = "(away)"


def away_text(reason: str) -> str:
    """How an away nick's reason reads (a tooltip, the header)."""
    first, _ = split_lines(reason)
    return f"away: {first}" if first else "away"


def notification_text(line: ev.ChatLine) -> tuple[str, str]:
    """The title and body of a desktop notification for `line`."""
    sender = sanitize(line.sender)
    if line.is_direct:
        title = f"{sender} (private message)"
    else:
        title = f"{sender} in {sanitize(line.conversation)}"
    first, more = split_lines(line.text)
    body = f"* {sender} {first}" if line.action else first
    if len(body) > NOTIFY_BODY_CHARS:
        body = body[: NOTIFY_BODY_CHARS - 1] + "…"
    if more:
        body += f" (+{len(more)} more line{'s' if len(more) > 1 else ''})"
    return title, body
