"""What the server sent, as the user reads it.

A delivered or recalled message becomes a `ChatLine` (own or not, direct,
an action for `/me`, whether it names us); the server's own frames that
carry words (Bye, Rejected, one we do not know) become notices. Pure
functions: which conversation a line belongs to is given by the caller.
"""

from __future__ import annotations

import re

from clients.core import events as ev
from clients.core.commands import ME_PREFIX
from protocol import Bye, Delivered, Event, Recalled, Rejected, is_room, nick_key


def chat_line(
    message: Delivered | Recalled, *, me: str, conversation: str, own: bool = False
) -> ev.ChatLine:
    """`message` as a line of `conversation`.

    Args:
        me: our nick (a line from it is ours; mentions of it stand out).
        own: the line is ours whatever its sender says (our confirmed line).
    """
    is_own = own or nick_key(message.sender) == nick_key(me)
    text = message.text
    action = text.startswith(ME_PREFIX)
    if action:
        text = text.removeprefix(ME_PREFIX)
    return ev.ChatLine(
        id=message.id,
        timestamp_ms=message.timestamp_ms,
        sender=message.sender,
        target=message.target,
        text=text,
        is_own=is_own,
        is_direct=message.target is not None and not is_room(message.target),
        mentions_me=not is_own and mentions(text, me),
        recalled=isinstance(message, Recalled),
        conversation=conversation,
        action=action,
    )


def mentions(text: str, nick: str) -> bool:
    """True if `text` names `nick` as a word (with or without `@`), any case."""
    pattern = rf"(?<![\w@]){re.escape(nick)}(?![\w])|@{re.escape(nick)}(?![\w])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def server_notice(event: Event) -> ev.Notice:
    """The notice for a server frame that only has words for the user:
    its goodbye, a message it ignored, or one this client does not know."""
    match event:
        case Bye(reason=reason):
            return ev.Notice(
                f"the server closed the connection: {reason or 'no reason given'}"
            )
        case Rejected(reason=reason):
            return ev.Notice(
                f"ignored a message from the server: {reason}", ev.NoticeLevel.ERROR
            )
        case _:
            return ev.Notice(
                f"unexpected message from the server: {type(event).__name__}",
                ev.NoticeLevel.ERROR,
            )
