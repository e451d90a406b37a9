"""The nickname rules, shared by the server (which enforces them) and clients
(which check before asking, so users see the same error earlier).

A nickname is 1-32 characters after Unicode NFC normalisation, made of
letters, digits, combining marks (not first) and `_`, `-`, `.`. Nicknames
are compared case-insensitively via `nick_key`.
"""

from __future__ import annotations

import unicodedata

from protocol.constants import MAX_NICK_CHARS, ErrorCode
from protocol.errors import LocalProtocolError

_PUNCTUATION = frozenset("_-.")
_LETTER_OR_DIGIT = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_MARKS = frozenset({"Mn", "Mc"})


class InvalidNick(LocalProtocolError):
    """A nickname breaks the rules; the message says which one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.INVALID_NICK)


def normalize_nick(raw: str) -> str:
    """Return `raw` in its canonical (NFC) form if it is a valid nickname.

    Raises:
        InvalidNick: with a sentence a user can act on.
    """
    nick = unicodedata.normalize("NFC", raw)
    if not nick:
        msg = "a nickname cannot be empty"
        raise InvalidNick(msg)
    if len(nick) > MAX_NICK_CHARS:
        msg = f"a nickname has at most {MAX_NICK_CHARS} characters (this one has {len(nick)})"
        raise InvalidNick(msg)
    for index, char in enumerate(nick):
        category = unicodedata.category(char)
        if char in _PUNCTUATION or category in _LETTER_OR_DIGIT:
            continue
        if category in _MARKS and index > 0:
            continue
        raise InvalidNick(_describe(char))
    return nick


def _describe(char: str) -> str:
    if char.isspace():
        what = "spaces"
    elif char in "@/":
        what = f"'{char}'"
    elif not char.isprintable():
        what = f"invisible or control characters (U+{ord(char):04X})"
    else:
        what = f"'{char}'"
    return f"a nickname cannot contain {what}; use letters, digits, '_', '-' or '.'"


def is_valid_nick(raw: str) -> bool:
    """True if `raw` would be accepted by `normalize_nick`."""
    try:
        normalize_nick(raw)
    except InvalidNick:
        return False
    return True


def nick_key(nick: str) -> str:
    """The case-insensitive identity of a nickname: `Bob` and `bob` collide."""
    return unicodedata.normalize("NFC", nick.casefold())
