from __future__ import annotations

from typing import Any

import pytest

from clients.core import events as ev
from clients.core.formatting import (
    DisplayLine,
    LineKind,
    address_label,
    describe,
    sanitize,
    status_text,
)


def _line(**overrides: Any) -> ev.ChatLine:
    fields: dict[str, Any] = {
        "id": 1, "timestamp_ms": 0, "sender": "bob", "target": None, "text": "hi",
        "is_own": False, "is_direct": False, "mentions_me": False,
    }  # fmt: skip
    fields.update(overrides)
    return ev.ChatLine(**fields)


@pytest.mark.parametrize(
    ("overrides", "kind", "text"),
    [
        ({}, LineKind.CHAT, "<bob> hi"),
        ({"is_own": True, "sender": "ann"}, LineKind.OWN, "<ann> hi"),
        ({"mentions_me": True}, LineKind.MENTION, "<bob> hi"),
        (
            {"is_direct": True, "target": "ann"},
            LineKind.DIRECT,
            "bob → you (private): hi",
        ),
        (
            {"is_direct": True, "is_own": True, "target": "cat"},
            LineKind.DIRECT,
            "you → cat (private): hi",
        ),
    ],
)
def test_chat_lines(overrides, kind, text):
    line = describe(_line(**overrides))
    assert line is not None
    assert (line.kind, line.text) == (kind, text)
    assert len(line.time) == 5


def test_escape_sequences_and_bidi_overrides_are_neutralised():
    line = describe(_line(text="\x1b[2Jgotcha\u202eevil\x07"))
    assert line is not None
    assert "\x1b" not in line.text
    assert "\u202e" not in line.text
    assert "␛[2Jgotcha\ufffdevil␇" in line.text
    assert sanitize("two\nlines\tok") == "two\nlines\tok"


def test_status_text():
    event = ev.ConnectionChanged(
        status=ev.ConnectionStatus.RECONNECTING, server="h:1", nick="ann", retry_in=3
    )
    assert status_text(event) == "h:1 · ann · reconnecting in 3 s"
    assert describe(event) is None  # a countdown tick adds no line


def test_address_label_brackets_ipv6():
    assert address_label("127.0.0.1", 9090) == "127.0.0.1:9090"
    assert address_label("::1", 9090) == "[::1]:9090"


@pytest.mark.parametrize(
    ("overrides", "kind", "text"),
    [
        ({"action": True, "text": "waves"}, LineKind.CHAT, "* bob waves"),
        ({"action": True, "is_own": True, "sender": "ann"}, LineKind.OWN, "* ann hi"),
        ({"action": True, "mentions_me": True}, LineKind.MENTION, "* bob hi"),
        (
            {"action": True, "is_direct": True, "target": "ann"},
            LineKind.DIRECT,
            "* bob hi",
        ),
    ],
)
def test_me_lines_read_as_actions(overrides, kind, text):
    line = describe(_line(**overrides))
    assert line is not None
    assert (line.kind, line.text) == (kind, text)


def test_the_time_follows_the_timestamps_setting():
    line = _line(timestamp_ms=1_772_366_400_000)
    assert describe(line, "") == DisplayLine(LineKind.CHAT, "<bob> hi", "")
    shown = describe(line, "%H:%M:%S")
    assert shown is not None
    assert len(shown.time) == 8
    assert describe(ev.ConversationsChanged(conversations=(), active="#lobby")) is None
    assert (
        describe(ev.SettingsChanged(theme="dark", timestamps="", notifications=True))
        is None
    )
