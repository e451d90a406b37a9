from __future__ import annotations

import pytest

import protocol as p
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


_ARGUMENTS = {
    "/msg": " bob hi",
    "/w": " bob hi",
    "/tell": " bob hi",
    "/nick": " bob",
    "/kick": " bob",
    "/ban": " bob",
    "/unban": " bob",
    "/promote": " bob",
    "/search": " lunch",
    "/join": " #rust",
    "/me": " waves",
    "/invite": " bob",
    "/op": " bob",
    "/deop": " bob",
    "/query": " bob",
}


def test_every_command_and_alias_parses():
    for name in c.command_names():
        assert c.parse_command(name + _ARGUMENTS.get(name, "")) is not None


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/register", c.RegisterNick(None)),
        ("/register K7XQ", c.RegisterNick("K7XQ")),
        ("/logout", c.LogOut(everywhere=False)),
        ("/logout all", c.LogOut(everywhere=True)),
        (
            "/kick bob being rude",
            c.Moderation(p.ModerationAction.KICK, "bob", "being rude"),
        ),
        ("/ban bob 60 spam", c.Moderation(p.ModerationAction.BAN, "bob", "spam", 60)),
        (
            "/ban 10.0.0.7 flood",
            c.Moderation(p.ModerationAction.BAN, "10.0.0.7", "flood"),
        ),
        ("/unban bob", c.Moderation(p.ModerationAction.UNBAN, "bob")),
        (
            "/invite-code 3",
            c.Moderation(p.ModerationAction.INVITE, "", minutes=3 * 24 * 60),
        ),
        ("/promote bob", c.Moderation(p.ModerationAction.PROMOTE, "bob")),
        ("/reconnect", c.Reconnect()),
        ("/msg bob line one\nline two", c.Whisper("bob", "line one\nline two")),
        ("@bob line one\nline two", c.Whisper("bob", "line one\nline two")),
        ("plain\ntext", c.Say("plain\ntext")),
    ],
)
def test_account_and_multi_line_commands(line, command):
    assert c.parse_command(line) == command


@pytest.mark.parametrize(
    "line", ["/register a b", "/logout now", "/invite-code soon", "/help\nmore", "/ban"]
)
def test_account_command_mistakes_say_how(line):
    with pytest.raises(c.CommandError, match=r"usage|one line"):
        c.parse_command(line)


def test_validate_nick_uses_the_server_rules():
    assert c.validate_nick("  ann ") == "ann"
    with pytest.raises(c.CommandError, match="spaces"):
        c.validate_nick("a b")
    with pytest.raises(c.CommandError, match="empty"):
        c.validate_nick("")
