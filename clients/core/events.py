"""What the session tells a user interface: one frozen attrs class per event.

A UI renders these and nothing else; it never looks at protocol messages.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs


class ConnectionStatus(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


class NoticeLevel(enum.Enum):
    INFO = "info"
    ERROR = "error"


@attrs.frozen(kw_only=True)
class ChatLine:
    """A chat message the server delivered (ours included, as confirmation).

    Attributes:
        target: None for a message to everyone, else the DM recipient's nick.
        is_own: we sent it.
        is_direct: a private message (to or from us).
        mentions_me: someone else's message that names us.
        recalled: it comes from the server's stored history (missed while
            away, or an earlier page), not live: no bell, no notification.
        conversation: where it belongs: `#lobby`, a room (`#rust`), or the
            other nick of a direct conversation.
        action: a `/me` message: show "* sender text" (`text` is without
            the `/me `).
    """

    id: int
    timestamp_ms: int
    sender: str
    target: str | None
    text: str
    is_own: bool
    is_direct: bool
    mentions_me: bool
    recalled: bool = False
    conversation: str = "#lobby"
    action: bool = False

    @property
    def time(self) -> datetime:
        """The server's timestamp, in local time."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000).astimezone()


@attrs.frozen
class DaySeparator:
    """The next line is from a new local day: draw a separator with `label`."""

    day: date
    conversation: str = "#lobby"

    @property
    def label(self) -> str:
        """E.g. "Monday 30 November 2026"."""
        return f"{self.day:%A} {self.day.day} {self.day:%B %Y}"


@attrs.frozen
class UnreadMarker:
    """The lines after this one are new since the user last looked:
    draw a "new messages" rule. At most one is live per conversation; a new
    one replaces the old."""

    conversation: str = "#lobby"


@attrs.frozen(kw_only=True)
class EarlierLines:
    """An older page of the log (/history, or scrolling up at the top):
    put `items` (oldest first) above everything shown so far.

    `more` is False once the start of the stored history is reached; the UI
    may say so and stop asking.
    """

    items: tuple[ChatLine | DaySeparator, ...]
    more: bool
    conversation: str = "#lobby"


@attrs.frozen(kw_only=True)
class SearchResults:
    """The answer to a search: matching lines, oldest first; `more` when
    older matches exist beyond them. Each can be opened in context with
    `ChatClient.show_context(line.id)`."""

    query: str
    lines: tuple[ChatLine, ...]
    more: bool


@attrs.frozen(kw_only=True)
class Context:
    """The lines around `focus_id` (a search result), oldest first."""

    focus_id: int
    items: tuple[ChatLine | DaySeparator, ...]


@attrs.frozen(kw_only=True)
class Pending:
    """A line the user sent that the server has not confirmed yet.

    Shown apart from the chat log (which holds only what the server
    delivered, in its order) until a `PendingDone` with the same
    `local_id` arrives. The same `local_id` may come again with `queued`
    changed, as the line moves from waiting for the connection to in flight.

    Attributes:
        local_id: identifies the line for its later `Pending`/`PendingDone`.
        queued: True while it waits for the connection (or for the
            server's rate limit); False once sent and awaiting confirmation.
    """

    local_id: int
    text: str
    target: str | None
    queued: bool


@attrs.frozen(kw_only=True)
class PendingDone:
    """The line `local_id` is no longer pending.

    `delivered` is True when the server confirmed it (its `ChatLine` is in
    the log) and False when it was given up (a `Notice` says why).
    """

    local_id: int
    delivered: bool


@attrs.frozen
class Notice:
    """Something to tell the user that is not a chat message."""

    text: str
    level: NoticeLevel = NoticeLevel.INFO
    conversation: str | None = None
    """Where to show it (a room event in its room); None: wherever the user is."""


@attrs.frozen
class Joined:
    nick: str


@attrs.frozen
class Left:
    nick: str
    reason: str


@attrs.frozen
class Renamed:
    old: str
    new: str
    is_me: bool


@attrs.frozen
class UsersListed:
    """The answer to /users."""

    nicks: tuple[str, ...]


@attrs.frozen
class RosterChanged:
    """Who is online now; for a user list panel and nick completion."""

    nicks: tuple[str, ...]


@attrs.frozen(kw_only=True)
class ConnectionChanged:
    """The connection moved on; `retry_in` is set while reconnecting.

    Attributes:
        quiet: for the status bar only; the log has said it already (a
            countdown tick, a retry, the same failure again, a nick change).
        never_connected: the attempt that failed never reached the server.
        encrypted: the connection is TLS (the UIs say "not encrypted" when not).
    """

    status: ConnectionStatus
    server: str
    nick: str
    detail: str = ""
    retry_in: int | None = None
    quiet: bool = False
    never_connected: bool = False
    encrypted: bool = False


@attrs.frozen(kw_only=True)
class TrustQuestion:
    """A server showed a certificate nobody vouches for: ask the user.

    Show `text` (it includes the fingerprint) and pass the answer to
    `ChatClient.answer_trust`; nothing is sent to the server meanwhile.
    """

    text: str
    fingerprint: str


@attrs.frozen(kw_only=True)
class PasswordRequest:
    """Ask the user for a password, masked, never echoed or kept in history.

    With `confirm`, ask for it twice (a new password). Pass the answer to
    `ChatClient.answer_password(id, password, repeat)`, or None if the user
    cancelled.
    """

    id: int
    prompt: str
    confirm: bool


@attrs.frozen
class ClearRequested:
    """/clear: the UI empties its own chat window; nothing is sent."""


@attrs.frozen
class ExitRequested:
    """/quit: the connection is closed; the UI should exit."""

    reason: str


class ConversationKind(enum.Enum):
    LOBBY = "lobby"
    ROOM = "room"
    DIRECT = "direct"


@attrs.frozen(kw_only=True)
class Conversation:
    """One entry of the conversation list.

    Attributes:
        name: `#lobby`, a room's name, or the other nick of a direct one.
        unread: lines arrived since the user last looked at it.
        highlight: among them a mention of the user, or a direct message.
        topic: a room's topic.
        members: who is online in it (the lobby: everyone; direct: the
            other nick if online), sorted.
        typing: who is typing in it now.
        role: the user's role in a room: "owner", "operator" or "".
    """

    name: str
    kind: ConversationKind
    unread: int = 0
    highlight: bool = False
    topic: str = ""
    members: tuple[str, ...] = ()
    typing: tuple[str, ...] = ()
    role: str = ""


@attrs.frozen(kw_only=True)
class ConversationsChanged:
    """The conversation list, whole, in display order, and which is active.

    Sent whenever anything in it changes (a line arrives elsewhere, someone
    joins, types, the user switches). `away` maps away nicks to their reason.
    """

    conversations: tuple[Conversation, ...]
    active: str
    away: tuple[tuple[str, str], ...] = ()


@attrs.frozen(kw_only=True)
class SettingsChanged:
    """The user changed a setting (`/set`, the settings dialog)."""

    theme: str
    timestamps: str
    notifications: bool


UiEvent = (
    ChatLine
    | ConversationsChanged
    | SettingsChanged
    | DaySeparator
    | UnreadMarker
    | EarlierLines
    | SearchResults
    | Context
    | Pending
    | PendingDone
    | Notice
    | Joined
    | Left
    | Renamed
    | UsersListed
    | RosterChanged
    | ConnectionChanged
    | ClearRequested
    | ExitRequested
    | TrustQuestion
    | PasswordRequest
)
