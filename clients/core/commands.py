"""What a typed line means: `parse_command` and the one table of commands.

Both UIs hand every line they get to the session, which calls this; no UI
ever looks at a leading `/` or `@`. `/help` is generated from `COMMANDS`, so
the help can never drift from what exists.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from protocol import (
    MAX_HISTORY_PAGE,
    MAX_QUERY_CHARS,
    MAX_TOPIC_CHARS,
    InvalidNick,
    InvalidRoom,
    ModerationAction,
    RoomActionKind,
    normalize_nick,
    normalize_room,
)
from protocol.constants import MAX_REASON_CHARS


@attrs.frozen
class Say:
    """Send `text` to everyone."""

    text: str


@attrs.frozen
class Whisper:
    """Send `text` to `nick` only."""

    nick: str
    text: str


@attrs.frozen
class ShowHelp:
    pass


@attrs.frozen
class ListWho:
    pass


@attrs.frozen
class ClearWindow:
    pass


@attrs.frozen
class ChangeNickTo:
    nick: str


@attrs.frozen
class Quit:
    reason: str


@attrs.frozen
class Reconnect:
    pass


@attrs.frozen
class RegisterNick:
    """Make my nick an account (the password is asked for, never typed here)."""

    invite: str | None


@attrs.frozen
class ChangeMyPassword:
    pass


@attrs.frozen
class LogIn:
    pass


@attrs.frozen
class LogOut:
    everywhere: bool


@attrs.frozen
class Moderation:
    """An admin's request (spec 12.3)."""

    action: ModerationAction
    target: str
    reason: str = ""
    minutes: int = 0


@attrs.frozen
class LoadEarlier:
    """Show `count` older lines of the stored history."""

    count: int


@attrs.frozen
class SearchFor:
    """Search the stored history for lines holding every word."""

    words: str


@attrs.frozen
class EnterRoom:
    """/join: join (or create) a room."""

    room: str


@attrs.frozen
class LeaveRoom:
    """/part: leave a room for good (None: the active one)."""

    room: str | None
    reason: str


@attrs.frozen
class ShowRooms:
    """/rooms: list the rooms there are."""


@attrs.frozen
class SetTopic:
    """/topic: set the active room's topic ("" shows it instead)."""

    text: str


@attrs.frozen
class ShowMembers:
    """/members: who is in the active conversation."""


@attrs.frozen
class RoomModeration:
    """An operator's request in the active room: invite, operator,
    deoperator, invite-only or open (kick, ban and unban are `Moderation`,
    which the session sends to the room when one is active)."""

    action: RoomActionKind
    target: str = ""


@attrs.frozen
class Emote:
    """/me: an action ("* ann waves") in the active conversation."""

    text: str


@attrs.frozen
class GoAway:
    """/away: mark me away ("" gives a default reason)."""

    reason: str


@attrs.frozen
class ComeBack:
    """/back: no longer away."""


@attrs.frozen
class CloseConversation:
    """/close: hide the active conversation until a line arrives in it."""


@attrs.frozen
class OpenDirect:
    """/query: open (and go to) a direct conversation, sending `text` if any."""

    nick: str
    text: str = ""


@attrs.frozen
class ChangeSetting:
    """/set: list the settings (`key` None), show one (`value` None) or
    change one."""

    key: str | None = None
    value: str | None = None


DEFAULT_HISTORY_LINES = 100
"""What /history shows without a count."""
ME_PREFIX = "/me "
"""How an action travels: as text starting with this (a display convention)."""


Command = (
    Say
    | Whisper
    | ShowHelp
    | ListWho
    | ClearWindow
    | ChangeNickTo
    | Quit
    | Reconnect
    | RegisterNick
    | ChangeMyPassword
    | LogIn
    | LogOut
    | Moderation
    | LoadEarlier
    | SearchFor
    | EnterRoom
    | LeaveRoom
    | ShowRooms
    | SetTopic
    | ShowMembers
    | RoomModeration
    | Emote
    | GoAway
    | ComeBack
    | CloseConversation
    | OpenDirect
    | ChangeSetting
)


class CommandError(ValueError):
    """The line cannot be acted on; the message tells the user what to type."""


@attrs.frozen
class CommandSpec:
    """One row of the command table."""

    name: str
    usage: str
    summary: str
    parse: Callable[[str], Command]
    aliases: tuple[str, ...] = ()


