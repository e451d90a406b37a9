"""`ChatApp`: the Textual client. Widgets, styling and marshalling only.

Every line typed goes to the session core; transport threads reach the app
only through `post_message` (thread-safe), and `on_transport_message` feeds
the event to the core on Textual's own loop. The session's questions (trust
a certificate, give a password) are modal screens; a connection that ends
for good leaves its reason in a bar above the log. With a server that keeps
history, scrolling above the first line asks the core for an earlier page,
and search results (and the lines around one) show in a modal screen.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec

import attrs
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, OptionList, Static

from clients.core import events as ev
from clients.core.client import ChatClient, TransportFactory
from clients.core.formatting import (
    DisplayLine,
    LineKind,
    address_label,
    describe,
    sanitize,
    split_lines,
    status_text,
)
from clients.core.launch import Security, build_client
from clients.core.transport import TransportEvent
from clients.tui.chat_log import ChatLog, LogEntry, RuleKind, is_for_you, log_entry
from clients.tui.messages import TransportMessage
from clients.tui.screens import (
    NickChoice,
    NickScreen,
    PasswordAnswer,
    PasswordScreen,
    PasteScreen,
    SearchScreen,
    TrustScreen,
)
from clients.tui.widgets import AlertBanner, ChatInput, PendingArea, normalize_breaks

TICK_SECONDS = 0.25
LEAVE_REASON = "leaving"
_TOAST_CHARS = 200
NOT_ENCRYPTED_MARK = "⚠ "
"""Before the status of a plaintext connection (warning colour too, but
colour alone is lost on monochrome terminals and to many colour-blind users)."""
# SIGTERM (kill, shutdown) and SIGHUP (terminal closed) end the app the way
# Ctrl+C does: Bye to the server, terminal restored.
_EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
EXIT_DEADLINE_SECONDS = 5
"""After an exit signal, the process ends this much later at the latest.

