"""`ChatApp`: the Textual client. Widgets, styling and marshalling only.

Every line typed goes to the session core; transport threads reach the app
only through `post_message` (thread-safe), and `on_transport_message` feeds
the event to the core on Textual's own loop. The session's questions (trust
a certificate, give a password) are modal screens; a connection that ends
for good leaves its reason in a bar above the log. With a server that keeps
history, scrolling above the first line asks the core for an earlier page,
and search results (and the lines around one) show in a modal screen.

Each conversation (#lobby, a room, a direct one) has its own log, input
draft and member list; the numbered list on the left, Alt+1..9 and Ctrl+K
switch between them through the core, which says what is active.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
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
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Footer, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from clients.core import events as ev
from clients.core.client import ChatClient, TransportFactory, settings_event
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
from clients.tui.chat_log import (
    DEFAULT_TIMESTAMPS,
    ChatLog,
    LogEntry,
    RuleKind,
    is_for_you,
    log_entry,
    restamped,
)
from clients.tui.conversations import (
    LOBBY_KEY,
    LOBBY_ONLY,
    ConversationList,
    SwitcherScreen,
    activity,
    conversation_key,
    entry_row,
    member_prompt,
    typing_text,
)
from clients.tui.keys import read_alt_digits
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
from protocol import nick_key

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


THEMES = {"light": "textual-light", "dark": "textual-dark", "system": "textual-dark"}
"""The `theme` setting as Textual themes ("system": a terminal does not say
whether it is light or dark, so the default)."""
SWITCHER_ROW_WIDTH = 40
LOBBY_PLACEHOLDER = "Message everyone · @nick for private · /help"


def placeholder(item: ev.Conversation | None) -> str:
    """What the empty input line says: where a line typed there goes."""
    if item is None or item.kind is ev.ConversationKind.LOBBY:
        return LOBBY_PLACEHOLDER
    name = sanitize(item.name)
    if item.kind is ev.ConversationKind.DIRECT:
        return f"Message {name} (private) · /help"
    return f"Message {name} · /help"


class UserList(OptionList, can_focus=False):
    """Who is in the active conversation. Clicking a nick addresses them; it
    never takes the focus from the input line (so typing always lands there
    and Tab cannot get stuck)."""


@attrs.define(eq=False)
class ConversationView:
    """What the app keeps of one conversation: its log, the draft left in
    the input line when the user went elsewhere, and its scrollback state."""

    name: str
    log: ChatLog
    draft: str = ""
    earlier_asked: float | None = None
    """When the unanswered request for an earlier page went (monotonic)."""
    history_start: bool = False
    """The start of its stored history is on screen: no more pages."""


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
    # Below 60 columns the conversation and user lists give their room to
    # the chat; from 110 they are wider (see chat.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (60, "-wide"), (110, "-widest")]  # noqa: RUF012 - Textual's API
    # Below 16 rows the footer's key hints give their row to the chat.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (16, "-tall")]  # noqa: RUF012 - Textual's API
    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding("ctrl+c", "leave", "Quit", priority=True),
        Binding("ctrl+q", "leave", "Quit", priority=True, show=False),
        Binding("escape", "hide_banner", "Hide the alert"),
        # Priority: Ctrl+K would delete to the end of the line in the input.
        # Not in the footer, which is full at 80 columns: the conversation
        # list's frame names it.
        Binding("ctrl+k", "switcher", "Switch", show=False, priority=True),
        *(
            Binding(f"alt+{n}", f"switch_to({n})", show=False, priority=True)
            for n in range(1, 10)
        ),
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
        self.switcher_screen: SwitcherScreen | None = None
        self._log_ids = itertools.count()
        self._views: dict[str, ConversationView] = {LOBBY_KEY: self._new_view("#lobby")}
        self._active = LOBBY_KEY
        self._conversations: ev.ConversationsChanged | None = None
        """The core's list, once it sent one (before: #lobby alone)."""
        self._roster: tuple[str, ...] = ()
        self._connection: ev.ConnectionChanged | None = None
        self._timestamps = DEFAULT_TIMESTAMPS
        self._notify_on = True
        self._quiet_text: str | None = None
        """A draft just put back in the input line: its change is not typing."""
        self._sending = False
        """A line is being submitted: what the input line holds is not a draft."""
        self._scrollback_off = False
        """Asking for a page was refused (no history here, not connected):
        scrolling does not ask again until the next connection."""
        self._leaving = False
        self._signals: list[signal.Signals] = []
        read_alt_digits()

    @property
    def server_label(self) -> str:
        return address_label(self._host, self._port)

    def compose(self) -> ComposeResult:
        yield AlertBanner(id="banner")
        with Horizontal(id="body"):
            yield ConversationList(id="conversations")
            with Vertical(id="middle"):
                yield Static("", id="topic")
                lobby = self._views[LOBBY_KEY].log
                with ContentSwitcher(id="logs", initial=lobby.id):
                    yield lobby
            yield UserList(id="users")
        yield PendingArea(id="pending")
        yield Static("", id="typing")
        yield ChatInput(
            owner=self,
            id="input",
            placeholder=LOBBY_PLACEHOLDER,
        )
        yield Static(Text(self._status_line()), id="status")
        yield Footer()

    @property
    def chat_log(self) -> ChatLog:
        """The active conversation's log."""
        return self._views[self._active].log

    @property
    def views(self) -> dict[str, ConversationView]:
        """Every conversation's view, by `conversation_key`."""
        return dict(self._views)

    @property
    def active_view(self) -> ConversationView:
        return self._views[self._active]

    def log_of(self, name: str) -> ChatLog:
        """The log of conversation `name` (made empty if it had none)."""
        return self._view(name).log

    # The main widgets live on the base screen; query it rather than the
    # active screen, which may be a modal.
    @property
    def conversation_list(self) -> ConversationList:
        return self.screen_stack[0].query_one("#conversations", ConversationList)

    @property
    def typing_line(self) -> Static:
        return self.screen_stack[0].query_one("#typing", Static)

    @property
    def topic_line(self) -> Static:
        return self.screen_stack[0].query_one("#topic", Static)

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
        self.conversation_list.border_title = "Chats"
        self.conversation_list.border_subtitle = "^K find"
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
        self._show([settings_event(self.client.settings)])
        self.refresh_bindings()
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
        self._sending = True
        try:
            try:
                result = self.client.submit(normalize_breaks(text))
            except Exception:
                log.exception("error submitting a line")
                self.report_internal_error()
                return False
            self._show(result.events)
        finally:
            self._sending = False
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
            before = box.text
            if send is not None and self.submit_text(send):
                if box.text == before:  # else a draft came back (/query)
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
        """The user scrolled up past the first line: ask for an earlier page
        of the active conversation, once at a time, until the start of its
        history is shown."""
        client = self.client
        view = self.active_view
        if client is None or view.history_start or self._scrollback_off:
            return
        if client.session.catching_up:
            return  # the session would ignore it; ask again once caught up
        now = time.monotonic()
        asked = view.earlier_asked
        if asked is not None and now - asked < EARLIER_PATIENCE_SECONDS:
            return
        view.earlier_asked = now
        events = client.load_earlier()
        if any(isinstance(event, ev.Notice) for event in events):
            # Refused at once: said once, not at every turn of the wheel.
            view.earlier_asked = None
            self._scrollback_off = True
        self._show(events)

    @on(OptionList.OptionSelected, "#users")
    @guarded
    def _address_user(self, event: OptionList.OptionSelected) -> None:
        nick = event.option.id
        if nick is not None:
            self.message_input.set_text(f"@{nick} ")
        self.message_input.focus()

    @on(OptionList.OptionSelected, "#conversations")
    @guarded
    def _conversation_clicked(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        self.message_input.focus()
        if self.client is not None and name is not None:
            self._show(self.client.switch(name))
        self._draw_list()  # the bar back on the active one until the core says

    @on(TextArea.Changed, "#input")
    @guarded
    def _input_changed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        quiet, self._quiet_text = self._quiet_text, None
        if quiet is not None and text == quiet:
            return  # a draft put back on switching: not typing
        if self.client is not None and not self._leaving:
            self._show(self.client.typing(text))

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
        if action in ("switcher", "switch_to"):
            # Over the main screen only: in a dialog the keys stay its own.
            return self.client is not None and len(self.screen_stack) == 1
        return True

    def action_hide_banner(self) -> None:
        self.banner.hide()
        self.refresh_bindings()

    def on_alert_banner_hidden(self) -> None:
        self.refresh_bindings()

    @guarded
    def action_switch_to(self, index: int) -> None:
        """Alt+1..9: the index-th conversation of the list."""
        if self.client is not None:
            self._show(self.client.switch_to(index))

    def action_switcher(self) -> None:
        """Ctrl+K: find a conversation by a few of its letters."""
        if self.client is None or self.switcher_screen is not None:
            return
        screen = self.switcher_screen = SwitcherScreen(
            find=self._find_conversations, label=self._switcher_label
        )
        self.push_screen(screen, self._switcher_closed)

    def _find_conversations(self, query: str) -> list[str]:
        if self.client is None:
            return []
        try:
            return self.client.find_conversations(query)
        except Exception:
            log.exception("error finding conversations")
            self.report_internal_error()
            return []

    def _switcher_label(self, name: str) -> Text:
        """A row of the quick switcher: as in the list (number, unread)."""
        items = self._items()
        key = conversation_key(name)
        for index, item in enumerate(items, 1):
            if conversation_key(item.name) == key:
                return entry_row(
                    index,
                    item,
                    active=key == self._active,
                    width=SWITCHER_ROW_WIDTH,
                )
        closed = ev.Conversation(name=name, kind=ev.ConversationKind.DIRECT)
        return entry_row(None, closed, active=False, width=SWITCHER_ROW_WIDTH)

    @guarded
    def _switcher_closed(self, name: str | None) -> None:
        self.switcher_screen = None
        self.message_input.focus()
        if name is not None and self.client is not None and not self._leaving:
            self._show(self.client.switch(name))

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

    # --- conversations ------------------------------------------------------------

    def _new_view(self, name: str) -> ConversationView:
        log = ChatLog(id=f"log-{next(self._log_ids)}")
        log.add_class("conversation-log")
        log.border_title = _log_title(name)
        return ConversationView(name, log)

    def _view(self, name: str) -> ConversationView:
        """The view of conversation `name`, made (its log hidden) if new."""
        key = conversation_key(name)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self._new_view(name)
            view.log.display = False
            self.screen_stack[0].query_one("#logs", ContentSwitcher).mount(view.log)
        return view

    def _items(self) -> tuple[ev.Conversation, ...]:
        if self._conversations is None:
            return LOBBY_ONLY
        return self._conversations.conversations

    def _active_item(self) -> ev.Conversation | None:
        for item in self._items():
            if conversation_key(item.name) == self._active:
                return item
        return None

    def _show_conversations(self, event: ev.ConversationsChanged) -> None:
        self._conversations = event
        for item in event.conversations:
            view = self._view(item.name)
            if view.name != item.name:  # the same, spelt anew (a nick's case)
                view.name = item.name
                view.log.border_title = _log_title(item.name)
        self._activate(event.active)
        self._draw_list()
        self._draw_conversation()

    def _activate(self, name: str) -> None:
        """Show conversation `name`: its log, its draft in the input line."""
        key = conversation_key(name)
        if key == self._active:
            return
        old = self.active_view
        new = self._view(name)
        box = self.message_input
        # A line that switches (/query nick) is sent, not left behind.
        old.draft = "" if self._sending else box.text
        self._active = key
        self.screen_stack[0].query_one("#logs", ContentSwitcher).current = new.log.id
        if box.text != new.draft:
            self._quiet_text = new.draft
            box.set_text(new.draft)

    def _renamed(self, old: str, new: str) -> None:
        """A nick changed: their direct conversation's log goes with it."""
        old_key, new_key = conversation_key(old), conversation_key(new)
        view = self._views.get(old_key)
        if view is None or old_key in (new_key, LOBBY_KEY) or new_key in self._views:
            return
        del self._views[old_key]
        self._views[new_key] = view
        view.name = new
        view.log.border_title = _log_title(new)
        if self._active == old_key:
            self._active = new_key

    def _draw_list(self) -> None:
        items = self._items()
        active = self._conversations.active if self._conversations else "#lobby"
        self.conversation_list.show(items, active)

    def _draw_conversation(self) -> None:
        """The member list, topic and typing lines and status bar of the
        active conversation."""
        item = self._active_item()
        listed = self._conversations.away if self._conversations else ()
        away = {nick_key(nick): reason for nick, reason in listed}
        if self._conversations is None:
            members, title = self._roster, "Online"
        elif item is None:
            members, title = (), "Members"
        else:
            members = item.members
            title = "Members" if item.kind is ev.ConversationKind.ROOM else "Online"
        users = self.user_list
        shown = [(nick, member_prompt(nick, away)) for nick in members]
        drawn = [
            (str(users.get_option_at_index(i).id), users.get_option_at_index(i).prompt)
            for i in range(users.option_count)
        ]
        if shown != drawn:
            users.clear_options()
            users.add_options(Option(prompt, id=nick) for nick, prompt in shown)
        users.border_title = f"{title} ({len(members)})"

        header = ""
        if item is not None and item.topic:
            header = f"Topic: {item.topic}"
        elif item is not None and item.kind is ev.ConversationKind.DIRECT:
            reason = away.get(nick_key(item.name))
            if reason is not None:
                header = f"{item.name} is away: {reason}"
        first, _more = split_lines(header)
        topic = self.topic_line
        topic.update(Text(first, no_wrap=True, overflow="ellipsis", end=""))
        topic.display = bool(first)

        me = nick_key(self.client.session.nick) if self.client is not None else ""
        typists = [
            nick
            for nick in (item.typing if item is not None else ())
            if nick_key(nick) != me
        ]
        box = self.message_input
        wanted = placeholder(item)
        if box.placeholder != wanted:
            box.placeholder = wanted
        words = typing_text(typists)
        line = self.typing_line
        line.update(Text(words, no_wrap=True, overflow="ellipsis", end=""))
        line.display = bool(words)
        self._draw_status()

    # --- rendering --------------------------------------------------------------

    def _show(self, events: list[ev.UiEvent]) -> None:
        for event in events:
            if self._show_history(event):
                continue
            for_you = self._react(event)
            match event:
                case ev.TrustQuestion():
                    pass  # the screen shows it; the log gets the outcome
                case ev.ChatLine():
                    view = self._view(event.conversation)
                    view.log.add(log_entry(event, timestamps=self._timestamps))
                    if for_you and not event.recalled:
                        # A stored line (missed while away) is shown, marked,
                        # but rings nothing: it is not news arriving now.
                        self._alert(event, view)
                case _:
                    line = describe(event, self._timestamps)
                    if line is not None:
                        # What the client itself says (a warning, /help) is
                        # read from its first line.
                        self._write(line, view=self._view_for(event), from_start=True)

    def _view_for(self, event: ev.UiEvent) -> ConversationView:
        """Where a line that is not a chat message goes."""
        match event:
            case ev.Notice(conversation=str(name)):
                return self._view(name)
            case ev.Joined() | ev.Left() | ev.Renamed():
                return self._views[LOBBY_KEY]  # who is online: the lobby's news
            case _:
                return self.active_view

    def _show_history(self, event: ev.UiEvent) -> bool:
        """Show an event of the stored history; False for any other event."""
        match event:
            case ev.DaySeparator():
                self._view(event.conversation).log.add(log_entry(event))
            case ev.UnreadMarker():
                log = self._view(event.conversation).log
                log.remove_rules(RuleKind.UNREAD)  # only the newest is shown
                log.add(LogEntry.ruled(RuleKind.UNREAD))
            case ev.EarlierLines(items=items, more=more):
                view = self._view(event.conversation)
                view.earlier_asked = None
                if not more:
                    view.history_start = True
                entries = [
                    log_entry(item, timestamps=self._timestamps) for item in items
                ]
                view.log.prepend(entries, start=not more)
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
            case (
                ev.RosterChanged()
                | ev.ConversationsChanged()
                | ev.SettingsChanged()
                | ev.Renamed()
            ):
                self._react_conversations(event)
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

    def _react_conversations(
        self,
        event: ev.RosterChanged
        | ev.ConversationsChanged
        | ev.SettingsChanged
        | ev.Renamed,
    ) -> None:
        match event:
            case ev.RosterChanged(nicks=nicks):
                self._roster = nicks
                if self._conversations is None:  # an old server: no list
                    self._draw_conversation()
            case ev.ConversationsChanged():
                self._show_conversations(event)
            case ev.SettingsChanged():
                self._apply_settings(event)
            case ev.Renamed(old=old, new=new, is_me=False):
                self._renamed(old, new)

    def _apply_settings(self, event: ev.SettingsChanged) -> None:
        self._notify_on = event.notifications
        theme = THEMES.get(event.theme, THEMES["system"])
        if self.theme != theme:
            self.theme = theme
        if event.timestamps != self._timestamps:
            self._timestamps = event.timestamps
            for view in self._views.values():
                view.log.replace_entries(
                    functools.partial(restamped, timestamps=event.timestamps)
                )

    def _write(
        self,
        line: DisplayLine,
        *,
        view: ConversationView | None = None,
        from_start: bool = False,
    ) -> None:
        target = view if view is not None else self.active_view
        target.log.add(LogEntry(line), from_start=from_start)

    def _alert(self, line: ev.ChatLine, view: ConversationView) -> None:
        """A private message or a mention the user may not see: bell and toast.

        "May not see" is: the terminal does not have the focus (focus
        reporting, `ESC[?1004h`, which Textual turns on), or the log is
        scrolled up so the line arrived below the view. A line for another
        conversation while the user is looking at the terminal gets the
        toast without the bell: the list marks it too, and a bell for every
        line elsewhere would ring at someone who is reading. The
        `notifications` setting off silences both.
        """
        if not self._notify_on:
            return
        shown = view is self.active_view
        if self.app_focus and shown and view.log.following:
            return
        ring = not self.app_focus or shown
        what = "private message" if line.is_direct else "mention"
        where = "" if line.is_direct or view is self._views[LOBBY_KEY] else view.name
        first, more = split_lines(line.text)
        text = first if len(first) <= _TOAST_CHARS else first[:_TOAST_CHARS] + "…"
        if more:
            text += f" (+{len(more)} more line{'s' if len(more) > 1 else ''})"
        if ring:
            self.bell()
        self.notify(
            f"{sanitize(line.sender)}: {text}",
            title=f"New {what} in {sanitize(where)}" if where else f"New {what}",
            markup=False,
            timeout=10,
        )

    def _status_line(self) -> str:
        """The status bar's words: where the user is, where news waits
        (by number), and the connection."""
        event = self._connection
        active = self._views[self._active].name
        where = " · ".join(
            part for part in (sanitize(active), activity(self._items(), active)) if part
        )
        if event is None:
            return f"{where} · {self.server_label} · not connected"
        plaintext = (
            event.status is ev.ConnectionStatus.CONNECTED and not event.encrypted
        )
        text = f"{where} · {status_text(event)}"
        return NOT_ENCRYPTED_MARK + text if plaintext else text

    def _draw_status(self) -> None:
        if self.screen_stack:
            self.status_bar.update(Text(self._status_line()))

    def _show_status(self, event: ev.ConnectionChanged) -> None:
        if event.status is not ev.ConnectionStatus.CONNECTED:
            for view in self._views.values():
                view.earlier_asked = None  # that request is gone with the connection
        else:
            self._scrollback_off = False  # a new connection may answer
        self._connection = event
        status = self.status_bar
        plaintext = (
            event.status is ev.ConnectionStatus.CONNECTED and not event.encrypted
        )
        self._draw_status()
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


def _log_title(name: str) -> str:
    """A log's border title: the conversation's name."""
    return sanitize(name)
