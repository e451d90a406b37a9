"""`Recall` on its own: what may be asked of stored history, and when."""

from __future__ import annotations

import itertools

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.link import Link
from clients.core.recall import Recall
from clients.core.scrollback import Scrollback

SERVER = "chat.example:9090"
HISTORY = frozenset({p.CAP_HISTORY, p.CAP_ROOMS})
ON = Link(server=SERVER, open=True, capabilities=HISTORY)


def _recall() -> tuple[Recall, Scrollback]:
    refs = itertools.count(1)
    scrollback = Scrollback(refs=lambda: next(refs))
    return Recall(scrollback), scrollback


@pytest.mark.parametrize(
    ("connected", "capabilities", "refusal"),
    [
        (False, HISTORY, "cannot search: not connected"),
        (True, frozenset(), f"cannot search: {SERVER} keeps no history"),
    ],
)
def test_history_is_refused_offline_and_where_none_is_kept(
    connected, capabilities, refusal
):
    recall, _ = _recall()
    ask = recall.search(
        "tea", Link(server=SERVER, open=connected, capabilities=capabilities)
    )
    assert ask.refusal == refusal
    assert ask.send == ()


@pytest.mark.parametrize(
    ("words", "problem"),
    [("   ", "what to search for?"), ("x" * (p.MAX_QUERY_CHARS + 1), "at most")],
)
def test_an_empty_or_long_search_is_refused_before_anything_else(words, problem):
    recall, _ = _recall()
    ask = recall.search(words, Link(server=SERVER))
    assert ask.refusal is not None
    assert problem in ask.refusal


def test_a_search_squeezes_its_spaces_into_one_request():
    recall, _ = _recall()
    (search,) = recall.search("  hot   tea ", ON).send
    assert isinstance(search, p.Search)
    assert search.query == "hot tea"


def test_earlier_pages_name_the_conversation_only_where_the_server_has_rooms():
    recall, _ = _recall()
    (page,) = recall.earlier(30, "#tea", ON, asked=False).send
    assert isinstance(page, p.FetchHistory)
    assert page.conversation == "#tea"
    recall, _ = _recall()
    (page,) = recall.earlier(
        30,
        "#tea",
        Link(server=SERVER, open=True, capabilities=frozenset({p.CAP_HISTORY})),
        asked=False,
    ).send
    assert isinstance(page, p.FetchHistory)
    assert page.conversation is None


@pytest.mark.parametrize("asked", [True, False])
def test_a_page_already_on_its_way_is_not_asked_twice(asked):
    recall, _ = _recall()
    recall.earlier(30, "#tea", ON, asked=asked)
    again = recall.earlier(30, "#tea", ON, asked=asked)
    assert again.send == ()
    assert again.refusal is None
    if asked:
        (notice,) = again.events
        assert isinstance(notice, ev.Notice)
        assert "on their way" in notice.text
    else:
        assert again.events == ()


def test_the_context_of_a_line_is_two_requests_and_needs_a_real_id():
    recall, _ = _recall()
    assert recall.context(0, ON).refusal == "there is no message 0"
    before, after = recall.context(42, ON).send
    assert isinstance(before, p.FetchHistory)
    assert isinstance(after, p.FetchHistory)
    assert (before.before, after.after) == (43, 42)


def test_a_first_page_waits_for_the_catch_up_then_goes_if_still_wanted():
    recall, scrollback = _recall()
    catch_up = scrollback.begin()
    assert recall.first_page("#tea", ON) == ()
    answer = recall.ended(p.HistoryEnd(ref=catch_up.ref, count=0), "#tea", ON)
    (page,) = answer.send
    assert isinstance(page, p.FetchHistory)
    assert page.conversation == "#tea"


def test_a_first_page_is_dropped_when_the_user_went_elsewhere():
    recall, scrollback = _recall()
    catch_up = scrollback.begin()
    recall.first_page("#tea", ON)
    answer = recall.ended(p.HistoryEnd(ref=catch_up.ref, count=0), "#lobby", ON)
    assert answer.send == ()
    later = recall.ended(p.HistoryEnd(ref=0, count=0), "#tea", ON)
    assert later.send == ()  # forgotten, not asked later


def test_a_lost_connection_forgets_the_waiting_first_page():
    recall, scrollback = _recall()
    catch_up = scrollback.begin()
    recall.first_page("#tea", ON)
    recall.connection_lost()
    answer = recall.ended(p.HistoryEnd(ref=catch_up.ref, count=0), "#tea", ON)
    assert answer.send == ()


def test_refusals_of_history_requests_retry_or_tell_and_others_are_not_ours():
    recall, _ = _recall()
    (search,) = recall.search("tea", ON).send
    slow = p.Error(ref=search.ref, code=p.ErrorCode.RATE_LIMITED, text="slow")
    answer = recall.refused(slow)
    assert answer is not None
    assert answer.later == search
    no = p.Error(ref=search.ref, code=p.ErrorCode.INVALID_FIELD, text="bad")
    answer = recall.refused(no)
    assert answer is not None
    (notice,) = answer.events
    assert isinstance(notice, ev.Notice)
    assert notice.text.startswith("could not search")
    assert recall.refused(no) is None  # answered once
    assert (
        recall.refused(p.Error(ref=0, code=p.ErrorCode.INVALID_FIELD, text="x")) is None
    )
