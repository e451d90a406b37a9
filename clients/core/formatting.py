"""Plain-text renderings of UI events, shared by every front end.

Each UI styles lines by their `LineKind` (colours in Textual, tags in Tk)
but the words come from here, so both clients say the same thing.
"""

from __future__ import annotations

import enum
import hashlib
import re

import attrs

from clients.core import events as ev
from protocol import nick_key


class LineKind(enum.Enum):
    CHAT = "chat"
    OWN = "own"
    DIRECT = "direct"
    MENTION = "mention"
    SYSTEM = "system"
    ERROR = "error"


CONTINUATION = "  \u2506 "
"""Shown before every line of a message after its first (`DisplayLine.more`),
styled apart from the text, so a line break inside someone's message can
never make what follows look like a message of its own."""


@attrs.frozen
class DisplayLine:
    """One entry of the chat log.

    Attributes:
        text: the first line (after the time, if any).
        time: "HH:MM" for chat messages, else empty.
        more: the message's further lines, each to be shown on a row of
            its own after `CONTINUATION` (never merged into `text`).
    """

    kind: LineKind
    text: str
    time: str = ""
    more: tuple[str, ...] = ()


# Control characters (bar newline and tab) could drive the user's terminal
# (escape sequences) and bidirectional overrides can disguise text, so what
# other people wrote is shown with them neutralised.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(char: re.Match[str]) -> str:
    code = ord(char.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture", e.g. ␛
    return "\ufffd"


def address_label(host: str, port: int) -> str:
    """`host:port` as users write it, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def nick_colour(nick: str, palette_size: int) -> int:
    """A colour index in `range(palette_size)` for `nick`, the same in every run
    and on every machine (a hash of `nick_key`, not Python's salted `hash()`),
    so `Bob` and `bob` get the same colour.

    Raises:
        ValueError: `palette_size` is less than 1.
    """
    if palette_size < 1:
        msg = f"a palette needs at least one colour, not {palette_size}"
        raise ValueError(msg)
    digest = hashlib.blake2b(nick_key(nick).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % palette_size


def sanitize(text: str) -> str:
    """`text` with terminal controls and bidi overrides made harmless."""
    return _UNSAFE.sub(_visible, text)


def split_lines(text: str) -> tuple[str, tuple[str, ...]]:
    """Split on every line break Unicode knows (not just "\\n") and sanitize.

    Returns:
        The first line and the rest; a UI shows the rest as continuations.
    """
    first, *rest = text.splitlines() or [""]
    return sanitize(first), tuple(sanitize(line) for line in rest)


def _chat(line: ev.ChatLine, timestamps: str = "%H:%M") -> DisplayLine:
    stamp = line.time.strftime(timestamps) if timestamps else ""
    body, more = split_lines(line.text)
    if line.action:
        kind = LineKind.OWN if line.is_own else LineKind.CHAT
        if line.is_direct:
            kind = LineKind.DIRECT
        elif line.mentions_me:
            kind = LineKind.MENTION
        return DisplayLine(kind, f"* {line.sender} {body}", stamp, more)
    if line.is_direct:
        if line.is_own:
            text = f"you → {line.target} (private): {body}"
        else:
            text = f"{line.sender} → you (private): {body}"
        return DisplayLine(LineKind.DIRECT, text, stamp, more)
    if line.is_own:
        kind = LineKind.OWN
    elif line.mentions_me:
        kind = LineKind.MENTION
    else:
        kind = LineKind.CHAT
    return DisplayLine(kind, f"<{line.sender}> {body}", stamp, more)


def pending_text(event: ev.Pending) -> tuple[str, tuple[str, ...]]:
    """How a pending line reads in the UIs' "sending…" area (first line, rest)."""
    state = "waiting for the connection" if event.queued else "sending…"
    where = f"to {event.target} " if event.target else ""
    body, more = split_lines(event.text)
    return f"({where}{state}) {body}", more


def _connection(event: ev.ConnectionChanged) -> DisplayLine | None:
    if event.quiet:
        return None  # the status bar shows it
    match event.status:
        case ev.ConnectionStatus.CONNECTING:
            return DisplayLine(LineKind.SYSTEM, f"connecting to {event.server}…")
        case ev.ConnectionStatus.CONNECTED:
            return DisplayLine(
                LineKind.SYSTEM, f"connected to {event.server} as {event.nick}"
            )
        case ev.ConnectionStatus.RECONNECTING:
            if not event.detail:
                return None  # a countdown tick; the status bar shows it
            if event.never_connected:
                text = f"cannot connect to {event.server} ({event.detail}); retrying in {event.retry_in} s"
            else:
                text = f"connection lost ({event.detail}); reconnecting in {event.retry_in} s"
            return DisplayLine(LineKind.ERROR, text)
        case ev.ConnectionStatus.DISCONNECTED:
            first, more = split_lines(f"disconnected: {event.detail or 'closed'}")
            return DisplayLine(LineKind.ERROR, first, more=more)


def describe(event: ev.UiEvent, timestamps: str = "%H:%M") -> DisplayLine | None:  # noqa: PLR0911 - one arm per event
    """The line to add to the chat log for `event`, or None if it adds none.

    Args:
        timestamps: the `strftime` format of a chat line's time (the
            `timestamps` setting); "" leaves it empty.
    """
    match event:
        case ev.ChatLine():
            return _chat(event, timestamps)
        case ev.Notice(text=text, level=level):
            kind = LineKind.ERROR if level is ev.NoticeLevel.ERROR else LineKind.SYSTEM
            first, more = split_lines(text)
            return DisplayLine(kind, first, more=more)
        case ev.Joined(nick=nick):
            return DisplayLine(LineKind.SYSTEM, f"{nick} joined")
        case ev.Left(nick=nick, reason=reason):
            text = f"{nick} left ({reason})" if reason else f"{nick} left"
            return DisplayLine(LineKind.SYSTEM, sanitize(text))
        case ev.Renamed(old=old, new=new, is_me=is_me):
            who = "you are" if is_me else f"{old} is"
            return DisplayLine(LineKind.SYSTEM, f"{who} now known as {new}")
        case ev.UsersListed(nicks=nicks):
            return DisplayLine(
                LineKind.SYSTEM, f"{len(nicks)} online: {', '.join(nicks)}"
            )
        case ev.ConnectionChanged():
            return _connection(event)
        case (
            ev.RosterChanged()
            | ev.ClearRequested()
            | ev.ExitRequested()
            | ev.Pending()
            | ev.PendingDone()
            | ev.PasswordRequest()
            | ev.ConversationsChanged()
            | ev.SettingsChanged()
            | ev.DaySeparator()
            | ev.UnreadMarker()
            | ev.EarlierLines()
            | ev.SearchResults()
            | ev.Context()
        ):
            return None  # drawn by each UI its own way, or not a line
        case ev.TrustQuestion(text=text):
            first, more = split_lines(text)
            return DisplayLine(LineKind.ERROR, first, more=more)


def status_text(event: ev.ConnectionChanged) -> str:
    """A one-line summary for a status bar."""
    match event.status:
        case ev.ConnectionStatus.CONNECTED:
            state = "connected" if event.encrypted else "connected, not encrypted"
        case ev.ConnectionStatus.CONNECTING:
            state = "connecting…"
        case ev.ConnectionStatus.RECONNECTING:
            state = (
                f"reconnecting in {event.retry_in} s"
                if event.retry_in
                else "reconnecting…"
            )
        case ev.ConnectionStatus.DISCONNECTED:
            state = "disconnected"
    return f"{event.server} · {event.nick} · {state}"
