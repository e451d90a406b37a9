"""The conversation list (issue 15): #lobby, rooms and direct conversations.

Drawing only: the list, its order, the unread counts and what is highlighted
come whole from the core's `ConversationsChanged`. A click hands the name
back (the window asks the core to switch). What is active and what holds a
mention or a private message show by more than colour (WCAG 1.4.1): a
pointer before the active one, a star and bold type on highlighted ones.
"""

from __future__ import annotations

import functools
import tkinter
from collections.abc import Callable, Iterable
from typing import Any

import customtkinter as ctk

from clients.core import events as ev
from clients.core.formatting import sanitize
from clients.gui.chatlog import TAG_BACKGROUNDS, Colour

__all__ = [
    "ACTIVE_MARK",
    "HIGHLIGHT_MARK",
    "ConversationList",
    "badge_text",
    "entry_label",
    "typing_text",
]

ACTIVE_MARK = "▸"
"""Before the active conversation's name."""
HIGHLIGHT_MARK = "★"
"""In the badge of a conversation holding a mention or a private message
(the log marks those lines with the same star)."""
DIRECT_MARK = "@"
"""Before the other nick of a direct conversation: it is a person, not a room."""
MAX_NAMES_TYPING = 3

_ACTIVE_BACKGROUND: Colour = TAG_BACKGROUNDS["selected"]
_TEXT: Colour = ("#1a1a1a", "#e6e6e6")
_OFFLINE_TEXT: Colour = ("#6b6b6b", "#9a9a9a")
_BADGE: Colour = ("#5f6368", "#8a8f94")
_HIGHLIGHT_BADGE: Colour = ("#b3261e", "#ff8a80")
_BADGE_TEXT: Colour = ("#ffffff", "#1a1a1a")
_HOVER: Colour = ("gray80", "gray30")


def typing_text(nicks: Iterable[str]) -> str:
    """ "ann is typing…", "ann and bob are typing…", … ("" when nobody is)."""
    names = [sanitize(nick) for nick in nicks]
    match names:
        case []:
            return ""
        case [one]:
            return f"{one} is typing…"
        case [one, two]:
            return f"{one} and {two} are typing…"
        case _ if len(names) <= MAX_NAMES_TYPING:
            return f"{', '.join(names[:-1])} and {names[-1]} are typing…"
        case _:
            others = len(names) - 2
            return f"{names[0]}, {names[1]} and {others} others are typing…"


def entry_label(conversation: ev.Conversation, *, active: bool) -> str:
    """The words of one entry: the active pointer, then the name."""
    name = sanitize(conversation.name)
    if conversation.kind is ev.ConversationKind.DIRECT:
        name = f"{DIRECT_MARK}{name}"
    return f"{ACTIVE_MARK} {name}" if active else f"   {name}"


def badge_text(conversation: ev.Conversation) -> str:
    """The unread count ("" for none); a star first when it is highlighted."""
    count = str(conversation.unread) if conversation.unread else ""
    if conversation.highlight:
        return f"{HIGHLIGHT_MARK} {count}".rstrip()
    return count


class _Entry(ctk.CTkFrame):  # type: ignore[misc]
    """One conversation: its name (a button) and its unread badge."""

    def __init__(self, master: Any, on_click: Callable[[], None]) -> None:
        super().__init__(master, fg_color="transparent", corner_radius=6)
        self.grid_columnconfigure(0, weight=1)
        self.button = ctk.CTkButton(
            self,
            text="",
            anchor="w",
            height=28,
            fg_color="transparent",
            hover_color=_HOVER,
            text_color=_TEXT,
            command=on_click,
        )
        self.button.grid(row=0, column=0, sticky="ew")
        self.badge = ctk.CTkLabel(
            self,
            text="",
            corner_radius=9,
            height=18,
            fg_color=_BADGE,
            text_color=_BADGE_TEXT,
            font=ctk.CTkFont(size=11, weight="bold"),
        )
        self.badge.grid(row=0, column=1, padx=(2, 4))
        self.badge.grid_remove()
        self.badge.bind("<Button-1>", lambda _e: on_click())
        self.shown: tuple[object, ...] = ()

    def show(
        self,
        conversation: ev.Conversation,
        *,
        active: bool,
        fonts: tuple[ctk.CTkFont, ctk.CTkFont],
    ) -> None:
        online = conversation.kind is not ev.ConversationKind.DIRECT or bool(
            conversation.members
        )
        wanted = (conversation, active, online)
        if wanted == self.shown:
            return  # most changes (typing, another entry) leave this one alone
        self.shown = wanted
        normal, bold = fonts
        self.button.configure(
            text=entry_label(conversation, active=active),
            # Unread ones in bold (the highlighted ones also wear a star).
            font=bold if conversation.highlight or conversation.unread else normal,
            fg_color=_ACTIVE_BACKGROUND if active else "transparent",
            text_color=_TEXT if online else _OFFLINE_TEXT,
        )
        badge = badge_text(conversation)
        if badge:
            self.badge.configure(
                text=f" {badge} ",
                fg_color=_HIGHLIGHT_BADGE if conversation.highlight else _BADGE,
            )
            self.badge.grid()
        else:
            self.badge.grid_remove()


