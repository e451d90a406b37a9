"""The conversation list (a numbered panel, as WeeChat's buffer list), the
quick switcher (Ctrl+K), and the words of the typing line, the member list
and the status bar's activity. Textual and Rich only.

The list itself, its order, unread counts, highlights, members and the
fuzzy matching all come from the session core (`ConversationsChanged`,
`ChatClient.find_conversations`); these widgets only draw them and say
which one the user picked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from clients.core import events as ev
from clients.core.formatting import sanitize
from protocol import LOBBY, is_room, nick_key, room_key

ACTIVE_MARK = "▸"
"""Before the active conversation's number (besides its bar: not colour alone)."""
HIGHLIGHT_MARK = "!"
"""Before the unread count of a conversation with a mention or a direct
message: bold and marked, so it stands out without colour too."""
MAX_COUNT = 99
"""A larger unread count shows as "99+"."""
DEFAULT_ENTRY_WIDTH = 13
"""The row width before the panel has been laid out."""
AWAY_MARK = " (away)"
HIGHLIGHT_STYLE = "bold magenta"


def conversation_key(name: str) -> str:
    """What makes two conversation names one: a room's key, else a nick's."""
    return room_key(name) if is_room(name) else nick_key(name)


LOBBY_KEY = conversation_key(LOBBY)
LOBBY_ONLY = (ev.Conversation(name=LOBBY, kind=ev.ConversationKind.LOBBY),)
"""The list before the core sent one (and with an old server)."""


def unread_label(conversation: ev.Conversation) -> str:
    """ "3", "!3" (a mention or a direct message among them), "" (none)."""
    mark = HIGHLIGHT_MARK if conversation.highlight else ""
    if not conversation.unread:
        return mark
    if conversation.unread > MAX_COUNT:
        return f"{mark}{MAX_COUNT}+"
    return f"{mark}{conversation.unread}"


def entry_row(
    index: int | None, conversation: ev.Conversation, *, active: bool, width: int
) -> Text:
    """One row of the list: the mark of the active one, the number Alt+N
    goes to, the name (cut with "…" to fit) and the unread count at the
    right edge; bold and marked when a mention or a direct message waits."""
    row = Text(no_wrap=True, overflow="ellipsis", end="")
    row.append(ACTIVE_MARK if active else " ", style="bold")
    if index is not None:
        row.append(f"{index} ", style="dim" if not active else "")
    count = unread_label(conversation)
    name_style = ""
    if conversation.highlight:
        name_style = HIGHLIGHT_STYLE
    elif conversation.unread:
        name_style = "bold"
    if active:
        name_style = f"{name_style} bold".strip()
    room = max(1, width - row.cell_len - (cell_len(count) + 1 if count else 0))
    name = Text(sanitize(conversation.name), style=name_style)
    if name.cell_len > room:
        name.truncate(room, overflow="ellipsis")
    row.append_text(name)
    if count:
        row.append(" " * max(1, width - row.cell_len - cell_len(count)))
        row.append(count, style=HIGHLIGHT_STYLE if conversation.highlight else "bold")
    return row


def activity(conversations: Sequence[ev.Conversation], active: str) -> str:
    """The status bar's list of conversations with news, by number (as
    WeeChat's hotlist): "[act: 2,4!]"; "" when nothing waits elsewhere."""
    current = conversation_key(active)
    marks = [
        f"{index}{HIGHLIGHT_MARK if item.highlight else ''}"
        for index, item in enumerate(conversations, 1)
        if (item.unread or item.highlight) and conversation_key(item.name) != current
    ]
    return f"[act: {','.join(marks)}]" if marks else ""


def typing_text(nicks: Iterable[str]) -> str:
    """ "ann is typing…", "ann and bob are typing…", …; "" for nobody."""
    names = [sanitize(nick) for nick in nicks]
    match names:
        case []:
            return ""
        case [one]:
            return f"{one} is typing…"
        case [one, two]:
            return f"{one} and {two} are typing…"
        case [one, two, three]:
            return f"{one}, {two} and {three} are typing…"
        case _:
            return "several people are typing…"


def member_prompt(nick: str, away: Mapping[str, str]) -> Text:
    """A member list row: the nick, dim and marked "(away)" when away."""
    if nick_key(nick) in away:
        return Text.assemble(
            (sanitize(nick), "dim italic"),
            (AWAY_MARK, "dim"),
            no_wrap=True,
            overflow="ellipsis",
            end="",
        )
    return Text(sanitize(nick), no_wrap=True, overflow="ellipsis", end="")