def _no_args(command: Command) -> Callable[[str], Command]:
    def parse(_rest: str) -> Command:
        return command

    return parse


def validate_nick(raw: str) -> str:
    """Check a nickname by the server's rules before asking for it.

    Returns:
        The nickname in the form the server will use (NFC).

    Raises:
        CommandError: saying what is wrong with it.
    """
    try:
        return normalize_nick(raw.strip())
    except InvalidNick as exc:
        raise CommandError(str(exc)) from exc


def _nick_arg(raw: str, usage: str) -> str:
    if not raw:
        raise CommandError(f"usage: {usage}")
    try:
        return normalize_nick(raw)
    except InvalidNick as exc:
        raise CommandError(f"{raw!r} is not a valid nickname: {exc}") from exc


def _first_word(text: str) -> tuple[str, str]:
    """Split off the first word at any whitespace, a line break included."""
    word, *rest = text.split(None, 1)
    return word, rest[0] if rest else ""


def _parse_msg(rest: str) -> Command:
    nick, text = _first_word(rest) if rest.strip() else ("", "")
    usage = "/msg <nick> <text>"
    target = _nick_arg(nick, usage)
    if not text.strip():
        raise CommandError(f"nothing to send to {target}; usage: {usage}")
    return Whisper(target, text.strip())


def _parse_nick(rest: str) -> Command:
    if len(rest.split()) > 1:
        raise CommandError("a nickname cannot contain spaces; usage: /nick <name>")
    return ChangeNickTo(_nick_arg(rest, "/nick <name>"))


def _parse_register(rest: str) -> Command:
    words = rest.split()
    if len(words) > 1:
        raise CommandError("usage: /register [invite-code]; the password is asked for")
    return RegisterNick(words[0] if words else None)


def _parse_logout(rest: str) -> Command:
    if rest.strip() not in ("", "all"):
        raise CommandError("usage: /logout [all]")
    return LogOut(everywhere=rest.strip() == "all")


def _parse_kick(rest: str) -> Command:
    nick, reason = _first_word(rest) if rest.strip() else ("", "")
    return Moderation(
        ModerationAction.KICK, _nick_arg(nick, "/kick <nick> [reason]"), reason
    )


def _parse_ban(rest: str) -> Command:
    usage = "/ban <nick or address> [minutes] [reason]"
    target, more = _first_word(rest) if rest.strip() else ("", "")
    if not target:
        raise CommandError(f"usage: {usage}")
    minutes_text, reason = _first_word(more) if more.strip() else ("", "")
    if minutes_text.isdigit():
        return Moderation(ModerationAction.BAN, target, reason, int(minutes_text))
    return Moderation(ModerationAction.BAN, target, more.strip())


def _parse_unban(rest: str) -> Command:
    if len(rest.split()) != 1:
        raise CommandError("usage: /unban <account or address>")
    return Moderation(ModerationAction.UNBAN, rest.strip())


def _parse_invite_code(rest: str) -> Command:
    text = rest.strip()
    if text and not text.isdigit():
        raise CommandError("usage: /invite-code [days it stays valid]")
    return Moderation(ModerationAction.INVITE, "", minutes=int(text or 0) * 24 * 60)


def _parse_promote(rest: str) -> Command:
    return Moderation(
        ModerationAction.PROMOTE, _nick_arg(rest.strip(), "/promote <nick>")
    )


def _parse_history(rest: str) -> Command:
    text = rest.strip()
    usage = f"usage: /history [N], N from 1 to {MAX_HISTORY_PAGE}"
    if not text:
        return LoadEarlier(DEFAULT_HISTORY_LINES)
    if not text.isdigit() or not 1 <= int(text) <= MAX_HISTORY_PAGE:
        raise CommandError(usage)
    return LoadEarlier(int(text))


def _parse_search(rest: str) -> Command:
    words = " ".join(rest.split())
    if not words:
        raise CommandError("what to search for? usage: /search <words>")
    if len(words) > MAX_QUERY_CHARS:
        raise CommandError(f"a search has at most {MAX_QUERY_CHARS} characters")
    return SearchFor(words)


def _room_arg(raw: str, usage: str) -> str:
    """A room name; `rust` is taken as `#rust`."""
    if not raw:
        raise CommandError(f"usage: {usage}")
    name = raw if raw.startswith("#") else "#" + raw
    try:
        return normalize_room(name)
    except InvalidRoom as exc:
        raise CommandError(f"{raw!r} is not a valid room name: {exc}") from exc


