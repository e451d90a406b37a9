"""The modal screens: the nickname prompt and the long-paste preview."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

from clients.core.commands import CommandError, validate_nick
from protocol import MAX_NICK_CHARS


class NickScreen(ModalScreen[str | None]):
    """Asks for a nickname, checked by the server's rules before connecting.

    The box takes any length: a nickname that is too long is refused with
    the reason, whole and editable, never cut short without a word.
    """

    BINDINGS = [Binding("escape", "cancel", "Quit")]  # noqa: RUF012 - Textual's API

    def __init__(self, server: str) -> None:
        super().__init__()
        self._server = server

    def compose(self) -> ComposeResult:
        with Vertical(id="nick-box"):
            yield Label(
                f"Chinwag on {self._server}\n"
                f"Choose a nickname (up to {MAX_NICK_CHARS} characters):"
            )
            yield Input(placeholder="your nickname", id="nick-input")
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
