"""What the server sent, as the user reads it: chat lines and server notices."""

from __future__ import annotations

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.lines import chat_line, server_notice


def _delivered(sender: str, text: str, target: str | None = None) -> p.Delivered:
    return p.Delivered(
        id=7, timestamp_ms=1000, sender=sender, target=target, text=text, ref=0
    )


def test_a_line_from_someone_else_that_names_us_stands_out():
    line = chat_line(_delivered("bob", "hi @Ann"), me="ann", conversation="#lobby")
    assert (line.is_own, line.mentions_me, line.is_direct) == (False, True, False)
    assert (line.id, line.sender, line.conversation) == (7, "bob", "#lobby")
    assert not line.recalled


@pytest.mark.parametrize(
    ("sender", "own"), [("ANN", False), ("ann-bot", True)], ids=["by-nick", "by-ref"]
)
def test_our_own_lines_never_mention_us(sender, own):
    message = _delivered(sender, "ann says ann")
    line = chat_line(message, me="ann", conversation="#lobby", own=own)
    assert line.is_own
    assert not line.mentions_me


def test_an_action_loses_its_prefix_and_a_direct_line_is_marked():
    message = _delivered("bob", "/me waves", target="ann")
    line = chat_line(message, me="ann", conversation="bob")
    assert (line.action, line.text, line.is_direct) == (True, "waves", True)
    room = chat_line(_delivered("bob", "hi", "#tea"), me="ann", conversation="#tea")
    assert not room.is_direct


def test_a_recalled_line_says_so():
    message = p.Recalled(
        ref=1, id=3, timestamp_ms=5, sender="bob", target=None, text="old"
    )
    assert chat_line(message, me="ann", conversation="#lobby").recalled


@pytest.mark.parametrize(
    ("event", "text", "level"),
    [
        (
            p.Bye(reason=""),
            "closed the connection: no reason given",
            ev.NoticeLevel.INFO,
        ),
        (
            p.Bye(reason="restart"),
            "closed the connection: restart",
            ev.NoticeLevel.INFO,
        ),
        (
            p.Rejected(code=p.ErrorCode.INVALID_FIELD, reason="odd", message_type=3),
            "ignored a message from the server: odd",
            ev.NoticeLevel.ERROR,
        ),
        (
            p.Pong(payload=b""),
            "unexpected message from the server: Pong",
            ev.NoticeLevel.ERROR,
        ),
    ],
)
def test_server_frames_with_words_become_notices(event, text, level):
    notice = server_notice(event)
    assert text in notice.text
    assert notice.level is level