def _parse_join(rest: str) -> Command:
    words = rest.split()
    if len(words) != 1:
        raise CommandError("usage: /join #room")
    return EnterRoom(_room_arg(words[0], "/join #room"))


def _reason(text: str) -> str:
    if len(text) > MAX_REASON_CHARS:
        raise CommandError(f"a reason has at most {MAX_REASON_CHARS} characters")
    return text


def _parse_part(rest: str) -> Command:
    if rest.startswith("#"):
        room, reason = _first_word(rest)
        return LeaveRoom(_room_arg(room, "/part [#room] [reason]"), _reason(reason))
    return LeaveRoom(None, _reason(rest))


def _parse_topic(rest: str) -> Command:
    if len(rest) > MAX_TOPIC_CHARS:
        raise CommandError(f"a topic has at most {MAX_TOPIC_CHARS} characters")
    return SetTopic(rest)


def _room_nick_command(action: RoomActionKind, usage: str) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        if len(rest.split()) != 1:
            raise CommandError(f"usage: {usage}")
        return RoomModeration(action, _nick_arg(rest, usage))

    return parse


def _parse_me(rest: str) -> Command:
    if not rest:
        raise CommandError("what do you do? usage: /me <action>, e.g. /me waves")
    return Emote(rest)


def _parse_away(rest: str) -> Command:
    return GoAway(_reason(rest))


def _parse_query(rest: str) -> Command:
    usage = "/query <nick> [text]"
    nick, text = _first_word(rest) if rest.strip() else ("", "")
    return OpenDirect(_nick_arg(nick, usage), text.strip())


def _parse_set(rest: str) -> Command:
    if not rest:
        return ChangeSetting()
    key, value = _first_word(rest)
    return ChangeSetting(key.lower(), value or None)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "/help", "show this list of commands", _no_args(ShowHelp())),
    CommandSpec(
        "users", "/users", "list who is online", _no_args(ListWho()), aliases=("who",)
    ),
    CommandSpec(
        "msg",
        "/msg <nick> <text>",
        "send a private message (same as @nick text)",
        _parse_msg,
        aliases=("w", "tell"),
    ),
    CommandSpec("nick", "/nick <name>", "change your nickname", _parse_nick),
    CommandSpec("me", "/me <action>", "say what you do: * you <action>", _parse_me),
    CommandSpec("join", "/join #room", "join a room (a new one is yours)", _parse_join),
    CommandSpec(
        "part",
        "/part [#room] [reason]",
        "leave a room for good (this one without a name)",
        _parse_part,
        aliases=("leave",),
    ),
    CommandSpec("rooms", "/rooms", "list the rooms", _no_args(ShowRooms())),
    CommandSpec(
        "members",
        "/members",
        "who is in this conversation",
        _no_args(ShowMembers()),
        aliases=("names",),
    ),
    CommandSpec(
        "query",
        "/query <nick> [text]",
        "open a private conversation with someone",
        _parse_query,
    ),
    CommandSpec(
        "close",
        "/close",
        "hide this conversation until someone writes in it",
        _no_args(CloseConversation()),
    ),
    CommandSpec(
        "topic", "/topic [text]", "show or (operators) set the topic", _parse_topic
    ),
    CommandSpec(
        "invite",
        "/invite <nick>",
        "operators: invite someone to this room",
        _room_nick_command(RoomActionKind.INVITE, "/invite <nick>"),
    ),
    CommandSpec(
        "op",
        "/op <nick>",
        "room owners: make someone an operator",
        _room_nick_command(RoomActionKind.OPERATOR, "/op <nick>"),
    ),
    CommandSpec(
        "deop",
        "/deop <nick>",
        "room owners: make an operator a plain member",
        _room_nick_command(RoomActionKind.DEOPERATOR, "/deop <nick>"),
    ),
    CommandSpec(
        "invite-only",
        "/invite-only",
        "operators: only invited people may join this room",
        _no_args(RoomModeration(RoomActionKind.INVITE_ONLY)),
    ),
    CommandSpec(
        "open",
        "/open",
        "operators: anyone may join this room",
        _no_args(RoomModeration(RoomActionKind.OPEN)),
    ),
    CommandSpec("away", "/away [reason]", "tell everyone you are away", _parse_away),
    CommandSpec("back", "/back", "you are no longer away", _no_args(ComeBack())),
    CommandSpec(
        "set",
        "/set [setting] [value]",
        "list the settings, or change one (e.g. /set theme dark)",
        _parse_set,
    ),
    CommandSpec(
        "history",
        "/history [N]",
        f"show N earlier messages (default {DEFAULT_HISTORY_LINES})",
        _parse_history,
    ),
    CommandSpec(
        "search",
        "/search <words>",
        "find stored messages holding every word",
        _parse_search,
    ),
    CommandSpec(
        "clear",
        "/clear",
        "clear this window (nothing is sent)",
        _no_args(ClearWindow()),
    ),
    CommandSpec(
        "reconnect",
        "/reconnect",
        "connect again now (also after an error)",
        _no_args(Reconnect()),
    ),
    CommandSpec(
        "register",
        "/register [invite]",
        "make your nick an account (asks for a password)",
        _parse_register,
    ),
    CommandSpec(
        "login",
        "/login",
        "log in to your nick's account (asks for the password)",
        _no_args(LogIn()),
    ),
    CommandSpec(
        "password",
        "/password",
        "change your account's password",
        _no_args(ChangeMyPassword()),
    ),
    CommandSpec(
        "logout", "/logout [all]", "log out (of every device with 'all')", _parse_logout
    ),
    CommandSpec(
        "kick",
        "/kick <nick> [reason]",
        "in a room, operators: put someone out of it; in #lobby, admins: disconnect someone",
        _parse_kick,
    ),
    CommandSpec(
        "ban",
        "/ban <nick|address> [minutes] [reason]",
        "in a room, operators: keep someone out of it (no minutes); in #lobby, admins: keep someone out",
        _parse_ban,
    ),
    CommandSpec(
        "unban",
        "/unban <nick|account|address>",
        "lift a ban (of this room, or in #lobby the server's)",
        _parse_unban,
    ),
    CommandSpec(
        "invite-code",
        "/invite-code [days]",
        "admins: make an invite code",
        _parse_invite_code,
    ),
    CommandSpec(
        "promote", "/promote <nick>", "admins: make someone an admin", _parse_promote
    ),
    CommandSpec(
        "quit",
        "/quit [reason]",
        "leave the chat",
        lambda rest: Quit(rest.strip()),
        aliases=("exit",),
    ),
)