class ConversationList(OptionList, can_focus=False):
    """The conversations, numbered as Alt+1..9 count them; the active one
    marked and barred. Clicking one selects it (`OptionSelected`, its id
    being the conversation's name); it never takes the focus from the
    input line."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._items: tuple[ev.Conversation, ...] = LOBBY_ONLY
        self._active = LOBBY
        self._drawn: tuple[Text, ...] | None = None
        self._drawn_names: tuple[str, ...] = ()

    @property
    def items(self) -> tuple[ev.Conversation, ...]:
        return self._items

    def on_mount(self) -> None:
        self._redraw()

    def on_resize(self, _event: Resize) -> None:
        self._redraw()

    def show(self, conversations: Sequence[ev.Conversation], active: str) -> None:
        """Draw `conversations` (in the core's order) with `active` marked."""
        self._items = tuple(conversations)
        self._active = active
        self._redraw()

    def rows(self) -> list[str]:
        """The rows as the user reads them (for tests and screen readers)."""
        return [t.plain for t in self._drawn or ()]

    def _redraw(self) -> None:
        width = self.scrollable_content_region.width or DEFAULT_ENTRY_WIDTH
        current = conversation_key(self._active)
        rows = tuple(
            entry_row(
                index,
                item,
                active=conversation_key(item.name) == current,
                width=width,
            )
            for index, item in enumerate(self._items, 1)
        )
        names = tuple(item.name for item in self._items)
        if rows != self._drawn or names != self._drawn_names:
            if names == self._drawn_names and self._drawn is not None:
                for index, row in enumerate(rows):
                    if row != self._drawn[index]:
                        self.replace_option_prompt_at_index(index, row)
            else:
                self.clear_options()
                self.add_options(
                    Option(row, id=name) for row, name in zip(rows, names, strict=True)
                )
            self._drawn = rows
            self._drawn_names = names
        active = [i for i, n in enumerate(names) if conversation_key(n) == current]
        self.highlighted = active[0] if active else None


_SWITCHER_HINT = "type to filter · ↑↓ choose · Enter: switch · Esc: close"


class _Choices(OptionList, can_focus=False):
    """The matches; the focus stays in the box above."""


class SwitcherScreen(ModalScreen[str | None]):
    """Ctrl+K: type a few letters of a conversation, Enter goes there.

    Args:
        find: the names matching a query, best first (the core's
            `find_conversations`).
        label: how one name reads in the list (its number and unread count).
    """

    BINDINGS = [  # noqa: RUF012 - Textual's API
        Binding("escape", "close", "Close"),
        Binding("up", "move(-1)", show=False),
        Binding("down", "move(1)", show=False),
    ]

    def __init__(
        self, *, find: Callable[[str], list[str]], label: Callable[[str], Text]
    ) -> None:
        super().__init__()
        self._find = find
        self._label = label

    def compose(self) -> ComposeResult:
        with Vertical(id="switcher-box"):
            yield Label("Switch to a conversation", id="switcher-title")
            yield Input(placeholder="name…", id="switcher-input")
            yield _Choices(id="switcher-list")
            yield Label(_SWITCHER_HINT, id="switcher-hint")

    @property
    def query_box(self) -> Input:
        return self.query_one("#switcher-input", Input)

    @property
    def choices(self) -> OptionList:
        return self.query_one("#switcher-list", OptionList)

    def names(self) -> list[str]:
        """The names offered now, best first (for tests)."""
        box = self.choices
        return [str(box.get_option_at_index(i).id) for i in range(box.option_count)]

    def on_mount(self) -> None:
        self._fill("")
        self.query_box.focus()

    @on(Input.Changed, "#switcher-input")
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def _fill(self, query: str) -> None:
        names = self._find(query)
        box = self.choices
        box.clear_options()
        box.add_options(Option(self._label(name), id=name) for name in names)
        box.highlighted = 0 if names else None
        hint = _SWITCHER_HINT if names else "no conversation matches · Esc: close"
        self.query_one("#switcher-hint", Label).update(Text(hint))

    @on(Input.Submitted, "#switcher-input")
    def _submitted(self) -> None:
        option = self.choices.highlighted_option
        if option is not None and option.id is not None:
            self.dismiss(option.id)

    @on(OptionList.OptionSelected, "#switcher-list")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        box = self.choices
        if box.option_count:
            now = box.highlighted or 0
            box.highlighted = (now + step) % box.option_count

    def action_close(self) -> None:
        self.dismiss(None)
