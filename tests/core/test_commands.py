from __future__ import annotations

import pytest

from clients.core import commands as c


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello", c.Say("hello")),
        ("  hello  ", c.Say("  hello")),
        ("hello\n", c.Say("hello")),
        ("two\nlines", c.Say("two\nlines")),
        ("@bob hi there", c.Whisper("bob", "hi there")),
        ("@bob   spaced  ", c.Whisper("bob", "spaced")),
        ("@Zoë ça va", c.Whisper("Zoë", "ça va")),
        ("@Zoe\u0308 hi", c.Whisper("Zoë", "hi")),
        ("/msg bob hi", c.Whisper("bob", "hi")),
        ("/MSG bob hi", c.Whisper("bob", "hi")),
        ("/w bob hi", c.Whisper("bob", "hi")),
        ("/help", c.ShowHelp()),
        ("/help   ", c.ShowHelp()),
        ("/users", c.ListWho()),
        ("/who", c.ListWho()),
        ("/clear", c.ClearWindow()),
        ("/nick anna", c.ChangeNickTo("anna")),
        ("/nick   anna  ", c.ChangeNickTo("anna")),
        ("/quit", c.Quit("")),
        ("/quit see you", c.Quit("see you")),
        ("/exit", c.Quit("")),
        ("//slash", c.Say("/slash")),
        ("email@example.com", c.Say("email@example.com")),
    ],
)
def test_parses(line, command):
    assert c.parse_command(line) == command


@pytest.mark.parametrize("line", ["", "   ", "\n", "\t "])
def test_blank_lines_do_nothing(line):
    assert c.parse_command(line) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/", "type a command"),
        ("/bogus", "unknown command /bogus"),
        ("@", "who to?"),
        ("@ hi", "who to?"),
        ("@bob", "nothing to send to bob"),
        ("@bob    ", "nothing to send to bob"),
        ("/msg", "usage: /msg"),
        ("/msg bob", "nothing to send to bob"),
        ("/msg b!b hi", "not a valid nickname"),
        ("@b/b hi", "not a valid nickname"),
        ("/nick", "usage: /nick"),
        ("/nick two words", "cannot contain spaces"),
        ("/nick " + "x" * 33, "at most 32"),
    ],
)
def test_mistakes_say_what_to_type(line, message):
    with pytest.raises(c.CommandError, match=message):
        c.parse_command(line)


def test_help_is_generated_from_the_table():
    text = "\n".join(c.help_lines())
    for spec in c.COMMANDS:
        assert spec.usage in text
        assert spec.summary in text
    assert "@nick <text>" in text


def test_every_command_and_alias_parses():
    for name in c.command_names():
        arg = (
            " bob hi"
            if name in ("/msg", "/w", "/tell")
            else " bob"
            if name == "/nick"
            else ""
        )
        assert c.parse_command(name + arg) is not None


def test_validate_nick_uses_the_server_rules():
    assert c.validate_nick("  ann ") == "ann"
    with pytest.raises(c.CommandError, match="spaces"):
        c.validate_nick("a b")
    with pytest.raises(c.CommandError, match="empty"):
        c.validate_nick("")
