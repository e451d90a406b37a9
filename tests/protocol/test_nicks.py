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


@pytest.mark.parametrize(
    ("nick", "look_alike"),
    [
        ("bob", "b\u043eb"),  # Cyrillic o in the middle
        ("bob", "b0b"),  # zero for o
        ("paypal", "paypa1"),  # one for l
        ("ann", "ANN"),
        ("Straße", "STRASSE"),
        ("m", "rn"),
    ],
)
def test_look_alike_nicks_share_one_key(nick, look_alike):
    assert p.nick_key(nick) == p.nick_key(look_alike)


def test_different_nicks_keep_different_keys():
    keys = {p.nick_key(n) for n in ("ann", "bob", "carol", "дима", "日本", "ann_1")}
    assert len(keys) == 6


@pytest.mark.parametrize("nick", ["b\u043eb", "p\u0430ypal", "\u03a9mega", "a\u0431"])
def test_mixed_script_nicks_are_refused(nick):
    with pytest.raises(p.InvalidNick, match="cannot mix scripts"):
        p.normalize_nick(nick)


@pytest.mark.parametrize(
    "nick", ["дима", "ñandú", "日本ひらがな", "한국漢字", "zoe_2", "Ωμέγα"]
)
def test_single_script_nicks_are_fine(nick):
    assert p.normalize_nick(nick)


def test_skeleton_follows_uts39():
    # NFD, map, NFD: a precomposed é keeps its accent as a combining mark.
    assert p.skeleton("\u00e9") == "e\u0301"
    assert p.skeleton("\u0430") == "a"  # Cyrillic a → Latin a
