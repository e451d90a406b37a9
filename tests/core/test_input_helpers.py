from __future__ import annotations

import pytest

from clients.core.completion import Completer, candidates
from clients.core.history import InputHistory

NICKS = ["ann", "Anna", "bob", "Zoë"]


def test_candidates_are_case_insensitive_and_sorted():
    assert candidates("an", NICKS) == ["ann", "Anna"]
    assert candidates("ZO", NICKS) == ["Zoë"]
    assert candidates("x", NICKS) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bo", "bob: "),
        ("hi @bo", "hi @bob "),
        ("@bo", "@bob "),
        ("hi bo", "hi bob "),
        ("zo", "Zoë: "),
        ("xyz", "xyz"),
        ("", ""),
        ("hi ", "hi "),
        ("/he", "/help "),
    ],
)
def test_completes_the_last_word(line, expected):
    assert Completer().complete(line, NICKS, ["/help", "/users"]) == expected


def test_tab_again_cycles():
    completer = Completer()
    first = completer.complete("hey @an", NICKS)
    assert first == "hey @ann "
    second = completer.complete(first, NICKS)
    assert second == "hey @Anna "
    assert completer.complete(second, NICKS) == "hey @ann "


def test_history_walks_back_and_forth_keeping_the_draft():
    history = InputHistory()
    for line in ("one", "two", "two", "three"):
        history.add(line)
    assert history.older("draft") == "three"
    assert history.older("three") == "two"
    assert history.older("two") == "one"
    assert history.older("one") is None
    assert history.newer() == "two"
    assert history.newer() == "three"
    assert history.newer() == "draft"
    assert history.newer() is None


def test_history_is_bounded_and_skips_blanks():
    history = InputHistory(limit=3)
    for line in ("a", " ", "b", "c", "d"):
        history.add(line)
    assert [
        history.older(""),
        history.older(""),
        history.older(""),
        history.older(""),
    ] == ["d", "c", "b", None]
