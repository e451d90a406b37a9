from __future__ import annotations

import pytest

import protocol as p


@pytest.mark.parametrize(
    "nick",
    ["ann", "Ann_1", "a.b-c", "Zoë", "日本語", "x" * 32, "δ9", "नमस्ते"],
)
def test_valid_nicks(nick):
    assert p.normalize_nick(nick) == nick


@pytest.mark.parametrize(
    ("nick", "why"),
    [
        ("", "empty"),
        ("x" * 33, "at most 32"),
        ("a b", "spaces"),
        ("@ann", "'@'"),
        ("a/b", "'/'"),
        ("a\u200bb", "invisible"),
        ("a\x07", "invisible or control"),
        ("\u0301a", "cannot contain"),
        ("a!", "'!'"),
    ],
)
def test_invalid_nicks_say_why(nick, why):
    with pytest.raises(p.InvalidNick, match=why) as info:
        p.normalize_nick(nick)
    assert info.value.error_code is p.ErrorCode.INVALID_NICK


def test_normalises_to_nfc():
    decomposed = "Zoe\u0308"
    assert p.normalize_nick(decomposed) == "Zoë"
    assert len(p.normalize_nick("e\u0301" * 32)) == 32


def test_nick_key_is_case_insensitive():
    assert p.nick_key("Bob") == p.nick_key("bOB")
    assert p.nick_key("Straße") == p.nick_key("STRASSE")
    assert p.is_valid_nick("bob")
    assert not p.is_valid_nick("b b")
