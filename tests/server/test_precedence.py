"""`Precedence`: readers stand aside while the recorder publishes quiet
clients' messages, but never for longer than they agreed to."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from server.precedence import Precedence


@pytest.fixture
def holder() -> Iterator[tuple[Precedence, threading.Event, list[str]]]:
    """A thread in urgent work until the event is set; it notes when it ends."""
    precedence = Precedence()
    entered, finish = threading.Event(), threading.Event()
    events: list[str] = []

    def hold() -> None:
        with precedence.urgent():
            entered.set()
            finish.wait(10)
            events.append("urgent work done")

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(10)
    try:
        yield precedence, finish, events
    finally:
        finish.set()
        thread.join(10)


def test_nothing_urgent_costs_no_wait():
    precedence = Precedence()
    assert not precedence.held
    assert precedence.give_way(1.0) == 0.0


def test_a_reader_waits_until_the_urgent_work_is_done(holder):
    precedence, finish, events = holder
    waiter = threading.Thread(
        target=lambda: (precedence.give_way(10.0), events.append("gave way"))
    )
    waiter.start()
    time.sleep(0.05)  # long enough for a waiter that does not wait to say so
    finish.set()
    waiter.join(10)
    assert events == ["urgent work done", "gave way"]


def test_a_reader_waits_no_longer_than_its_patience(holder):
    precedence, _finish, events = holder
    waited = precedence.give_way(0.05)
    assert precedence.held, "the urgent work still runs"
    assert events == []
    assert waited >= 0.04


def test_no_patience_left_means_no_wait(holder):
    precedence, _finish, _events = holder
    assert precedence.give_way(0.0) == 0.0


@pytest.fixture
def worker() -> Iterator[tuple[Precedence, threading.Event, list[str]]]:
    """A thread in a batch of ordinary work until the event is set."""
    precedence = Precedence()
    entered, finish = threading.Event(), threading.Event()
    events: list[str] = []

    def work() -> None:
        with precedence.working():
            entered.set()
            finish.wait(10)
            events.append("batch done")

    thread = threading.Thread(target=work)
    thread.start()
    assert entered.wait(10)
    try:
        yield precedence, finish, events
    finally:
        finish.set()
        thread.join(10)


def test_ordinary_work_is_not_waited_for(worker):
    precedence, _finish, events = worker
    assert not precedence.held
    assert precedence.give_way(1.0) == 0.0
    assert events == []


def test_an_expedited_batch_is_waited_for_until_it_ends(worker):
    precedence, finish, events = worker
    precedence.expedite()
    assert precedence.held
    waiter = threading.Thread(
        target=lambda: (precedence.give_way(10.0), events.append("gave way"))
    )
    waiter.start()
    time.sleep(0.05)  # long enough for a waiter that does not wait to say so
    finish.set()
    waiter.join(10)
    assert events == ["batch done", "gave way"]
    assert not precedence.held, "the next batch is not expedited"


def test_an_expedited_batch_is_waited_for_no_longer_than_patience(worker):
    precedence, _finish, events = worker
    precedence.expedite()
    assert precedence.give_way(0.05) >= 0.04
    assert events == []


def test_expediting_with_no_batch_in_progress_does_nothing():
    precedence = Precedence()
    precedence.expedite()
    assert not precedence.held
    with precedence.working():
        assert not precedence.held, "an earlier call carries no debt"
