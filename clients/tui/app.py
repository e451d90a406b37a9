"""`ChatApp`: the Textual client. Widgets, styling and marshalling only.

Every line typed goes to the session core; transport threads reach the app
only through `post_message` (thread-safe), and `on_transport_message` feeds
the event to the core on Textual's own loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Concatenate, ParamSpec

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, RichLog, Static

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
from clients.tui.messages import TransportMessage

STYLES = {
    LineKind.CHAT: "",
    LineKind.OWN: "bold",
    LineKind.DIRECT: "bold magenta",
    LineKind.MENTION: "bold yellow",
    LineKind.SYSTEM: "italic dim",
    LineKind.ERROR: "red",
}
TICK_SECONDS = 0.25

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


class NickScreen(ModalScreen[str | None]):
    """Asks for a nickname, checked by the server's rules before connecting."""

    BINDINGS = [Binding("escape", "cancel", "Quit")]  # noqa: RUF012 - Textual's API

    def __init__(self, server: str) -> None:
        super().__init__()
        self._server = server

    def compose(self) -> ComposeResult:
        with Vertical(id="nick-box"):
            yield Label(f"Chinwag on {self._server}\nChoose a nickname:")
            yield Input(placeholder="your nickname", id="nick-input", max_length=64)
            yield Label("", id="nick-error")
            with Horizontal(id="nick-buttons"):
                yield Button("Quit", id="cancel")
                yield Button("Connect", variant="primary", id="connect")

    def on_mount(self) -> None:
        self.query_one("#nick-input", Input).focus()

    @on(Input.Submitted, "#nick-input")
    @on(Button.Pressed, "#connect")
    def _connect(self) -> None:
        raw = self.query_one("#nick-input", Input).value
        try:
            nick = validate_nick(raw)
        except CommandError as exc:
            self.query_one("#nick-error", Label).update(str(exc))
            return
        self.dismiss(nick)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ChatInput(Input):
    """The message line: Up/Down for history, Tab for nick completion."""

    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding(
            "tab", "app.complete", "Complete nick", key_display="Tab", priority=True
        ),
        Binding("up", "app.history_older", "History", key_display="↑↓"),
        Binding("down", "app.history_newer", show=False),
        Binding("ctrl+enter", "submit", show=False),
    ]


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

    @property
    def server_label(self) -> str:
        return address_label(self._host, self._port)

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield RichLog(id="log", wrap=True, markup=False, auto_scroll=False)
            yield OptionList(id="users")
        yield ChatInput(
            id="input", placeholder="Message everyone · @nick for private · /help"
        )
        yield Static(f"{self.server_label} · not connected", id="status")
        yield Footer()

    # The main widgets live on the base screen; query it rather than the
    # active screen, which may be the nick prompt.
    @property
    def chat_log(self) -> RichLog:
        return self.screen_stack[0].query_one("#log", RichLog)

    @property
    def user_list(self) -> OptionList:
        return self.screen_stack[0].query_one("#users", OptionList)

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
        if self._nick is None:
            self.push_screen(NickScreen(self.server_label), self._nick_chosen)
        else:
            self._start(self._nick)

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

    @on(Input.Submitted, "#input")
    @guarded
    def _submit(self, event: Input.Submitted) -> None:
        if self.client is None:
            return
        result = self.client.submit(event.value)
        if result.accepted:
            event.input.value = ""
        self._show(result.events)

    @guarded
    def action_history_older(self) -> None:
        if self.client is not None:
            self._replace_input(
                self.client.session.history.older(self.message_input.value)
            )

    @guarded
    def action_history_newer(self) -> None:
        if self.client is not None:
            self._replace_input(self.client.session.history.newer())

    @guarded
    def action_complete(self) -> None:
        if self.client is not None:
            self._replace_input(self.client.session.complete(self.message_input.value))

    @on(OptionList.OptionSelected, "#users")
    @guarded
    def _address_user(self, event: OptionList.OptionSelected) -> None:
        self._replace_input(f"@{event.option.prompt} ")
        self.message_input.focus()

    def _replace_input(self, text: str | None) -> None:
        """Put `text` in the input line, cursor at the end; None changes nothing."""
        if text is not None:
            box = self.message_input
            box.value = text
            box.cursor_position = len(text)

    def report_internal_error(self) -> None:
        """Tell the user something broke, without a traceback (that is in the log)."""
        self._write(
            DisplayLine(LineKind.ERROR, "internal error; details are in the log file")
        )

    def action_leave(self) -> None:
        self._leaving = True
        if self.client is not None:
            self.client.close("leaving")
        self.exit()

    def on_unmount(self) -> None:
        self._leaving = True
        if self.client is not None:
            self.client.close("leaving")

    # --- rendering --------------------------------------------------------------

    def _show(self, events: list[ev.UiEvent]) -> None:
        for event in events:
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
                case ev.ChatLine() if not event.is_own and (
                    event.is_direct or event.mentions_me
                ):
                    self._alert(event)
            line = describe(event)
            if line is not None:
                self._write(line)

    def _write(self, line: DisplayLine) -> None:
        log = self.chat_log
        following = log.scroll_offset.y >= log.max_scroll_y
        text = Text()
        if line.time:
            text.append(f"{line.time} ", style="dim")
        text.append(line.text, style=STYLES[line.kind])
        log.write(text, scroll_end=following)

    def _alert(self, line: ev.ChatLine) -> None:
        log = self.chat_log
        scrolled_up = log.scroll_offset.y < log.max_scroll_y
        if scrolled_up or not self.app_focus:
            what = "private message" if line.is_direct else "mention"
            self.bell()
            self.notify(f"{line.sender}: {line.text}", title=f"New {what}")

    def _show_status(self, event: ev.ConnectionChanged) -> None:
        status = self.status_bar
        status.update(status_text(event))
        status.set_class(event.status is ev.ConnectionStatus.CONNECTED, "connected")
        status.set_class(
            event.status
            in (ev.ConnectionStatus.RECONNECTING, ev.ConnectionStatus.DISCONNECTED),
            "trouble",
        )
        self.sub_title = f"{event.nick} @ {event.server}"
