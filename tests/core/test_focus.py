"""`Focus` on its own: moving between conversations and typing notices."""

from __future__ import annotations

import itertools

import protocol as p
from clients.core import events as ev
from clients.core.conversations import Conversations
from clients.core.focus import Focus
from clients.core.link import Link
from clients.core.recall import Recall
from clients.core.scrollback import Scrollback

SERVER = "chat.example:9090"
ALL = Link(
    server=SERVER,
    open=True,
    capabilities=frozenset({p.CAP_HISTORY, p.CAP_ROOMS, p.CAP_TYPING}),
)


def _focus() -> tuple[Focus, Conversations]:
    refs = itertools.count(1)
    conversations = Conversations()
    recall = Recall(Scrollback(refs=lambda: next(refs)))
    return Focus(conversations, recall), conversations


def test_an_unknown_conversation_is_refused():
    focus, _ = _focus()
    assert focus.switch("nobody", ALL, 0.0).refusal == "there is no conversation nobody"


def test_opening_a_conversation_asks_for_its_first_page_once():
    focus, conversations = _focus()
    conversations.open_direct("bob")
    (page,) = focus.switch("bob", ALL, 0.0).send
    assert isinstance(page, p.FetchHistory)
    assert page.conversation == "bob"
    focus.switch("#lobby", ALL, 0.0)
    assert focus.switch("bob", ALL, 10.0).send == ()


def test_without_history_or_typing_a_switch_says_nothing_to_the_server():
    focus, conversations = _focus()
    conversations.open_direct("bob")
    bare = Link(server=SERVER, open=True)
    (typing,) = focus.typed("hel", ALL, 0.0)
    assert isinstance(typing, p.Typing)
    assert focus.typed("hello", bare, 1.0) == ()
    assert focus.switch("bob", bare, 5.0).send == ()


def test_leaving_a_conversation_while_typing_stops_the_notice_there():
    focus, conversations = _focus()
    conversations.open_direct("bob")
    (typing,) = focus.typed("hel", ALL, 0.0)
    assert typing == p.Typing(conversation="#lobby", active=True)
    stop, _page = focus.switch("bob", ALL, 5.0).send
    assert stop == p.Typing(conversation="#lobby", active=False)


def test_a_line_sent_ends_the_typing_without_a_stop():
    focus, conversations = _focus()
    conversations.open_direct("bob")
    focus.typed("hel", ALL, 0.0)
    focus.sent("#lobby")
    (page,) = focus.switch("bob", ALL, 5.0).send
    assert isinstance(page, p.FetchHistory)


def test_typing_notices_are_paced_and_the_waiting_one_comes_due():
    focus, _ = _focus()
    assert len(focus.typed("h", ALL, 0.0)) == 1
    assert focus.typed("", ALL, 0.5) == ()  # too soon after the last frame
    assert focus.due(0.6) == ()
    (stop,) = focus.due(2.0)
    assert stop == p.Typing(conversation="#lobby", active=False)


def test_closing_the_active_conversation_stops_typing_and_returns_to_the_lobby():
    focus, conversations = _focus()
    conversations.open_direct("bob")
    focus.switch("bob", ALL, 0.0)
    focus.typed("hi", ALL, 2.0)
    moved = focus.close(None, ALL, 5.0)
    assert moved.refusal is None
    assert moved.events == ()
    assert moved.send == (p.Typing(conversation="bob", active=False),)
    assert conversations.active == "#lobby"


def test_a_closed_room_is_only_hidden_and_the_lobby_cannot_be_closed():
    focus, conversations = _focus()
    conversations.joined_room("#tea", topic="", invite_only=False, role=0)
    (notice,) = focus.close("#TEA", ALL, 0.0).events
    assert isinstance(notice, ev.Notice)
    assert "/part #tea" in notice.text
    assert focus.close(None, ALL, 0.0).refusal == "#lobby cannot be closed"


def test_after_a_lost_connection_nobody_was_told_anything():
    focus, conversations = _focus()
    conversations.open_direct("bob")
    focus.typed("hi", ALL, 0.0)
    focus.connection_lost()
    (page,) = focus.switch("bob", ALL, 5.0).send  # no stop for #lobby
    assert isinstance(page, p.FetchHistory)
