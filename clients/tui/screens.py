"""The modal screens: the nickname prompt, the long-paste preview, the
session's questions (trust a certificate, give a password), and search
results with the lines around each.

The words of the questions come from the session core; these screens only
ask and hand the answer back. A password goes from its masked field to the
answer and the field is emptied at once: it is never shown, logged or kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    OptionList,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from clients.core import events as ev
from clients.core.commands import CommandError, validate_nick
from clients.core.formatting import describe, sanitize, split_lines
from clients.core.trust import is_fingerprint, normalize_fingerprint
from clients.tui.chat_log import STYLES, ChatLog, log_entry
from protocol import MAX_NICK_CHARS
from protocol.constants import MAX_PASSWORD_CHARS

_FINGERPRINT_BYTES_PER_ROW = 16
_TRUST_FRAME_ROWS = 7
"""Rows of the certificate question that are not the question: its frame
(2), title (2) and buttons (3)."""


@attrs.frozen
class NickChoice:
    """What the nickname prompt decided: the nick, and whether to log in."""

    nick: str
    login: bool = False


class NickScreen(ModalScreen[NickChoice | None]):
    """Asks for a nickname, checked by the server's rules before connecting.

    The box takes any length: a nickname that is too long is refused with
    the reason, whole and editable, never cut short without a word.

    Args:
        server: shown in the prompt.
        login: whether "Log in to my account" starts ticked; None leaves
            the box out (no account store: tests on a fake transport).
    """

    BINDINGS = [Binding("escape", "cancel", "Quit")]  # noqa: RUF012 - Textual's API

    def __init__(self, server: str, *, login: bool | None = None) -> None:
        super().__init__()
        self._server = server
        self._login = login

    def compose(self) -> ComposeResult:
        with Vertical(id="nick-box"):
            yield Label(
                f"Chinwag on {self._server}\n"
                f"Choose a nickname (up to {MAX_NICK_CHARS} characters):"
            )
            yield Input(placeholder="your nickname", id="nick-input")
            yield Label("", id="nick-error")
            if self._login is not None:
                yield Checkbox(
                    "Log in to my account", value=self._login, id="nick-login"
                )
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
        boxes = self.query("#nick-login").results(Checkbox)
        login = any(box.value for box in boxes)
        self.dismiss(NickChoice(nick, login))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PasteScreen(ModalScreen[str | None]):
    """Shows a long paste before it goes out as one message.

    Dismissed with the text to send, or None: then the text goes back into
    the input line, where it can be edited (nothing pasted is ever lost).
    """

    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "send", "Send"),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        lines = self._text.count("\n") + 1
        with Vertical(id="paste-box"):
            yield Label(
                f"Send this paste as one message? "
                f"{lines} lines, {len(self._text)} characters.\n"
                "Cancel puts it in the input line to edit.",
                id="paste-title",
            )
            yield TextArea(self._text, read_only=True, soft_wrap=True, id="paste-text")
            with Horizontal(id="paste-buttons"):
                yield Button("Cancel", id="paste-cancel")
                yield Button("Send", variant="primary", id="paste-send")

    def on_mount(self) -> None:
        self.query_one("#paste-send", Button).focus()

    @on(Button.Pressed, "#paste-send")
    def action_send(self) -> None:
        self.dismiss(self._text)

    @on(Button.Pressed, "#paste-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# --- certificates ---------------------------------------------------------------


def fingerprint_rows(fingerprint: str) -> list[str]:
    """A SHA-256 fingerprint as two rows of 16 bytes (47 columns each).

    Whole at any width from 47 columns up, and easier to compare by eye
    than one 95-column line that a terminal would cut or wrap anywhere.
    """
    try:
        parts = normalize_fingerprint(fingerprint).split(":")
    except ValueError:
        return [sanitize(fingerprint)]
    step = _FINGERPRINT_BYTES_PER_ROW
    return [":".join(parts[i : i + step]) for i in range(0, len(parts), step)]


class ScrollIfNeeded(VerticalScroll):
    """Scrolls (and takes the focus, for the keys) only when its content
    does not fit: in a small terminal nothing is cut, it scrolls."""

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0


class TrustScreen(ModalScreen[bool]):
    """Whether to trust a server's certificate: the core's question, two buttons.

    "Don't connect" has the focus and Escape means it too, so no key pressed
    by habit (Enter, Escape) ever trusts a certificate: trusting takes Tab
    (or an arrow key) to the other button, then Enter; or a click.

    Args:
        question: what the session asked; `ask` replaces it.
    """

    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding("escape", "refuse", "Don't connect"),
        Binding("left,right", "switch", "Choose", show=False),
    ]

    def __init__(self, question: ev.TrustQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="trust-box"):
            yield Label("⚠ Is this the right server?", id="trust-title")
            with ScrollIfNeeded(id="trust-body"):
                yield from self._question_widgets()
            with Horizontal(id="trust-buttons"):
                yield Button("Don't connect", id="trust-refuse")
                yield Button("Trust and connect", variant="warning", id="trust-accept")

    def _question_widgets(self) -> Iterator[Static]:
        shown = False
        for line in self.question.text.splitlines():
            if is_fingerprint(line):
                shown = True
                yield self._fingerprint(line)
            elif line.strip():
                yield Static(Text(sanitize(line.strip())), classes="trust-text")
        if not shown:  # the core's words changed: still show the fingerprint
            yield self._fingerprint(self.question.fingerprint)

    @staticmethod
    def _fingerprint(fingerprint: str) -> Static:
        return Static(
            Text("\n".join(fingerprint_rows(fingerprint)), overflow="fold"),
            classes="trust-fingerprint",
        )

    def on_mount(self) -> None:
        self._fit()
        self.query_one("#trust-refuse", Button).focus()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The question scrolls rather than push the buttons off the screen."""
        room = self.size.height - _TRUST_FRAME_ROWS
        self.query_one("#trust-body").styles.max_height = max(3, room)

    def ask(self, question: ev.TrustQuestion) -> None:
        """Ask `question` instead of the one on screen (the session asks anew)."""
        self.question = question
        body = self.query_one("#trust-body", ScrollIfNeeded)
        body.remove_children()
        body.mount_all(list(self._question_widgets()))
        self.query_one("#trust-refuse", Button).focus()

    def text(self) -> str:
        """Every line of the question as shown (for tests and screen readers)."""
        return "\n".join(
            str(widget.render()) for widget in self.query("#trust-body Static")
        )

    def action_switch(self) -> None:
        self.focus_next(Button)

    @on(Button.Pressed, "#trust-accept")
    def action_trust(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#trust-refuse")
    def action_refuse(self) -> None:
        self.dismiss(False)


# --- passwords ----------------------------------------------------------------------


@attrs.frozen
class PasswordAnswer:
    """The answer to one `PasswordRequest`; None for the password: cancelled.

    The password fields stay out of `repr`, so no log line or traceback
    can ever print them.
    """

    request_id: int
    password: str | None = attrs.field(repr=False)
    repeat: str | None = attrs.field(default=None, repr=False)


class PasswordScreen(ModalScreen[PasswordAnswer]):
    """A masked password field (two for a new password), OK and Cancel.

    Enter in the first field goes on to an empty second one, else it is OK;
    Escape is Cancel. The fields are emptied as soon as they are read.

    Args:
        request: what the session asked; `ask` replaces it.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012 - Textual's API

    def __init__(self, request: ev.PasswordRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with ScrollIfNeeded(id="password-box"):
            yield Label(Text(self.request.prompt), id="password-prompt")
            with Horizontal(classes="password-row"):
                yield Label("Password", classes="password-label")
                yield Input(password=True, id="password")
            with Horizontal(classes="password-row", id="repeat-row"):
                yield Label("Repeat", classes="password-label")
                yield Input(password=True, id="repeat")
            yield Label("", id="password-error")
            with Horizontal(id="password-buttons"):
                yield Button("Cancel", id="password-cancel")
                yield Button("OK", variant="primary", id="password-ok")

    def on_mount(self) -> None:
        self._show_request()

    def ask(self, request: ev.PasswordRequest) -> None:
        """Ask `request` instead (the session asks anew): fields emptied."""
        self.request = request
        self._forget()
        self._show_request()

    def _show_request(self) -> None:
        self.query_one("#password-prompt", Label).update(Text(self.request.prompt))
        self.query_one("#repeat-row").display = self.request.confirm
        self._complain("")
        self._field("#password").focus()

    def _field(self, selector: str) -> Input:
        return self.query_one(selector, Input)

    def _complain(self, problem: str) -> None:
        error = self.query_one("#password-error", Label)
        error.update(f"⚠ {problem}" if problem else "")
        error.display = bool(problem)

    @on(Input.Submitted, "#password")
    def _next(self) -> None:
        repeat = self._field("#repeat")
        if self.request.confirm and not repeat.value:
            repeat.focus()
        else:
            self.action_ok()

    @on(Input.Submitted, "#repeat")
    @on(Button.Pressed, "#password-ok")
    def action_ok(self) -> None:
        """OK and Enter: hand the password over (the session judges it)."""
        password = self._field("#password").value
        if not password:
            self._complain("enter the password")
            self._field("#password").focus()
            return
        if len(password) > MAX_PASSWORD_CHARS:
            self._complain(f"a password has at most {MAX_PASSWORD_CHARS} characters")
            self._field("#password").focus()
            return
        repeat = self._field("#repeat").value if self.request.confirm else None
        self._forget()
        self.dismiss(PasswordAnswer(self.request.id, password, repeat))

    @on(Button.Pressed, "#password-cancel")
    def action_cancel(self) -> None:
        self._forget()
        self.dismiss(PasswordAnswer(self.request.id, None))

    def _forget(self) -> None:
        """Empty the fields: the text leaves the widgets as soon as it is read."""
        for selector in ("#password", "#repeat"):
            self._field(selector).value = ""


# --- search -------------------------------------------------------------------------

_RESULTS_HINT = "↑↓ choose · Enter: show it among the lines around it · Esc: close"
_CONTEXT_HINT = "↑↓ PgUp PgDn: scroll · ←/Backspace: back to the results · Esc: close"


def result_prompt(line: ev.ChatLine) -> Text:
    """One search result as a row: date and time, then the line as the log
    words it (a private message says so), its further lines counted."""
    shown = describe(line)
    prompt = Text(no_wrap=True, overflow="ellipsis", end="")
    prompt.append(f"{line.time:%Y-%m-%d %H:%M}  ", style="dim")
    if shown is None:  # the core words every chat line; be safe all the same
        first, more = split_lines(line.text)
        prompt.append(f"<{sanitize(line.sender)}> {first}")
    else:
        more = shown.more
        prompt.append(shown.text, style=STYLES[shown.kind])
    if more:
        prompt.append(f" (+{len(more)} more line{'s' if len(more) > 1 else ''})")
    return prompt


def results_title(results: ev.SearchResults) -> str:
    """What the search found, in words (the query shown harmlessly)."""
    query = f"“{sanitize(results.query)}”"
    count = len(results.lines)
    if not count:
        return f"no messages match {query}"
    noun = "message" if count == 1 else "messages"
    if results.more:
        return f"the newest {count} {noun} matching {query} (older ones not listed)"
    return f"{count} {noun} {'matches' if count == 1 else 'match'} {query}"


class SearchScreen(ModalScreen[None]):
    """The results of a search, newest highlighted; Enter opens the chosen
    one among the lines around it (in the same box, that line reversed).

    The session does the searching: Enter calls `open_context(id)`, and the
    app hands the answer to `show_context`. Escape closes; ← or Backspace
    goes from the context back to the results.

    Args:
        results: what the session found; `show_results` replaces it.
        open_context: asks the session for the lines around a message.
    """

    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding("escape", "close", "Close"),
        Binding("left,backspace", "back", "Back to the results", show=False),
        # The context log never takes the focus: these reach the screen.
        Binding("up", "scroll_context(-1)", show=False),
        Binding("down", "scroll_context(1)", show=False),
        Binding("pageup", "page_context(-1)", show=False),
        Binding("pagedown", "page_context(1)", show=False),
    ]

    def __init__(
        self, results: ev.SearchResults, *, open_context: Callable[[int], None]
    ) -> None:
        super().__init__()
        self.results = results
        self._open_context = open_context
        self._wanted: int | None = None
        self._in_context = False

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            yield Label("", id="search-title")
            yield OptionList(id="search-results")
            yield ChatLog(id="search-context")
            yield Label("", id="search-hint")

    @property
    def result_list(self) -> OptionList:
        return self.query_one("#search-results", OptionList)

    @property
    def context_log(self) -> ChatLog:
        return self.query_one("#search-context", ChatLog)

    @property
    def in_context(self) -> bool:
        """Showing the lines around a result (else the results)."""
        return self._in_context

    def title_text(self) -> str:
        """The box's heading as shown (for tests and screen readers)."""
        return str(self.query_one("#search-title", Label).render())

    def hint_text(self) -> str:
        return str(self.query_one("#search-hint", Label).render())

    def on_mount(self) -> None:
        self.context_log.border_title = "In context"
        self._fill()

    def show_results(self, results: ev.SearchResults) -> None:
        """Show `results` instead (a newer search)."""
        self.results = results
        self._fill()

    def _fill(self) -> None:
        self._wanted = None
        box = self.result_list
        box.clear_options()
        box.add_options(
            Option(result_prompt(line), id=str(line.id)) for line in self.results.lines
        )
        self._show_results()
        if self.results.lines:
            box.highlighted = len(self.results.lines) - 1  # the newest

    def _show_results(self) -> None:
        self._in_context = False
        found = bool(self.results.lines)
        self._title(results_title(self.results))
        self._hint(_RESULTS_HINT if found else "Esc: close")
        self.context_log.display = False
        box = self.result_list
        box.display = found
        if found:
            box.focus()

    def _title(self, text: str) -> None:
        self.query_one("#search-title", Label).update(Text(text))

    def _hint(self, text: str) -> None:
        self.query_one("#search-hint", Label).update(Text(text))

    def tell(self, text: str) -> None:
        """Say `text` (the session's answer, e.g. that it cannot search) here."""
        first, _more = split_lines(text)
        self._hint(first)

    @on(OptionList.OptionSelected, "#search-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is None:
            return
        self._wanted = int(event.option.id)
        self._hint("fetching the lines around it…")
        self._open_context(self._wanted)

    def show_context(self, context: ev.Context) -> None:
        """Show the lines of `context` here, its focus reversed; ignored
        unless it answers the result last chosen."""
        if context.focus_id != self._wanted:
            return
        log = self.context_log
        log.clear()
        focus = None
        for item in context.items:
            chosen = isinstance(item, ev.ChatLine) and item.id == context.focus_id
            entry = log_entry(item, highlight=chosen)
            log.add(entry)
            if chosen:
                focus = entry
        self._in_context = True
        focused = next(
            (line for line in self.results.lines if line.id == context.focus_id), None
        )
        when = f" of {focused.time:%Y-%m-%d %H:%M}" if focused is not None else ""
        self._title(f"the lines around the message{when}")
        self._hint(_CONTEXT_HINT)
        self.result_list.display = False
        log.display = True
        self.set_focus(None)
        if focus is not None:
            log.show_entry(focus)

    def on_chat_log_earlier_wanted(self, message: ChatLog.EarlierWanted) -> None:
        message.stop()  # the context is what the session sent; the app's log pages

    def action_close(self) -> None:
        self.dismiss(None)

    def action_back(self) -> None:
        if self._in_context:
            self._wanted = None
            self._show_results()

    def action_scroll_context(self, rows: int) -> None:
        if self._in_context:
            self.context_log.scroll_rows(rows)

    def action_page_context(self, direction: int) -> None:
        if self._in_context:
            self.context_log.page(direction)