With its terminal gone (SIGHUP when the window or the tmux server is
closed), Textual's shutdown can block for good on a write nobody reads
(its writer queue full), leaving a process that never exits. SIGALRM's
default action ends it; `main` cancels the alarm once the app is out."""

EARLIER_PATIENCE_SECONDS = 5.0
"""Scrolling at the top asks for an earlier page at most this often while
the last request is unanswered (the session ignores repeats anyway; this
keeps a spinning wheel from calling it at every step). An answer, or the
connection ending, lets it ask again at once."""

log = logging.getLogger(__name__)

_P = ParamSpec("_P")


def guarded(
    handler: Callable[Concatenate[ChatApp, _P], None],
) -> Callable[Concatenate[ChatApp, _P], None]:
    """Keep a bug in one handler from ending the app with a traceback.

    Textual exits and prints the traceback when a handler raises; here the
    error goes to the log and the user gets one line saying so.
    """

    @functools.wraps(handler)
    def wrapper(app: ChatApp, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            handler(app, *args, **kwargs)
        except Exception:
            log.exception("error in %s", handler.__name__)
            app.report_internal_error()

    return wrapper


class UserList(OptionList, can_focus=False):
    """Who is online. Clicking a nick addresses them; it never takes the focus
    from the input line (so typing always lands there and Tab cannot get stuck)."""


class ChatApp(App[None]):
    """The Chinwag terminal client.

    Args:
        host: server host.
        port: server port.
        nick: the nickname; None shows the nickname prompt first.
        security: TLS, certificate trust and login (`--plaintext`,
            `--trust-new`, `--login`); None is for tests on a fake
            transport: no encryption, no pins, no saved logins.
        transport_factory: how connections are made (tests pass a fake;
            None: a real connection, with TLS as `security` says).
    """

    CSS_PATH = "chat.tcss"
    TITLE = "Chinwag"
    # Below 60 columns the user list gives its room to the chat (see chat.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (60, "-wide")]  # noqa: RUF012 - Textual's API
    # Below 16 rows the footer's key hints give their row to the chat.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (16, "-tall")]  # noqa: RUF012 - Textual's API
    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding("ctrl+c", "leave", "Quit", priority=True),
        Binding("ctrl+q", "leave", "Quit", priority=True, show=False),
        Binding("escape", "hide_banner", "Hide the alert"),
    ]

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9090,
        nick: str | None = None,
        security: Security | None = Security(),  # noqa: B008 - frozen, shared safely
        transport_factory: TransportFactory | None = None,
    ) -> None:
        super().__init__()
        self._host = host
        self._port = port
        self._nick = nick
        self._security = security
        self._factory = transport_factory
        self.client: ChatClient | None = None
        self.trust_screen: TrustScreen | None = None
        self.password_screen: PasswordScreen | None = None
        self.search_screen: SearchScreen | None = None
        self._earlier_asked: float | None = None
        """When the unanswered request for an earlier page went (monotonic)."""
        self._history_start = False
        """The start of the stored history is on screen: no more pages."""
        self._scrollback_off = False
        """Asking for a page was refused (no history here, not connected):
        scrolling does not ask again until the next connection."""
        self._leaving = False
        self._signals: list[signal.Signals] = []

    @property
    def server_label(self) -> str:
        return address_label(self._host, self._port)

    def compose(self) -> ComposeResult:
        yield AlertBanner(id="banner")
        with Horizontal(id="body"):
            yield ChatLog(id="log")
            yield UserList(id="users")
        yield PendingArea(id="pending")
        yield ChatInput(
            owner=self,
            id="input",
            placeholder="Message everyone · @nick for private · /help",
        )
        yield Static(Text(f"{self.server_label} · not connected"), id="status")
        yield Footer()

    # The main widgets live on the base screen; query it rather than the
    # active screen, which may be a modal.
    @property
    def chat_log(self) -> ChatLog:
        return self.screen_stack[0].query_one("#log", ChatLog)

    @property
    def user_list(self) -> UserList:
        return self.screen_stack[0].query_one("#users", UserList)

    @property
    def pending_area(self) -> PendingArea:
        return self.screen_stack[0].query_one("#pending", PendingArea)

    @property
    def status_bar(self) -> Static:
        return self.screen_stack[0].query_one("#status", Static)

    @property
    def message_input(self) -> ChatInput:
        return self.screen_stack[0].query_one("#input", ChatInput)

    @property
    def banner(self) -> AlertBanner:
        return self.screen_stack[0].query_one("#banner", AlertBanner)

    def on_mount(self) -> None:
        self.user_list.border_title = "Online"
        self.chat_log.border_title = "Chat"
        self.message_input.focus()
        self._catch_signals()
        if self._nick is None:
            login = None if self._security is None else self._security.login
            self.push_screen(
                NickScreen(self.server_label, login=login), self._nick_chosen
            )
        else:
            self._start(self._nick)

    def _catch_signals(self) -> None:
        if self.is_headless:
            return  # under Pilot the test runner owns the process's signals
        loop = asyncio.get_running_loop()
        for number in _EXIT_SIGNALS:
            try:
                loop.add_signal_handler(number, self._on_exit_signal, number)
            except (NotImplementedError, RuntimeError, ValueError):
                log.warning("cannot catch %s here", number.name)
            else:
                self._signals.append(number)

    def _on_exit_signal(self, number: signal.Signals) -> None:
        log.info("%s: leaving", number.name)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(EXIT_DEADLINE_SECONDS)
        try:
            self.action_leave()
        except Exception:
            log.exception("error while leaving on %s", number.name)
            self.exit()

    def _nick_chosen(self, choice: NickChoice | None) -> None:
        if choice is None:
            self.exit()
            return
        if self._security is not None:
            # --plaintext and --trust-new stay as the command line said.
            self._security = attrs.evolve(self._security, login=choice.login)
        self.message_input.focus()
        self._start(choice.nick)

    def _start(self, nick: str) -> None:
        self.client = build_client(
            self._host,
            self._port,
            nick,
            self._sink,
            security=self._security,
            transport_factory=self._factory,
        )
        self.set_interval(TICK_SECONDS, self._tick)
        self._show(self.client.start())

    def _sink(self, event: TransportEvent) -> None:
        # Called on a transport thread: post_message is the thread-safe way in.
        self.post_message(TransportMessage(event))

    @guarded
    def on_transport_message(self, message: TransportMessage) -> None:
        if self.client is None:
            return
        events = self.client.handle(message.event)
        if self._leaving or not self.screen_stack or not self.is_running:
            # Shutting down: a late "closed" from the transport has nowhere to go.
            return
        self._show(events)

    @guarded
    def _tick(self) -> None:
        if self.client is not None:
            self._show(self.client.tick())

    # --- what the input line asks (`InputOwner`) ------------------------------------

    def submit_text(self, text: str) -> bool:
        """Hand the whole text (line breaks and all) to the session core."""
        if self.client is None:
            return False
        try:
            result = self.client.submit(normalize_breaks(text))
        except Exception:
            log.exception("error submitting a line")
            self.report_internal_error()
            return False
        self._show(result.events)
        return result.accepted

    def complete(self, text: str) -> str | None:
        return self._ask(lambda client: client.session.complete(text))

    def older(self, text: str) -> str | None:
        return self._ask(lambda client: client.session.history.older(text))

    def newer(self) -> str | None:
        return self._ask(lambda client: client.session.history.newer())

    def _ask(self, question: Callable[[ChatClient], str | None]) -> str | None:
        """`question(client)`, or None (no change) without a client or on a bug."""
        if self.client is None:
            return None
        try:
            return question(self.client)
        except Exception:
            log.exception("error in the input line")
            self.report_internal_error()
            return None

    def confirm_paste(self, text: str) -> None:
        def decided(send: str | None) -> None:
            box = self.message_input
            if send is not None and self.submit_text(send):
                box.set_text("")
            else:
                box.set_text(text)  # cancelled or refused: keep it to edit
            box.focus()

        self.push_screen(PasteScreen(text), decided)

    def page_log(self, direction: int) -> None:
        # Page Up at the top posts ChatLog.EarlierWanted: see below.
        self.chat_log.page(direction)

    def jump_to_end(self) -> None:
        self.chat_log.jump_to_end()

    # --- other input ----------------------------------------------------------------

    def on_chat_log_earlier_wanted(self, message: ChatLog.EarlierWanted) -> None:
        if message.log is self.chat_log:
            self._ask_earlier()

    @guarded
    def _ask_earlier(self) -> None:
        """The user scrolled up past the first line: ask for an earlier page,
        once at a time, until the start of the history is shown."""
        client = self.client
        if client is None or self._history_start or self._scrollback_off:
            return
        if client.session.catching_up:
            return  # the session would ignore it; ask again once caught up
        now = time.monotonic()
        asked = self._earlier_asked
        if asked is not None and now - asked < EARLIER_PATIENCE_SECONDS:
            return
        self._earlier_asked = now
        events = client.load_earlier()
        if any(isinstance(event, ev.Notice) for event in events):
            # Refused at once: said once, not at every turn of the wheel.
            self._earlier_asked = None
            self._scrollback_off = True
        self._show(events)

    @on(OptionList.OptionSelected, "#users")
    @guarded
    def _address_user(self, event: OptionList.OptionSelected) -> None:
        self.message_input.set_text(f"@{event.option.prompt} ")
        self.message_input.focus()

    def report_internal_error(self) -> None:
        """Tell the user something broke, without a traceback (that is in the log)."""
        self._write(
            DisplayLine(LineKind.ERROR, "internal error; details are in the log file")
        )

    def check_action(
        self,
        action: str,
        parameters: tuple[object, ...],  # noqa: ARG002 - Textual's signature
    ) -> bool | None:
        if action == "hide_banner":
            # Only while it is shown: Escape is free otherwise, and the
            # footer shows the key only when it does something.
            if not self.screen_stack:
                return False
            banners = self.screen_stack[0].query("#banner").results(AlertBanner)
            return any(banner.display for banner in banners)
        return True

    def action_hide_banner(self) -> None:
        self.banner.hide()
        self.refresh_bindings()

    def on_alert_banner_hidden(self) -> None:
        self.refresh_bindings()

    def action_leave(self) -> None:
        self._leaving = True
        if self.client is not None:
            self.client.close(LEAVE_REASON)
        self.exit()

    def on_unmount(self) -> None:
        self._leaving = True
        if self._signals:
            loop = asyncio.get_running_loop()
            for number in self._signals:
                loop.remove_signal_handler(number)
            self._signals = []
        if self.client is not None:
            self.client.close(LEAVE_REASON)

    # --- rendering --------------------------------------------------------------

    def _show(self, events: list[ev.UiEvent]) -> None:
        for event in events:
            if self._show_history(event):
                continue
            for_you = self._react(event)
            if isinstance(event, ev.TrustQuestion):
                continue  # the screen shows it; the log gets the outcome
            line = describe(event)
            if line is not None:
                # What the client itself says (a warning, /help) is read
                # from its first line; chat follows the newest row.
                self._write(
                    line, for_you=for_you, from_start=not isinstance(event, ev.ChatLine)
                )
            if for_you and isinstance(event, ev.ChatLine) and not event.recalled:
                # A stored line (missed while away) is shown, marked, but
                # rings nothing: it is not news arriving now.
                self._alert(event)

    def _show_history(self, event: ev.UiEvent) -> bool:
        """Show an event of the stored history; False for any other event."""
        match event:
            case ev.DaySeparator():
                self.chat_log.add(log_entry(event))
            case ev.UnreadMarker():
                log = self.chat_log
                log.remove_rules(RuleKind.UNREAD)  # only the newest is shown
                log.add(LogEntry.ruled(RuleKind.UNREAD))
            case ev.EarlierLines(items=items, more=more):
                self._earlier_asked = None
                if not more:
                    self._history_start = True
                entries = [log_entry(item) for item in items]
                self.chat_log.prepend(entries, start=not more)
            case ev.SearchResults():
                self._show_results(event)
            case ev.Context():
                screen = self.search_screen
                if screen is not None and screen in self.screen_stack:
                    screen.show_context(event)
                # else the box was closed meanwhile: nobody waits for it
            case _:
                return False
        return True

    def _react(self, event: ev.UiEvent) -> bool:
        """What `event` does besides its line in the log.

        Returns:
            True for a chat line meant for the user (a DM or a mention).
        """
        match event:
            case ev.RosterChanged(nicks=nicks):
                users = self.user_list
                users.clear_options()
                users.add_options(nicks)
                users.border_title = f"Online ({len(nicks)})"
            case ev.ConnectionChanged():
                self._show_status(event)
            case ev.ClearRequested():
                self.chat_log.clear()
            case ev.ExitRequested():
                self.exit()
            case ev.Pending() | ev.PendingDone():
                self.pending_area.show_event(event)
            case ev.TrustQuestion():
                self._ask_trust(event)
            case ev.PasswordRequest():
                self._ask_password(event)
            case ev.ChatLine():
                return is_for_you(event)
        return False

    def _write(
        self, line: DisplayLine, *, for_you: bool = False, from_start: bool = False
    ) -> None:
        self.chat_log.add(LogEntry(line, for_you), from_start=from_start)

    def _alert(self, line: ev.ChatLine) -> None:
        """A private message or a mention the user may not see: bell and toast.

        "May not see" is: the terminal does not have the focus (focus
        reporting, `ESC[?1004h`, which Textual turns on), or the log is
        scrolled up so the line arrived below the view.
        """
        if self.app_focus and self.chat_log.following:
            return
        what = "private message" if line.is_direct else "mention"
        first, more = split_lines(line.text)
        text = first if len(first) <= _TOAST_CHARS else first[:_TOAST_CHARS] + "…"
        if more:
            text += f" (+{len(more)} more line{'s' if len(more) > 1 else ''})"
        self.bell()
        self.notify(
            f"{sanitize(line.sender)}: {text}",
            title=f"New {what}",
            markup=False,
            timeout=10,
        )

    def _show_status(self, event: ev.ConnectionChanged) -> None:
        if event.status is not ev.ConnectionStatus.CONNECTED:
            self._earlier_asked = None  # that request is gone with the connection
        else:
            self._scrollback_off = False  # a new connection may answer
        status = self.status_bar
        plaintext = (
            event.status is ev.ConnectionStatus.CONNECTED and not event.encrypted
        )
        text = status_text(event)
        status.update(Text(NOT_ENCRYPTED_MARK + text if plaintext else text))
        status.set_class(
            event.status is ev.ConnectionStatus.CONNECTED and not plaintext,
            "connected",
        )
        status.set_class(plaintext, "plaintext")
        status.set_class(
            event.status
            in (ev.ConnectionStatus.RECONNECTING, ev.ConnectionStatus.DISCONNECTED),
            "trouble",
        )
        ended = event.status is ev.ConnectionStatus.DISCONNECTED
        # Nobody is online for a client that stopped connecting: the log
        # takes the user list's columns, for the reason to be read whole.
        self.screen_stack[0].set_class(ended, "ended")
        if ended and event.detail:
            self.banner.show("Not connected", event.detail)
        elif not ended:
            self.banner.hide()
        self.refresh_bindings()
        self.sub_title = f"{event.nick} @ {event.server}"

    # --- the session's questions -----------------------------------------------------

    def _ask_trust(self, question: ev.TrustQuestion) -> None:
        screen = self.trust_screen
        if screen is not None and screen in self.screen_stack:
            screen.ask(question)  # the session asks anew: one screen, one answer
            return
        screen = self.trust_screen = TrustScreen(question)
        self.push_screen(screen, functools.partial(self._answer_trust, screen))

    @guarded
    def _answer_trust(self, screen: TrustScreen, yes: bool | None) -> None:
        if self.trust_screen is screen:
            self.trust_screen = None
        self.message_input.focus()
        if self.client is not None and not self._leaving:
            self._show(self.client.answer_trust(bool(yes)))

    def _ask_password(self, request: ev.PasswordRequest) -> None:
        screen = self.password_screen
        if screen is not None and screen in self.screen_stack:
            screen.ask(request)  # replaced: only the newest question is answered
            return
        screen = self.password_screen = PasswordScreen(request)
        self.push_screen(screen, functools.partial(self._answer_password, screen))

    @guarded
    def _answer_password(
        self, screen: PasswordScreen, answer: PasswordAnswer | None
    ) -> None:
        if self.password_screen is screen:
            self.password_screen = None
        self.message_input.focus()
        if answer is None or self.client is None or self._leaving:
            return
        self._show(
            self.client.answer_password(
                answer.request_id, answer.password, answer.repeat
            )
        )

    # --- search -------------------------------------------------------------------------

    def _show_results(self, results: ev.SearchResults) -> None:
        screen = self.search_screen
        if screen is not None and screen in self.screen_stack:
            screen.show_results(results)  # a newer search: the same box
            return
        screen = self.search_screen = SearchScreen(
            results, open_context=self._open_context
        )
        self.push_screen(screen, functools.partial(self._search_closed, screen))

    def _search_closed(self, screen: SearchScreen, _result: None) -> None:
        if self.search_screen is screen:
            self.search_screen = None
        self.message_input.focus()

    @guarded
    def _open_context(self, message_id: int) -> None:
        """Enter on a search result: ask for the lines around it."""
        if self.client is None or self._leaving:
            return
        events = self.client.show_context(message_id)
        screen = self.search_screen
        for event in events:
            if isinstance(event, ev.Notice) and screen is not None:
                screen.tell(event.text)  # in the box, not only the log behind it
        self._show(events)