class ConversationList(ctk.CTkFrame):  # type: ignore[misc]
    """The conversations, in the core's order; clicking one calls `on_choose(name)`.

    Args:
        master: the chat pane.
        on_choose: called with the name of the conversation clicked.
        on_settings: the settings button at the bottom.
    """

    def __init__(
        self,
        master: Any,
        *,
        on_choose: Callable[[str], None],
        on_settings: Callable[[], None],
    ) -> None:
        super().__init__(master, width=170)
        self._on_choose = on_choose
        self.grid_rowconfigure(1, weight=1)
        self.grid_columnconfigure(0, weight=1)
        self.title = ctk.CTkLabel(self, text="Conversations", anchor="w")
        self.title.grid(row=0, column=0, sticky="ew", padx=8, pady=(6, 0))
        self.entries_frame = ctk.CTkScrollableFrame(
            self, width=150, fg_color="transparent"
        )
        self.entries_frame.grid(row=1, column=0, sticky="nsew", padx=2, pady=4)
        self.entries_frame.grid_columnconfigure(0, weight=1)
        self.settings_button = ctk.CTkButton(
            self,
            text="⚙ Settings",
            anchor="w",
            fg_color="transparent",
            hover_color=_HOVER,
            text_color=_TEXT,
            command=on_settings,
        )
        self.settings_button.grid(row=2, column=0, sticky="ew", padx=4, pady=(0, 6))
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._fonts = (ctk.CTkFont(), ctk.CTkFont(weight="bold"))
        self.active = ""

    def show(self, conversations: tuple[ev.Conversation, ...], active: str) -> None:
        """Draw the list as the core sent it."""
        names = [c.name for c in conversations]
        for name in set(self._entries) - set(names):
            self._entries.pop(name).destroy()
        for conversation in conversations:
            entry = self._entries.get(conversation.name)
            if entry is None:
                name = conversation.name
                entry = _Entry(
                    self.entries_frame, functools.partial(self._on_choose, name)
                )
                self._entries[name] = entry
            entry.show(
                conversation, active=conversation.name == active, fonts=self._fonts
            )
        if names != self._order:
            for row, name in enumerate(names):
                self._entries[name].grid(row=row, column=0, sticky="ew", pady=1)
            self._order = names
        self.active = active

    def names(self) -> list[str]:
        """The conversations listed, top to bottom."""
        return list(self._order)

    def rows(self) -> list[str]:
        """Each entry as read: name, then badge if any (for tests and screen readers)."""
        rows = []
        for name in self._order:
            entry = self._entries[name]
            text = str(entry.button.cget("text"))
            if entry.badge.winfo_manager():
                text += f" ({str(entry.badge.cget('text')).strip()})"
            rows.append(text)
        return rows

    def is_bold(self, name: str) -> bool:
        font = self._entries[name].button.cget("font")
        return bool(font is self._fonts[1])

    def click(self, name: str) -> None:
        """As if `name` were clicked (for keyboard users and tests)."""
        self._entries[name].button.invoke()

    def entry_widget(self, name: str) -> tkinter.Misc:
        return self._entries[name]