_BY_NAME = {name: spec for spec in COMMANDS for name in (spec.name, *spec.aliases)}


def help_lines() -> list[str]:
    """The /help text: one line per command, then the two prefixes."""
    width = max(len(spec.usage) for spec in COMMANDS)
    lines = [f"{spec.usage:<{width}}  {spec.summary}" for spec in COMMANDS]
    lines.append(f"{'@nick <text>':<{width}}  send a private message")
    lines.append(f"{'//text':<{width}}  send a line that starts with /")
    return lines


def command_names() -> list[str]:
    """Every command word, with its leading slash, for completion."""
    return sorted(f"/{name}" for name in _BY_NAME)


def parse_command(line: str) -> Command | None:
    """Turn one typed line into a command.

    Returns:
        The command, or None for a blank line (nothing to do).

    Raises:
        CommandError: the line cannot be acted on; says why and what to type.
    """
    text = line.rstrip()
    if not text.strip():
        return None
    if text.startswith("//"):
        return Say(text[1:])
    if text.startswith("/"):
        first, _, more = text.partition("\n")
        name, _, rest = first[1:].partition(" ")
        if not name:
            raise CommandError("type a command after '/', or /help for the list")
        spec = _BY_NAME.get(name.lower())
        if spec is None:
            raise CommandError(f"unknown command /{name}; type /help for the list")
        if more and spec.name != "msg":
            raise CommandError(
                f"/{spec.name} takes one line; to send text that starts with /, type //"
            )
        return spec.parse(f"{rest}\n{more}".strip() if more else rest.strip())
    if text.startswith("@"):
        nick, message = _first_word(text[1:]) if text[1:].strip() else ("", "")
        if not nick or text[1].isspace():
            raise CommandError("who to? usage: @nick <text>")
        target = _nick_arg(nick, "@nick <text>")
        if not message.strip():
            raise CommandError(f"nothing to send to {target}; usage: @{target} <text>")
        return Whisper(target, message.strip())
    return Say(text)
