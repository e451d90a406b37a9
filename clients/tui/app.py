"""`ChatApp`: the Textual client. Widgets, styling and marshalling only.

Every line typed goes to the session core; transport threads reach the app
only through `post_message` (thread-safe), and `on_transport_message` feeds
the event to the core on Textual's own loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from typing import Concatenate, ParamSpec

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
from clients.core.session import ChatSession
from clients.core.transport import Transport, TransportEvent
from clients.tui.chat_log import ChatLog, LogEntry
from clients.tui.messages import TransportMessage
from clients.tui.screens import NickScreen, PasteScreen
from clients.tui.widgets import ChatInput, PendingArea, normalize_breaks

TICK_SECONDS = 0.25
LEAVE_REASON = "leaving"
_TOAST_CHARS = 200
# SIGTERM (kill, shutdown) and SIGHUP (terminal closed) end the app the way
# Ctrl+C does: Bye to the server, terminal restored.
_EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

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
        transport_factory: how connections are made (tests pass a fake).
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
    ]

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9090,
        nick: str | None = None,
        transport_factory: TransportFactory = Transport,
    ) -> None:
        super().__init__()
        self._host = host
        self._port = port
        self._nick = nick
        self._factory = transport_factory
        self.client: ChatClient | None = None
        self._leaving = False
        self._signals: list[signal.Signals] = []

    @property
    def server_label(self) -> str:
        return address_label(self._host, self._port)

    def compose(self) -> ComposeResult:
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

    def on_mount(self) -> None:
        self.user_list.border_title = "Online"
        self.chat_log.border_title = "Chat"
        self.message_input.focus()
        self._catch_signals()
        if self._nick is None:
            self.push_screen(NickScreen(self.server_label), self._nick_chosen)
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
        try:
            self.action_leave()
        except Exception:
            log.exception("error while leaving on %s", number.name)
            self.exit()

    def _nick_chosen(self, nick: str | None) -> None:
        if nick is None:
            self.exit()
            return
        self.message_input.focus()
        self._start(nick)

    def _start(self, nick: str) -> None:
        session = ChatSession(nick=nick, server=self.server_label)
        self.client = ChatClient(
            session, self._host, self._port, self._sink, transport_factory=self._factory
        )
        self._show(self.client.start())
        self.set_interval(TICK_SECONDS, self._tick)

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
        self.chat_log.page(direction)

    def jump_to_end(self) -> None:
        self.chat_log.jump_to_end()

    # --- other input ----------------------------------------------------------------

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
            for_you = False
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
                case ev.ChatLine() if not event.is_own and (
                    event.is_direct or event.mentions_me
                ):
                    for_you = True
            line = describe(event)
            if line is not None:
                self._write(line, for_you=for_you)
            if for_you and isinstance(event, ev.ChatLine):
                self._alert(event)

    def _write(self, line: DisplayLine, *, for_you: bool = False) -> None:
        self.chat_log.add(LogEntry(line, for_you))

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
        status = self.status_bar
        status.update(Text(status_text(event)))
        status.set_class(event.status is ev.ConnectionStatus.CONNECTED, "connected")
        status.set_class(
            event.status
            in (ev.ConnectionStatus.RECONNECTING, ev.ConnectionStatus.DISCONNECTED),
            "trouble",
        )
        self.sub_title = f"{event.nick} @ {event.server}"
